"""Knowledge bases: one Chroma collection each, a manifest on disk, ingest / delete / rebuild.

Layout (under the data directory):
    chroma/                         the embedded Chroma directory (unless a server is set)
    kb/<kb>/manifest.json           what was ingested: files, hashes, chunk ids, settings
    kb/<kb>/files/<file id>         the original bytes of every file (never the uploaded name)
    kb.writer.lock                  one writer process at a time (embedded Chroma is not
                                    safe for two writers on one directory)

Chunk ids are `<content hash>-<splitter signature>-<chunk index>`: re-ingesting the same file
adds nothing, an edited file gets new ids and its old chunks are removed once the new ones are
stored. A file is "pending" in the manifest (with the ids it is about to write) before any
chunk is written and "complete" after all are; a writer that finds a pending entry left by a
crash removes exactly those partial chunks, so Chroma never holds chunks the manifest does not
account for, and re-running the ingestion completes the file from its kept original.

This is the one place where the Chroma client is made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.knowledge.documents import (
    DEFAULT_LIMITS,
    ChunkSettings,
    DocumentError,
    FileCheck,
    Limits,
    check_bytes,
    collect_parsed,
    parser_pool,
    safe_display_name,
    split_documents,
)
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

KB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
MANIFEST_VERSION = 1
# Chunks embedded and written per step (also bounded by the store's get_max_batch_size()).
EMBED_BATCH = int(os.environ.get("CROSSROADS_INGEST_BATCH", "256"))
DEMO_KB = "demo"
DEMO_DOCS = Path(__file__).resolve().parents[2] / "demo" / "docs"


class KnowledgeError(CrossroadsError):
    """A knowledge-base operation cannot be done."""


class KBNotFound(KnowledgeError):
    pass


class KBExists(KnowledgeError):
    pass


class IndexInUse(KnowledgeError):
    pass


class RebuildRequired(KnowledgeError):
    pass


class StoreUnavailable(KnowledgeError):
    pass


# ---------------------------------------------------------------- records

@dataclass
class FileResult:
    name: str
    status: str  # "indexed" | "error"
    chunks: int = 0
    error: str | None = None
    note: str | None = None
    file_id: str | None = None

    def as_dict(self) -> dict:
        out = {"name": self.name, "status": self.status, "chunks": self.chunks}
        for key in ("error", "note", "file_id"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass
class IngestReport:
    kb: str
    files: list[FileResult]
    seconds: float

    @property
    def chunks_total(self) -> int:
        return sum(f.chunks for f in self.files if f.status == "indexed")

    @property
    def ok(self) -> bool:
        return all(f.status == "indexed" for f in self.files)

    def as_dict(self) -> dict:
        return {"kb": self.kb, "files": [f.as_dict() for f in self.files],
                "chunks_total": self.chunks_total, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_total: int
    chunks_done: int
    chunks_total: int  # known so far plus an estimate for files not parsed yet
    elapsed_s: float
    eta_s: float | None
    current: str = ""

    @property
    def fraction(self) -> float:
        if self.files_total == 0:
            return 1.0
        if self.chunks_total:
            return min(1.0, self.chunks_done / self.chunks_total)
        return self.files_done / self.files_total

    def describe(self) -> str:
        eta = "" if self.eta_s is None else f" · ETA {self.eta_s:.0f} s"
        return (f"{self.files_done}/{self.files_total} files · {self.chunks_done}/{self.chunks_total} chunks · "
                f"{self.elapsed_s:.0f} s elapsed{eta}")


ProgressFn = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class Source:
    """A file to ingest: its display name and either a path or its bytes."""

    name: str
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)

    def read(self, limits: Limits) -> bytes:
        if self.data is not None:
            return self.data
        size = os.stat(self.path).st_size
        if size > limits.max_file_bytes:
            raise DocumentError(
                f"{safe_display_name(self.name)}: {size / 1024 / 1024:.1f} MB is over the {limits.max_file_mb:g} MB limit per file.",
                hint="Split the document into smaller files.")
        return Path(self.path).read_bytes()


def as_sources(items: Iterable) -> list[Source]:
    out = []
    for item in items:
        if isinstance(item, Source):
            out.append(item)
        elif isinstance(item, tuple):
            name, payload = item
            out.append(Source(name, data=payload) if isinstance(payload, bytes) else Source(name, path=Path(payload)))
        else:
            out.append(Source(Path(item).name, path=Path(item)))
    return out


# ---------------------------------------------------------------- Chroma client (the one place)

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def chroma_client(settings: Settings | None = None):
    """The Chroma client for these settings: PersistentClient under data/chroma, or HttpClient."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = settings or get_settings()
    key = ("http", settings.chroma_host, settings.chroma_port) if settings.chroma_host else (
        "persistent", str(settings.path("chroma").resolve()))
    with _clients_lock:
        if key not in _clients:
            chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            try:
                if settings.chroma_host:
                    _clients[key] = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port or 8000,
                                                        settings=chroma_settings)
                else:
                    settings.path("chroma").mkdir(parents=True, exist_ok=True)
                    _clients[key] = chromadb.PersistentClient(path=key[1], settings=chroma_settings)
            except Exception as exc:  # noqa: BLE001
                where = f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else key[1]
                raise StoreUnavailable(f"Cannot open the Chroma store at {where} ({exc}).",
                                       hint="Check CROSSROADS_CHROMA_HOST/PORT, or that the server is running.") from exc
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests switch data directories)."""
    with _clients_lock:
        _clients.clear()


# ---------------------------------------------------------------- names, manifest, lock

def validate_kb_name(name: str) -> str:
    name = (name or "").strip()
    if not KB_NAME_RE.match(name):
        raise KnowledgeError(f"{name!r} is not a valid knowledge-base name.",
                             hint="Use 1–48 letters, digits, '-' or '_' (starting with a letter or digit).")
    return name


def kb_dir(kb: str, settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.path("kb", validate_kb_name(kb))


def _manifest_path(kb: str, settings: Settings) -> Path:
    return kb_dir(kb, settings) / "manifest.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def kb_exists(kb: str, settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    try:
        return _manifest_path(kb, settings).is_file()
    except KnowledgeError:
        return False


def read_manifest(kb: str, settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    path = _manifest_path(kb, settings)
    if not path.is_file():
        raise KBNotFound(f"Knowledge base {kb!r} does not exist.", hint="Create it first, or pick another one.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KnowledgeError(f"The manifest of {kb!r} is unreadable ({exc}).",
                             hint="Restore data/kb/<kb>/manifest.json or delete the knowledge base.") from exc


def _write_manifest(kb: str, manifest: dict, settings: Settings) -> None:
    path = _manifest_path(kb, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".manifest.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


_process_lock = threading.RLock()
_lock_state = threading.local()


@contextmanager
def writer(settings: Settings | None = None, timeout: float = 5.0):
    """One writer at a time: per process (threads) and per data directory (processes)."""
    from filelock import FileLock, Timeout

    settings = settings or get_settings()
    depth = getattr(_lock_state, "depth", 0)
    if depth:  # re-entrant within one thread
        _lock_state.depth = depth + 1
        try:
            yield
        finally:
            _lock_state.depth -= 1
        return
    if not _process_lock.acquire(timeout=timeout):
        raise IndexInUse("The knowledge index is in use by another task in this app.",
                         hint="Wait for the running ingestion to finish and try again.")
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(settings.path("kb.writer.lock")), timeout=timeout)
        try:
            lock.acquire()
        except Timeout as exc:
            raise IndexInUse("The knowledge index is in use by another process (an ingestion is running).",
                             hint="Wait for it to finish, then try again.") from exc
        _lock_state.depth = 1
        try:
            yield
        finally:
            _lock_state.depth = 0
            lock.release()
    finally:
        _process_lock.release()


# ---------------------------------------------------------------- embedder and collections

class _EmbedderInfo:
    def __init__(self, embedder, name: str):
        self.embedder, self.name = embedder, name
        self._dim: int | None = getattr(embedder, "dimension", None)

    @property
    def dimension(self) -> int:
        if self._dim is None:
            self._dim = len(self.embedder.embed_query("dimension probe"))
        return self._dim


_dimensions: dict[str, int] = {}


def _embedder(embedder, settings: Settings) -> _EmbedderInfo:
    from core.runtime.models import embedder_name, load_embedder

    if embedder is None:
        info = _EmbedderInfo(load_embedder(settings), embedder_name(settings))
        if info.name in _dimensions:
            info._dim = _dimensions[info.name]
        else:
            _dimensions[info.name] = info.dimension
        return info
    return _EmbedderInfo(embedder, getattr(embedder, "name", type(embedder).__name__))


def _collection_metadata(info: _EmbedderInfo, chunking: ChunkSettings) -> dict:
    return {"embedder": info.name, "dimension": info.dimension, "chunk_size": chunking.size,
            "chunk_overlap": chunking.overlap, "chunk_unit": chunking.unit, "app": "crossroads"}


def _vectorstore(collection_name: str, info: _EmbedderInfo, settings: Settings, *, create_metadata: dict | None = None):
    from langchain_chroma import Chroma

    client = chroma_client(settings)
    if create_metadata is not None:
        return Chroma(client=client, collection_name=collection_name, embedding_function=info.embedder,
                      collection_metadata=create_metadata, collection_configuration={"hnsw": {"space": "cosine"}})
    try:
        return Chroma(client=client, collection_name=collection_name, embedding_function=info.embedder,
                      create_collection_if_not_exists=False)
    except Exception as exc:  # noqa: BLE001 - chromadb raises several types for "not found"
        raise RebuildRequired(f"The index collection {collection_name!r} is missing from the Chroma store.",
                              hint="Rebuild the knowledge base from its kept originals (`python -m core kb rebuild KB`).") from exc


def _check_embedder(vs, manifest: dict, info: _EmbedderInfo) -> None:
    meta = vs._collection.metadata or {}
    stored_name, stored_dim = meta.get("embedder"), meta.get("dimension")
    if stored_name != info.name or (stored_dim is not None and int(stored_dim) != info.dimension):
        raise RebuildRequired(
            f"Knowledge base {manifest['name']!r} was indexed with {stored_name} ({stored_dim}-d); "
            f"the current embedder is {info.name} ({info.dimension}-d). Rebuild required.",
            hint="Rebuild it (Knowledge page, or `python -m core kb rebuild KB`); vectors are never mixed.")


def open_store(kb: str, *, embedder=None, settings: Settings | None = None):
    """(langchain Chroma vector store, manifest) of a knowledge base, embedder checked."""
    settings = settings or get_settings()
    manifest = read_manifest(kb, settings)
    info = _embedder(embedder, settings)
    vs = _vectorstore(manifest["collection"], info, settings)
    _check_embedder(vs, manifest, info)
    return vs, manifest


def _batch_limit(settings: Settings) -> int:
    try:
        return max(1, min(EMBED_BATCH, int(chroma_client(settings).get_max_batch_size())))
    except Exception:  # noqa: BLE001
        return EMBED_BATCH


# ---------------------------------------------------------------- knowledge-base operations

def list_kbs(settings: Settings | None = None) -> list[dict]:
    """Summaries of every knowledge base (from manifests only: cheap, no Chroma)."""
    settings = settings or get_settings()
    root = settings.path("kb")
    out = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or not KB_NAME_RE.match(folder.name) or not (folder / "manifest.json").is_file():
                continue
            try:
                manifest = read_manifest(folder.name, settings)
            except KnowledgeError:
                continue
            files = [f for f in manifest.get("files", {}).values() if f.get("status") == "complete"]
            out.append({"name": folder.name, "files": len(files), "chunks": sum(f["chunks"] for f in files),
                        "chunking": manifest.get("chunking"), "embedder": manifest.get("embedder"),
                        "created": manifest.get("created")})
    return out


def create_kb(kb: str, chunking: ChunkSettings | None = None, *, embedder=None, exist_ok: bool = False,
              settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    kb = validate_kb_name(kb)
    chunking = chunking or ChunkSettings()
    with writer(settings):
        if kb_exists(kb, settings):
            if exist_ok:
                return read_manifest(kb, settings)
            raise KBExists(f"Knowledge base {kb!r} already exists.", hint="Pick another name.")
        info = _embedder(embedder, settings)
        collection = f"kb-{uuid.uuid4().hex[:16]}"
        _vectorstore(collection, info, settings, create_metadata=_collection_metadata(info, chunking))
        manifest = {"version": MANIFEST_VERSION, "name": kb, "collection": collection, "created": _now(),
                    "embedder": info.name, "dimension": info.dimension, "chunking": chunking.as_dict(), "files": {}}
        (kb_dir(kb, settings) / "files").mkdir(parents=True, exist_ok=True)
        _write_manifest(kb, manifest, settings)
        return manifest


def rename_kb(old: str, new: str, settings: Settings | None = None) -> str:
    """Rename a knowledge base (its folder and manifest; the collection keeps its id). Returns the new name."""
    settings = settings or get_settings()
    old, new = validate_kb_name(old), validate_kb_name(new)
    with writer(settings):
        manifest = read_manifest(old, settings)
        if old == new:
            return new
        if kb_dir(new, settings).exists():
            raise KBExists(f"Knowledge base {new!r} already exists.", hint="Pick another name.")
        os.replace(kb_dir(old, settings), kb_dir(new, settings))
        manifest["name"] = new
        _write_manifest(new, manifest, settings)
    return new


def delete_kb(kb: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    with writer(settings):
        manifest = read_manifest(kb, settings)
        try:
            chroma_client(settings).delete_collection(manifest["collection"])
        except Exception:  # noqa: BLE001 - already gone is fine
            pass
        folder = kb_dir(kb, settings)
        trash = settings.path("kb", f".deleted-{uuid.uuid4().hex[:8]}")
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)


def kb_files(kb: str, settings: Settings | None = None) -> list[dict]:
    """The files of a knowledge base, newest first (name, kind, size, pages, chunks, when, status)."""
    manifest = read_manifest(kb, settings)
    files = [{k: v for k, v in entry.items() if k != "chunk_ids"} for entry in manifest.get("files", {}).values()]
    return sorted(files, key=lambda f: f.get("added", ""), reverse=True)


def file_chunks(kb: str, file_id: str, *, settings: Settings | None = None, embedder=None) -> list[dict]:
    """The stored chunks of one file, in order: chunk, page, row, text."""
    settings = settings or get_settings()
    vs, manifest = open_store(kb, embedder=embedder, settings=settings)
    entry = manifest["files"].get(file_id)
    if entry is None:
        raise KnowledgeError(f"No file with id {file_id!r} in {kb!r}.")
    ids = entry.get("chunk_ids", [])
    got = vs.get(ids=ids, include=["documents", "metadatas"]) if ids else {"ids": [], "documents": [], "metadatas": []}
    rows = [{"id": i, "text": d, **(m or {})} for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)]
    return sorted(rows, key=lambda r: r.get("chunk", 0))


def delete_file(kb: str, file_id: str, *, settings: Settings | None = None, embedder=None) -> int:
    """Remove exactly one file's chunks and its kept original; returns how many chunks went."""
    settings = settings or get_settings()
    with writer(settings):
        vs, manifest = open_store(kb, embedder=embedder, settings=settings)
        entry = manifest["files"].get(file_id)
        if entry is None:
            raise KnowledgeError(f"No file with id {file_id!r} in {kb!r}.")
        ids = list(entry.get("chunk_ids", []))
        other = _claimed_ids(manifest, exclude=file_id)
        doomed = [i for i in ids if i not in other]
        for start in range(0, len(doomed), _batch_limit(settings)):
            vs.delete(ids=doomed[start:start + _batch_limit(settings)])
        del manifest["files"][file_id]
        _write_manifest(kb, manifest, settings)
        (kb_dir(kb, settings) / "files" / file_id).unlink(missing_ok=True)
        return len(doomed)


