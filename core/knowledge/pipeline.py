"""The ingestion pipeline: parse (in the limited worker) -> split -> embed + store in batches,
with the manifest bookkeeping, and the records it reports (per file, progress).

Chunk ids are `<content hash>-<splitter signature>-<chunk index>`. A file is "pending" in the
manifest (with the ids it is about to write) before any chunk is written and "complete" after
all are, so a crash can always be undone exactly (see core.knowledge.indexing).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.knowledge.documents import (
    ChunkSettings,
    DocumentError,
    Limits,
    safe_display_name,
)
from core.knowledge.manifest import KnowledgeError, claimed_ids, kb_dir, write_manifest
from core.knowledge.splitting import split_documents
from core.knowledge.store import batch_limit
from core.runtime.errors import is_disk_full
from core.runtime.settings import Settings
from core.runtime.text import plural

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


class IngestCancelled(KnowledgeError):
    """A stop was asked for: raised between two embed batches (the caller cleans up)."""


class DiskFull(KnowledgeError):
    """The store or the manifest could not be written: no space left."""


def raise_if_disk_full(exc: BaseException) -> None:
    if is_disk_full(exc):
        raise DiskFull("The disk is full: the knowledge base could not be written.",
                       hint="Free some disk space and ingest again; the files indexed before stay, "
                            "the partial one is removed on the next write.") from exc


@dataclass
class IngestReport:
    kb: str
    files: list[FileResult]
    seconds: float
    cancelled: bool = False

    @property
    def chunks_total(self) -> int:
        return sum(f.chunks for f in self.files if f.status == "indexed")

    @property
    def ok(self) -> bool:
        return all(f.status == "indexed" for f in self.files)

    def as_dict(self) -> dict:
        return {"kb": self.kb, "files": [f.as_dict() for f in self.files],
                "chunks_total": self.chunks_total, "seconds": round(self.seconds, 2),
                **({"cancelled": True} if self.cancelled else {})}


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
        return (f"{self.files_done}/{plural(self.files_total, 'file')} · "
                f"{self.chunks_done}/{plural(self.chunks_total, 'chunk')} · "
                f"{self.elapsed_s:.0f} s elapsed{eta}")


ProgressFn = Callable[[IngestProgress], None]
FileFn = Callable[[FileResult], None]  # called once per file, when it is indexed or has failed
StopFn = Callable[[], bool]


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


class Pipeline:
    """Parse (in the worker) -> split -> embed + store in batches, with manifest bookkeeping."""

    def __init__(self, kb: str, vs, manifest: dict, chunking: ChunkSettings, settings: Settings,
                 limits: Limits, progress: ProgressFn | None, total_files: int, persist: bool = True,
                 on_file: FileFn | None = None, should_stop: StopFn | None = None):
        self.kb, self.vs, self.manifest, self.chunking = kb, vs, manifest, chunking
        self.persist = persist  # False while rebuilding: the new manifest is written once, at the swap
        self.settings, self.limits, self.progress = settings, limits, progress
        self.on_file, self.should_stop = on_file, should_stop
        self.batch = batch_limit(settings)
        self.buffer: list[tuple[str, str, dict]] = []  # (id, text, metadata)
        self.outstanding: dict[str, int] = {}  # file id -> chunks not yet stored
        self.results: dict[str, FileResult] = {}
        self.start = time.perf_counter()
        self.files_total, self.files_done = total_files, 0
        self.chunks_done, self.chunks_known = 0, 0
        self.bytes_total, self.bytes_parsed = 0, 0
        self.current = ""
        self.unsaved = False  # manifest changes not on disk yet (written once per batch, not per file)
        self._writing = None  # (part, started, thread, result box) of the batch being written

    def done(self, result: FileResult) -> None:
        """One more file has its final result (indexed or an error)."""
        self.files_done += 1
        if self.on_file:
            self.on_file(result)

    def save(self) -> None:
        self.unsaved = False
        if self.persist:
            try:
                write_manifest(self.kb, self.manifest, self.settings)
            except OSError as exc:
                raise_if_disk_full(exc)
                raise

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
                     chars=sum(len(d.page_content) for d in docs),  # the text itself, without chunk overlap
                     seconds=parse_seconds + time.perf_counter() - started)
        if replaces:
            entry["replaces"] = replaces
        self.manifest["files"][entry["id"]] = entry
        self.unsaved = True  # saved (pending, with its ids) by flush before any of its chunks is written
        self.results[entry["id"]] = result
        self.outstanding[entry["id"]] = len(chunks)
        self.chunks_known += len(chunks)
        for cid, chunk in zip(ids, chunks, strict=True):
            self.buffer.append((cid, chunk.page_content, _chunk_metadata(chunk, entry)))
        while len(self.buffer) >= self.batch:
            self.flush(self.batch)

    def flush(self, limit: int | None = None) -> None:
        """Embed and store the buffer in batches; `limit`: one batch only (more chunks follow).

        A batch is embedded here while the previous one is written to Chroma in a thread (the
        write was ~6% of ingestion time, now mostly hidden). A file is marked complete only
        after its last chunk's write has returned."""
        try:
            while self.buffer:
                self.check_stop()  # between two batches: a cancel waits for one batch at most
                part, self.buffer = self.buffer[: limit or self.batch], self.buffer[limit or self.batch:]
                if self.unsaved:  # every file with chunks in this batch is "pending" on disk first
                    self.save()
                started = time.perf_counter()
                vectors = self.vs.embeddings.embed_documents([p[1] for p in part])
                self._finish_write()
                self._start_write(part, vectors, started)
                if limit:
                    return
            self._finish_write()
        except BaseException:
            self._finish_write(quiet=True)  # never leave a write running under a cleanup
            raise

    def check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            self._finish_write(quiet=True)
            raise IngestCancelled("The ingestion was cancelled.")

    def _start_write(self, part: list, vectors: list, started: float) -> None:
        box: dict = {}

        def write() -> None:
            try:
                self.vs._collection.upsert(ids=[p[0] for p in part], embeddings=vectors,
                                           documents=[p[1] for p in part], metadatas=[p[2] for p in part])
            except BaseException as exc:  # noqa: BLE001 - re-raised by _finish_write in the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=write, name="chroma-write", daemon=True)
        thread.start()
        self._writing = (part, started, thread, box)

    def _finish_write(self, quiet: bool = False) -> None:
        """Wait for the batch being written, then record it (files complete, progress)."""
        if self._writing is None:
            return
        part, started, thread, box = self._writing
        self._writing = None
        thread.join()
        if "error" in box:
            if quiet:
                return
            raise_if_disk_full(box["error"])
            raise box["error"]
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
        if self.unsaved:
            self.save()  # the batch's complete files, in one write
        self.report()

    def _complete(self, fid: str) -> None:
        entry = self.manifest["files"][fid]
        old = entry.pop("replaces", None)
        entry["status"] = "complete"
        entry["seconds"] = round(entry.get("seconds", 0.0), 3)  # parse + split + embed + store
        del self.outstanding[fid]
        if old and old in self.manifest["files"]:
            keep = set(entry["chunk_ids"]) | claimed_ids(self.manifest, exclude=old)
            doomed = [i for i in self.manifest["files"][old].get("chunk_ids", []) if i not in keep]
            for start in range(0, len(doomed), self.batch):
                self.vs.delete(ids=doomed[start:start + self.batch])
            del self.manifest["files"][old]
            self.save()  # at once: the old version's chunks are gone, its entry must go with them
            (kb_dir(self.kb, self.settings) / "files" / old).unlink(missing_ok=True)
        self.unsaved = True
        result = self.results[fid]
        result.status, result.chunks = "indexed", entry["chunks"]
        self.done(result)

