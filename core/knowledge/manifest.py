"""Knowledge-base names, manifests and the writer lock (no Chroma here).

Layout (under the data directory):
    kb/<kb>/manifest.json           what was ingested: files, hashes, chunk ids, settings
    kb/<kb>/files/<file id>         the original bytes of every file (never the uploaded name)
    kb.writer.lock                  one writer process at a time (embedded Chroma is not
                                    safe for two writers on one directory)

The manifest is the truth: the vector collection and the keyword index are derived from the
chunks it lists, and every writer keeps them equal to it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from core.knowledge.documents import ChunkSettings
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

log = logging.getLogger("crossroads")

KB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
MANIFEST_VERSION = 1


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


def now_iso() -> str:
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
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KnowledgeError(f"The manifest of {kb!r} is unreadable ({exc}).",
                             hint="Restore data/kb/<kb>/manifest.json or delete the knowledge base.") from exc
    problem = _manifest_problem(manifest)
    if problem:
        raise KnowledgeError(f"The manifest {path} is damaged ({problem}).",
                             hint=f"Restore it, or delete the knowledge base {kb!r} and ingest its files again.")
    return manifest


def _manifest_problem(manifest) -> str | None:
    """What is wrong with a manifest's shape (a hand-edited or foreign file), or None."""
    if not isinstance(manifest, dict):
        return f"it holds {type(manifest).__name__}, not an object"
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        return f'"files" is {type(files).__name__}, not an object'
    for fid, entry in files.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            return f"file entry {fid!r} is not an object with a name"
        if isinstance(entry.get("chunks", 0), bool) or not isinstance(entry.get("chunks", 0), int) \
                or not isinstance(entry.get("chunk_ids", []), list):
            return f"file entry {fid!r} has a malformed chunk count or chunk list"
    return None


def write_manifest(kb: str, manifest: dict, settings: Settings) -> None:
    path = _manifest_path(kb, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".manifest.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    mark_written(settings)


def written_stamp_path(settings: Settings) -> Path:
    return settings.path("chroma.written")


def mark_written(settings: Settings) -> None:
    """Record that this process wrote the store (pid + time). An embedded Chroma client keeps its
    vector index in memory and does not see another process's writes (an ingestion job), so
    readers compare this stamp and reopen their client when someone else wrote (store.py)."""
    path = written_stamp_path(settings)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(f"{os.getpid()} {time.time_ns()}", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a full disk: the manifest write above would have failed first
        pass


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
            mark_written(settings)  # Chroma writes without a manifest write (a dropped collection)
            lock.release()
    finally:
        _process_lock.release()


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
            except KnowledgeError as exc:  # reported (file + what to do) and skipped, never fatal
                log.warning("%s %s", exc.message, exc.hint)
                continue
            if manifest.get("temporary"):  # the retrieval lab's scratch index of another chunking
                continue
            files = [f for f in manifest.get("files", {}).values() if f.get("status") == "complete"]
            out.append({"name": folder.name, "files": len(files), "chunks": sum(f["chunks"] for f in files),
                        "chunking": manifest.get("chunking"), "embedder": manifest.get("embedder"),
                        "created": manifest.get("created")})
    return out


def kb_files(kb: str, settings: Settings | None = None) -> list[dict]:
    """The files of a knowledge base, newest first (name, kind, size, pages, chunks, when, status)."""
    manifest = read_manifest(kb, settings)
    files = [{k: v for k, v in entry.items() if k != "chunk_ids"} for entry in manifest.get("files", {}).values()]
    return sorted(files, key=lambda f: f.get("added", ""), reverse=True)


def claimed_ids(manifest: dict, exclude: str | None = None) -> set[str]:
    return {cid for fid, e in manifest["files"].items() if fid != exclude and e.get("status") == "complete"
            for cid in e.get("chunk_ids", [])}



def kb_chunking(kb: str, settings: Settings | None = None) -> ChunkSettings:
    return ChunkSettings.from_dict(read_manifest(kb, settings).get("chunking"))


