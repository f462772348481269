"""Collection access: the Chroma client (the one place it is made), the embedder check, and the
life of a knowledge base's collection (create, rename, delete, read its chunks).

Chroma lives under data/chroma (embedded) unless CROSSROADS_CHROMA_HOST names a server.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid

from core.knowledge import keyword_index
from core.knowledge.documents import ChunkSettings
from core.knowledge.manifest import (
    MANIFEST_VERSION,
    KBExists,
    KnowledgeError,
    RebuildRequired,
    StoreUnavailable,
    kb_dir,
    kb_exists,
    now_iso,
    read_manifest,
    validate_kb_name,
    write_manifest,
    writer,
    written_stamp_path,
)
from core.runtime.settings import Settings, get_settings

# Chunks embedded and written per step (also bounded by the store's get_max_batch_size()).
# Measured (732 demo chunks, MiniLM on 2 cores): steps of 256 embed at 98-102 chunks/s, of 512
# at 106-108, all at once at 111-113 (the embedder sorts each step by length); the whole
# pipeline / raw embedding ratio was 0.846 at 256 (writes not overlapped), 0.863 at 512 and
# 0.906 at 1024 with writes overlapped. A cancel waits for one step: ~10 s here at 1024.
EMBED_BATCH = int(os.environ.get("CROSSROADS_INGEST_BATCH", "1024"))

# ---------------------------------------------------------------- Chroma client (the one place)

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()
_stamps: dict[tuple, str] = {}  # persistent key -> the write stamp when its client was made


def _foreign_write(key: tuple, settings: Settings) -> bool:
    """True when another process (an ingestion job) wrote the embedded store since this
    process's client was made: an embedded client serves queries from the vector index it loaded
    and would miss those chunks, so it must be reopened (measured: count() saw them, query() not)."""
    try:
        stamp = written_stamp_path(settings).read_text(encoding="utf-8")
    except OSError:
        stamp = ""
    seen, _stamps[key] = _stamps.get(key), stamp
    return seen is not None and stamp != seen and not stamp.startswith(f"{os.getpid()} ")


def chroma_client(settings: Settings | None = None):
    """The Chroma client for these settings: PersistentClient under data/chroma, or HttpClient."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = settings or get_settings()
    key = ("http", settings.chroma_host, settings.chroma_port) if settings.chroma_host else (
        "persistent", str(settings.path("chroma").resolve()))
    with _clients_lock:
        if key[0] == "persistent" and _foreign_write(key, settings) and key in _clients:
            _drop_clients()
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


def _drop_clients() -> None:
    """Forget every cached client and Chroma's own per-path systems (the caller holds the lock)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    _clients.clear()


def reset_clients() -> None:
    """Forget cached clients (tests switch data directories)."""
    with _clients_lock:
        _clients.clear()


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


def embedder_info(embedder, settings: Settings) -> _EmbedderInfo:
    from core.runtime.models import embedder_name, load_embedder

    if embedder is None:
        info = _EmbedderInfo(load_embedder(settings), embedder_name(settings))
        if info.name in _dimensions:
            info._dim = _dimensions[info.name]
        else:
            _dimensions[info.name] = info.dimension
        return info
    return _EmbedderInfo(embedder, getattr(embedder, "name", type(embedder).__name__))


def collection_metadata(info: _EmbedderInfo, chunking: ChunkSettings) -> dict:
    return {"embedder": info.name, "dimension": info.dimension, "chunk_size": chunking.size,
            "chunk_overlap": chunking.overlap, "chunk_unit": chunking.unit, "app": "crossroads"}


def vectorstore(collection_name: str, info: _EmbedderInfo, settings: Settings, *, create_metadata: dict | None = None):
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
    info = embedder_info(embedder, settings)
    vs = vectorstore(manifest["collection"], info, settings)
    if not settings.chroma_host and _stale(vs, manifest):
        with _clients_lock:  # this process's embedded client missed another process's writes
            _drop_clients()
        vs = vectorstore(manifest["collection"], info, settings)
    _check_embedder(vs, manifest, info)
    return vs, manifest


def _stale(vs, manifest: dict) -> bool:
    """Fewer chunks in the collection than the manifest's complete files hold: this client missed
    writes (the write stamp is the first line of defence; the manifest is the truth)."""
    expected = sum(len(e.get("chunk_ids", [])) for e in manifest["files"].values() if e.get("status") == "complete")
    return expected > 0 and vs._collection.count() < expected


def batch_limit(settings: Settings) -> int:
    try:
        return max(1, min(EMBED_BATCH, int(chroma_client(settings).get_max_batch_size())))
    except Exception:  # noqa: BLE001
        return EMBED_BATCH


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
        info = embedder_info(embedder, settings)
        collection = f"kb-{uuid.uuid4().hex[:16]}"
        vectorstore(collection, info, settings, create_metadata=collection_metadata(info, chunking))
        manifest = {"version": MANIFEST_VERSION, "name": kb, "collection": collection, "created": now_iso(),
                    "embedder": info.name, "dimension": info.dimension, "chunking": chunking.as_dict(), "files": {}}
        (kb_dir(kb, settings) / "files").mkdir(parents=True, exist_ok=True)
        write_manifest(kb, manifest, settings)
        keyword_index.sync(kb, None, manifest, settings)  # empty, like the new collection
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
        write_manifest(new, manifest, settings)
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


def file_text(kb: str, file_id: str, *, max_chars: int = 20_000, settings: Settings | None = None) -> str:
    """The text of one kept original, parsed as ingestion parses it (in the limited worker),
    cut at `max_chars`: the Chunking tab previews new settings on the user's own file."""
    from core.knowledge.documents import FileCheck
    from core.knowledge.parsing import parse_isolated

    settings = settings or get_settings()
    entry = read_manifest(kb, settings)["files"].get(file_id)
    original = kb_dir(kb, settings) / "files" / file_id
    if entry is None or not original.is_file():
        raise KnowledgeError(f"No kept original for file {file_id!r} in {kb!r}.", hint="Upload the file again.")
    check = FileCheck(entry["name"], entry["kind"], entry["size"], entry["sha256"], entry.get("encoding"))
    text = "\n\n".join(d.page_content for d in parse_isolated(original, check))
    return text[:max_chars]


def kb_count(kb: str, *, embedder=None, settings: Settings | None = None) -> int:
    vs, _ = open_store(kb, embedder=embedder, settings=settings)
    return vs._collection.count()