def _claimed_ids(manifest: dict, exclude: str | None = None) -> set[str]:
    return {cid for fid, e in manifest["files"].items() if fid != exclude and e.get("status") == "complete"
            for cid in e.get("chunk_ids", [])}


def _recover(vs, kb: str, manifest: dict, settings: Settings) -> None:
    """Remove partial chunks left by a writer that died; mark those files interrupted."""
    pending = [(fid, e) for fid, e in manifest["files"].items() if e.get("status") == "pending"]
    if not pending:
        return
    claimed = _claimed_ids(manifest)
    for _fid, entry in pending:
        doomed = [i for i in entry.get("chunk_ids", []) if i not in claimed]
        for start in range(0, len(doomed), _batch_limit(settings)):
            vs.delete(ids=doomed[start:start + _batch_limit(settings)])
        entry.update(status="interrupted", chunks=0, chunk_ids=[])
        if entry.get("replaces"):
            entry.pop("replaces")
    # An interrupted copy of a name that still has a complete version is noise: drop it.
    complete_names = {e["name"] for e in manifest["files"].values() if e.get("status") == "complete"}
    for fid in [fid for fid, e in manifest["files"].items()
                if e.get("status") == "interrupted" and e["name"] in complete_names]:
        del manifest["files"][fid]
        (kb_dir(kb, settings) / "files" / fid).unlink(missing_ok=True)
    _write_manifest(kb, manifest, settings)


