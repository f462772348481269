"""The keyword (BM25) index of a knowledge base: `bm25s` over the chunks the manifest lists.

Layout: kb/<kb>/keyword/index.json names the current generation folder and the chunk ids it
holds (in index order); kb/<kb>/keyword/<generation>/ is bm25s's own saved index. A writer
builds a new generation beside the old one and then replaces index.json (os.replace), so a
crash leaves either the old or the new index, never half of one.

The index is derived data: `sync` (called by every writer, under the writer lock, after the
vector collection changed) makes it hold exactly the manifest's complete chunks, with their
texts read back from the collection. A reader that finds it out of step with the manifest
(a writer died between the two) indexes the chunks in memory for itself; the next writer
writes the repaired index. index.json also records each saved file's SHA-256: a damaged index
(files truncated or overwritten while index.json still lists the right ids) is detected the same
way — readers index in memory, the next writer (any ingest, delete or `kb rebuild`) rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path

from core.knowledge.manifest import claimed_ids, kb_dir
from core.runtime.settings import Settings

INDEX_FILE = "index.json"
STOPWORDS = "en"
log = logging.getLogger("crossroads")


def _root(kb: str, settings: Settings) -> Path:
    return kb_dir(kb, settings) / "keyword"


def _tokenize(texts: list[str], *, ids: bool):
    import bm25s

    return bm25s.tokenize(texts, stopwords=STOPWORDS, show_progress=False, return_ids=ids)


def _build(texts: list[str]):
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(_tokenize(texts, ids=True), show_progress=False)
    return retriever


def stored_ids(kb: str, settings: Settings) -> list[str] | None:
    """The chunk ids the saved index holds (None when there is no readable index)."""
    try:
        return list(json.loads((_root(kb, settings) / INDEX_FILE).read_text(encoding="utf-8"))["ids"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _digests(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.is_file()}


def _intact(root: Path, info: dict) -> bool:
    """The saved generation holds exactly the files index.json recorded (none for an empty index)."""
    generation = info.get("generation")
    if not generation:
        return not info.get("ids")
    try:
        return info.get("files") == _digests(root / generation)
    except OSError:
        return False


def _read_info(root: Path) -> dict | None:
    try:
        info = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("ids"), list) else None


def _chunk_texts(vs, ids: list[str], batch: int) -> tuple[list[str], list[str]]:
    """(ids, texts) read back from the vector collection, in a stable order."""
    out: dict[str, str] = {}
    for start in range(0, len(ids), batch):
        got = vs.get(ids=ids[start:start + batch], include=["documents"])
        out.update(zip(got["ids"], got["documents"], strict=True))
    kept = [i for i in ids if i in out]
    return kept, [out[i] or "" for i in kept]


def sync(kb: str, vs, manifest: dict, settings: Settings, batch: int = 512) -> None:
    """Make the saved index hold exactly the manifest's complete chunks (no-op when it does)."""
    wanted = sorted(claimed_ids(manifest))
    root = _root(kb, settings)
    info = _read_info(root)
    if info is not None and info["ids"] == wanted and _intact(root, info):
        return
    ids, texts = _chunk_texts(vs, wanted, batch)
    root.mkdir(parents=True, exist_ok=True)
    generation = uuid.uuid4().hex[:12]
    files = {}
    if ids:
        _build(texts).save(str(root / generation))
        files = _digests(root / generation)
    tmp = root / f".{INDEX_FILE}.{generation}.tmp"
    tmp.write_text(json.dumps({"generation": generation if ids else None, "ids": ids, "files": files}), encoding="utf-8")
    os.replace(tmp, root / INDEX_FILE)
    for old in root.iterdir():  # earlier generations and leftovers of a crashed writer
        if old.name not in (INDEX_FILE, generation):
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


# ---------------------------------------------------------------- searching

_cache: dict[tuple, tuple[list[str], object]] = {}
_cache_lock = threading.Lock()


def _load(kb: str, vs, manifest: dict, settings: Settings) -> tuple[list[str], object | None]:
    wanted = sorted(claimed_ids(manifest))
    root = _root(kb, settings)
    info = _read_info(root)
    stamp = (str(root), info.get("generation"), len(info["ids"])) if info else None
    memory = (str(root), "memory", manifest.get("collection"), hash(tuple(wanted)))
    if info is None or info["ids"] != wanted:  # out of step: index in memory
        stamp = memory
    with _cache_lock:
        if stamp in _cache:
            return _cache[stamp]
    loaded, saved_stamp = None, stamp
    if stamp != memory and info.get("generation"):
        try:
            if not _intact(root, info):
                raise ValueError("its files changed since they were written")
            import bm25s

            loaded = (list(info["ids"]), bm25s.BM25.load(str(root / info["generation"])))
        except Exception as exc:  # noqa: BLE001 - a damaged derived index: rebuilt from the collection
            log.warning("keyword index of %s is damaged (%s); indexing in memory until the next write", kb, exc)
            stamp = memory
    elif stamp != memory:
        loaded = ([], None)
    if loaded is None:
        ids, texts = _chunk_texts(vs, wanted, 512)
        loaded = (ids, _build(texts) if ids else None)
    with _cache_lock:
        _cache.clear()  # one knowledge base's index at a time is plenty for a local app
        _cache[stamp] = _cache[saved_stamp] = loaded  # a damaged saved index is not re-read per query
    return loaded


def search(kb: str, query: str, n: int, vs, manifest: dict, settings: Settings) -> list[tuple[str, float]]:
    """Up to n (chunk id, BM25 score) pairs, best first; chunks sharing no term are left out."""
    ids, retriever = _load(kb, vs, manifest, settings)
    if retriever is None or n < 1:
        return []
    docs, scores = retriever.retrieve(_tokenize([query], ids=False), k=min(n, len(ids)), show_progress=False)
    return [(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