def chunk_id(sha256: str, chunking: ChunkSettings, index: int) -> str:
    return f"{sha256[:24]}-{chunking.signature}-{index}"


def _chunk_metadata(chunk, entry: dict) -> dict:
    meta = {"file_id": entry["id"], "source": entry["name"], "kind": entry["kind"],
            "chunk": int(chunk.metadata.get("chunk", 0)), "start_index": int(chunk.metadata.get("start_index", 0))}
    for key in ("page", "row"):
        if chunk.metadata.get(key) is not None:
            meta[key] = int(chunk.metadata[key])
    title = chunk.metadata.get("title")
    if isinstance(title, str) and title:
        meta["title"] = title[:200]
    return meta


class _Pipeline:
    """Parse (in the worker) -> split -> embed + store in batches, with manifest bookkeeping."""

    def __init__(self, kb: str, vs, manifest: dict, chunking: ChunkSettings, settings: Settings,
                 limits: Limits, progress: ProgressFn | None, total_files: int, persist: bool = True):
        self.kb, self.vs, self.manifest, self.chunking = kb, vs, manifest, chunking
        self.persist = persist  # False while rebuilding: the new manifest is written once, at the swap
        self.settings, self.limits, self.progress = settings, limits, progress
        self.batch = _batch_limit(settings)
        self.buffer: list[tuple[str, str, dict]] = []  # (id, text, metadata)
        self.outstanding: dict[str, int] = {}  # file id -> chunks not yet stored
        self.results: dict[str, FileResult] = {}
        self.start = time.perf_counter()
        self.files_total, self.files_done = total_files, 0
        self.chunks_done, self.chunks_known = 0, 0
        self.bytes_total, self.bytes_parsed = 0, 0
        self.current = ""

    def save(self) -> None:
        if self.persist:
            _write_manifest(self.kb, self.manifest, self.settings)

    def report(self) -> None:
        if not self.progress:
            return
        elapsed = time.perf_counter() - self.start
        estimate = self.chunks_known
        if self.bytes_parsed and self.bytes_total > self.bytes_parsed:
            estimate += int(self.chunks_known / self.bytes_parsed * (self.bytes_total - self.bytes_parsed))
        eta = None
        if self.chunks_done and estimate >= self.chunks_done:
            eta = elapsed / self.chunks_done * (estimate - self.chunks_done)
        self.progress(IngestProgress(self.files_done, self.files_total, self.chunks_done, estimate, elapsed, eta,
                                     self.current))

    def add_file(self, entry: dict, docs: list, result: FileResult, replaces: str | None,
                 parse_seconds: float = 0.0) -> None:
        started = time.perf_counter()
        chunks = split_documents(docs, self.chunking)
        if not chunks:
            raise DocumentError(f"{entry['name']}: no text chunks after splitting.")
        ids = [chunk_id(entry["sha256"], self.chunking, i) for i in range(len(chunks))]
        pages = {c.metadata.get("page") for c in chunks if c.metadata.get("page")}
        entry.update(status="pending", chunks=len(chunks), chunk_ids=ids,
                     pages=max(pages) if pages else None, chunking=self.chunking.as_dict(),
                     seconds=parse_seconds + time.perf_counter() - started)
        if replaces:
            entry["replaces"] = replaces
        self.manifest["files"][entry["id"]] = entry
        self.save()  # pending, with its ids, before any chunk is written
        self.results[entry["id"]] = result
        self.outstanding[entry["id"]] = len(chunks)
        self.chunks_known += len(chunks)
        for cid, chunk in zip(ids, chunks, strict=True):
            self.buffer.append((cid, chunk.page_content, _chunk_metadata(chunk, entry)))
        while len(self.buffer) >= self.batch:
            self.flush(self.batch)

    def flush(self, limit: int | None = None) -> None:
        while self.buffer:
            part, self.buffer = self.buffer[: limit or self.batch], self.buffer[limit or self.batch:]
            ids = [p[0] for p in part]
            started = time.perf_counter()
            self.vs.add_texts([p[1] for p in part], metadatas=[p[2] for p in part], ids=ids)
            share = (time.perf_counter() - started) / len(part)
            for _, _, meta in part:  # embedding + store time, attributed per chunk to its file
                entry = self.manifest["files"][meta["file_id"]]
                entry["seconds"] = entry.get("seconds", 0.0) + share
            self.chunks_done += len(part)
            finished = []
            for _, _, meta in part:
                fid = meta["file_id"]
                self.outstanding[fid] -= 1
                if self.outstanding[fid] == 0:
                    finished.append(fid)
            for fid in finished:
                self._complete(fid)
            self.report()
            if limit:
                return

    def _complete(self, fid: str) -> None:
        entry = self.manifest["files"][fid]
        old = entry.pop("replaces", None)
        entry["status"] = "complete"
        entry["seconds"] = round(entry.get("seconds", 0.0), 3)  # parse + split + embed + store
        del self.outstanding[fid]
        if old and old in self.manifest["files"]:
            keep = set(entry["chunk_ids"]) | _claimed_ids(self.manifest, exclude=old)
            doomed = [i for i in self.manifest["files"][old].get("chunk_ids", []) if i not in keep]
            for start in range(0, len(doomed), self.batch):
                self.vs.delete(ids=doomed[start:start + self.batch])
            del self.manifest["files"][old]
            (kb_dir(self.kb, self.settings) / "files" / old).unlink(missing_ok=True)
        self.save()
        result = self.results[fid]
        result.status, result.chunks = "indexed", entry["chunks"]
        self.files_done += 1


def ingest(kb: str, sources: Iterable, *, chunking: ChunkSettings | None = None, progress: ProgressFn | None = None,
           limits: Limits = DEFAULT_LIMITS, embedder=None, create: bool = True,
           settings: Settings | None = None) -> IngestReport:
    """Ingest files into a knowledge base; each file ends indexed or with its own error.

    `sources`: paths, (name, path | bytes) pairs or `Source`s. `chunking` applies when the
    knowledge base is created here; an existing one keeps its own (change it with `rebuild`).
    """
    settings = settings or get_settings()
    kb = validate_kb_name(kb)
    sources = as_sources(sources)
    start = time.perf_counter()
    with writer(settings):
        if not kb_exists(kb, settings):
            if not create:
                raise KBNotFound(f"Knowledge base {kb!r} does not exist.", hint="Create it first.")
            create_kb(kb, chunking, embedder=embedder, settings=settings)
        vs, manifest = open_store(kb, embedder=embedder, settings=settings)
        _recover(vs, kb, manifest, settings)
        kb_chunking = ChunkSettings.from_dict(manifest.get("chunking"))
        results: list[FileResult] = []
        pipeline = _Pipeline(kb, vs, manifest, kb_chunking, settings, limits, progress, len(sources))
        planned = []  # (result, entry, check, replaces, future)
        seen: dict[str, str] = {}
        last_of_name = {safe_display_name(s.name): i for i, s in enumerate(sources)}
        pipeline.report()
        for position, source in enumerate(sources):
            name = safe_display_name(source.name)
            result = FileResult(name, "error")
            results.append(result)
            if last_of_name[name] != position:
                result.error = f"{name}: this name appears again later in the same upload; the later file was used."
                pipeline.files_done += 1
                continue
            try:
                data = source.read(limits)
                check = check_bytes(data, name, limits)
            except DocumentError as exc:
                result.error = exc.message + (f" — {exc.hint}" if exc.hint else "")
                pipeline.files_done += 1
                continue
            except OSError as exc:
                result.error = f"{name}: cannot be read ({exc.strerror or exc})."
                pipeline.files_done += 1
                continue
            existing = [(fid, e) for fid, e in manifest["files"].items() if e["name"] == name]
            complete = [(fid, e) for fid, e in existing if e.get("status") == "complete"]
            if complete and complete[0][1]["sha256"] == check.sha256:
                result.status, result.chunks, result.file_id = "indexed", complete[0][1]["chunks"], complete[0][0]
                result.note = "already indexed (unchanged)"
                pipeline.files_done += 1
                continue
            twin = next((e for e in manifest["files"].values()
                         if e["sha256"] == check.sha256 and e.get("status") == "complete"), None)
            if twin is not None or check.sha256 in seen:
                result.status, result.chunks = "indexed", (twin or {}).get("chunks", 0)
                result.note = f"same content as {twin['name'] if twin else seen[check.sha256]}; not added again"
                pipeline.files_done += 1
                continue
            seen[check.sha256] = name
            # Reuse an interrupted entry of this name (its original is kept) or make a new one.
            interrupted = next((fid for fid, e in existing if e.get("status") != "complete"), None)
            file_id = interrupted or uuid.uuid4().hex
            original = kb_dir(kb, settings) / "files" / file_id
            original.parent.mkdir(parents=True, exist_ok=True)
            tmp = original.with_name(f".{file_id}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, original)
            del data
            entry = {"id": file_id, "name": name, "kind": check.kind, "size": check.size, "sha256": check.sha256,
                     "encoding": check.encoding, "added": _now(), "status": "pending", "chunks": 0}
            pipeline.bytes_total += check.size
            future = parser_pool(limits).submit(str(original), check, limits)
            planned.append((result, entry, check, complete[0][0] if complete else None, future))
        for result, entry, check, replaces, future in planned:
            pipeline.current = entry["name"]
            result.file_id = entry["id"]
            try:
                waited = time.perf_counter()
                docs = collect_parsed(future, check, limits)
                pipeline.bytes_parsed += check.size
                pipeline.add_file(entry, docs, result, replaces, time.perf_counter() - waited)
            except DocumentError as exc:
                pipeline.bytes_parsed += check.size
                result.error = exc.message + (f" — {exc.hint}" if exc.hint else "")
                pipeline.files_done += 1
                if entry["id"] not in manifest["files"]:
                    (kb_dir(kb, settings) / "files" / entry["id"]).unlink(missing_ok=True)
                pipeline.report()
        pipeline.flush()
        pipeline.current = ""
        pipeline.report()
    return IngestReport(kb, results, time.perf_counter() - start)


def rebuild(kb: str, chunking: ChunkSettings | None = None, *, progress: ProgressFn | None = None,
            limits: Limits = DEFAULT_LIMITS, embedder=None, settings: Settings | None = None) -> IngestReport:
    """Re-index every kept original into a fresh collection (new chunking or embedder), then swap."""
    settings = settings or get_settings()
    start = time.perf_counter()
    with writer(settings):
        manifest = read_manifest(kb, settings)
        chunking = chunking or ChunkSettings.from_dict(manifest.get("chunking"))
        info = _embedder(embedder, settings)
        new_collection = f"kb-{uuid.uuid4().hex[:16]}"
        vs = _vectorstore(new_collection, info, settings, create_metadata=_collection_metadata(info, chunking))
        fresh = {**manifest, "collection": new_collection, "embedder": info.name, "dimension": info.dimension,
                 "chunking": chunking.as_dict(), "files": {}}
        pipeline = _Pipeline(kb, vs, fresh, chunking, settings, limits, progress, len(manifest["files"]),
                             persist=False)
        results, planned = [], []
        for fid, entry in manifest["files"].items():
            original = kb_dir(kb, settings) / "files" / fid
            result = FileResult(entry["name"], "error", file_id=fid)
            results.append(result)
            if not original.is_file():
                result.error = f"{entry['name']}: the kept original is missing; upload the file again."
                pipeline.files_done += 1
                continue
            check = FileCheck(entry["name"], entry["kind"], entry["size"], entry["sha256"], entry.get("encoding"))
            pipeline.bytes_total += check.size
            new_entry = {k: v for k, v in entry.items() if k not in ("chunk_ids", "replaces")}
            planned.append((result, new_entry, check, parser_pool(limits).submit(str(original), check, limits)))
        try:
            for result, entry, check, future in planned:
                try:
                    waited = time.perf_counter()
                    docs = collect_parsed(future, check, limits)
                    pipeline.bytes_parsed += check.size
                    pipeline.add_file(entry, docs, result, None, time.perf_counter() - waited)
                except DocumentError as exc:
                    result.error = exc.message
                    pipeline.files_done += 1
            pipeline.flush()
        except BaseException:
            try:
                chroma_client(settings).delete_collection(new_collection)
            except Exception:  # noqa: BLE001
                pass
            raise
        _write_manifest(kb, fresh, settings)  # the swap
        try:
            chroma_client(settings).delete_collection(manifest["collection"])
        except Exception:  # noqa: BLE001 - the old one may be missing (that may be why we rebuild)
            pass
        for fid in manifest["files"]:
            if fid not in fresh["files"]:
                (kb_dir(kb, settings) / "files" / fid).unlink(missing_ok=True)
    return IngestReport(kb, results, time.perf_counter() - start)


def kb_chunking(kb: str, settings: Settings | None = None) -> ChunkSettings:
    return ChunkSettings.from_dict(read_manifest(kb, settings).get("chunking"))


def kb_count(kb: str, *, embedder=None, settings: Settings | None = None) -> int:
    vs, _ = open_store(kb, embedder=embedder, settings=settings)
    return vs._collection.count()


def demo_sources() -> list[Path]:
    return sorted(p for p in DEMO_DOCS.glob("*") if p.is_file() and not p.name.startswith("."))


def load_demo_workspace(progress: ProgressFn | None = None, settings: Settings | None = None) -> IngestReport:
    """Ingest demo/docs/* into the knowledge base `demo` (idempotent)."""
    settings = settings or get_settings()
    files = demo_sources()
    if not files:
        raise KnowledgeError("The demo documents are missing (demo/docs/ is empty).",
                             hint="Run `make demo` to regenerate them.")
    return ingest(DEMO_KB, files, progress=progress, settings=settings)
