"""Ingest, delete one file, rebuild: every write to a knowledge base, under the writer lock.

Re-ingesting the same file adds nothing; an edited file gets new chunk ids and its old chunks
are removed once the new ones are stored. A writer that finds a "pending" entry left by a crash
removes exactly those partial chunks, so Chroma never holds chunks the manifest does not account
for, and re-running the ingestion completes the file from its kept original.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable

from core.knowledge import keyword_index
from core.knowledge.documents import (
    DEFAULT_LIMITS,
    ChunkSettings,
    DocumentError,
    FileCheck,
    Limits,
    check_bytes,
    safe_display_name,
)
from core.knowledge.manifest import (
    KBNotFound,
    KnowledgeError,
    claimed_ids,
    kb_dir,
    kb_exists,
    now_iso,
    read_manifest,
    validate_kb_name,
    write_manifest,
    writer,
)
from core.knowledge.parsing import collect_parsed, parser_pool
from core.knowledge.pipeline import (
    FileFn,
    FileResult,
    IngestCancelled,
    IngestReport,
    Pipeline,
    ProgressFn,
    StopFn,
    as_sources,
)
from core.knowledge.store import (
    batch_limit,
    chroma_client,
    collection_metadata,
    create_kb,
    embedder_info,
    open_store,
    vectorstore,
)
from core.runtime.settings import Settings, get_settings


def delete_file(kb: str, file_id: str, *, settings: Settings | None = None, embedder=None) -> int:
    """Remove exactly one file's chunks and its kept original; returns how many chunks went."""
    settings = settings or get_settings()
    with writer(settings):
        vs, manifest = open_store(kb, embedder=embedder, settings=settings)
        entry = manifest["files"].get(file_id)
        if entry is None:
            raise KnowledgeError(f"No file with id {file_id!r} in {kb!r}.")
        doomed = _remove_entry(vs, kb, manifest, file_id, settings)
        keyword_index.sync(kb, vs, manifest, settings)
        return doomed


def _remove_entry(vs, kb: str, manifest: dict, file_id: str, settings: Settings) -> int:
    """Drop one file: its chunks no other file claims, its manifest entry, its kept original."""
    ids = list(manifest["files"][file_id].get("chunk_ids", []))
    other = claimed_ids(manifest, exclude=file_id)
    doomed = [i for i in ids if i not in other]
    for start in range(0, len(doomed), batch_limit(settings)):
        vs.delete(ids=doomed[start:start + batch_limit(settings)])
    del manifest["files"][file_id]
    write_manifest(kb, manifest, settings)
    (kb_dir(kb, settings) / "files" / file_id).unlink(missing_ok=True)
    return len(doomed)


def file_identity(name: str) -> str:
    """A file's identity in a knowledge base: its path relative to what was uploaded, each part
    made safe ("sub1/report.txt" and "sub2/report.txt" are two files); never a filesystem path
    (originals are stored under generated ids), never with "." or ".." parts."""
    parts = [p for p in str(name or "").replace("\\", "/").split("/") if p.strip() not in ("", ".", "..")]
    return "/".join(safe_display_name(p) for p in parts) or "unnamed"



def _sweep_originals(kb: str, manifest: dict, settings: Settings) -> None:
    """Delete kept originals (and .tmp copies) no manifest entry names. Originals are written
    before their entry is recorded, so a writer killed in between strands them; the caller holds
    the writer lock, so no other ingest can be between those two steps now."""
    folder = kb_dir(kb, settings) / "files"
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and path.name not in manifest["files"]:
                path.unlink(missing_ok=True)


def _recover(vs, kb: str, manifest: dict, settings: Settings) -> None:
    """Remove partial chunks left by a writer that died; mark those files interrupted."""
    _sweep_originals(kb, manifest, settings)
    pending = [(fid, e) for fid, e in manifest["files"].items() if e.get("status") == "pending"]
    if not pending:
        return
    claimed = claimed_ids(manifest)
    for _fid, entry in pending:
        doomed = [i for i in entry.get("chunk_ids", []) if i not in claimed]
        for start in range(0, len(doomed), batch_limit(settings)):
            vs.delete(ids=doomed[start:start + batch_limit(settings)])
        entry.update(status="interrupted", chunks=0, chunk_ids=[])
        if entry.get("replaces"):
            entry.pop("replaces")
    # An interrupted copy of a name that still has a complete version is noise: drop it.
    complete_names = {e["name"] for e in manifest["files"].values() if e.get("status") == "complete"}
    for fid in [fid for fid, e in manifest["files"].items()
                if e.get("status") == "interrupted" and e["name"] in complete_names]:
        del manifest["files"][fid]
        (kb_dir(kb, settings) / "files" / fid).unlink(missing_ok=True)
    write_manifest(kb, manifest, settings)


def ingest(kb: str, sources: Iterable, *, chunking: ChunkSettings | None = None, progress: ProgressFn | None = None,
           limits: Limits = DEFAULT_LIMITS, embedder=None, create: bool = True, on_file: FileFn | None = None,
           should_stop: StopFn | None = None, settings: Settings | None = None) -> IngestReport:
    """Ingest files into a knowledge base; each file ends indexed or with its own error.

    `sources`: paths, (name, path | bytes) pairs or `Source`s. `chunking` applies when the
    knowledge base is created here; an existing one keeps its own (change it with `rebuild`).
    `on_file(result)`: each file's result as soon as it is final. `should_stop()`: polled
    before every file and every embed batch; when it says stop, the partial file's chunks are
    removed (the knowledge base holds exactly its complete files), the files not reached are
    reported "cancelled", and running the same ingestion again completes it without duplicates.
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
        pipeline = Pipeline(kb, vs, manifest, kb_chunking, settings, limits, progress, len(sources),
                            on_file=on_file, should_stop=should_stop)
        planned = []  # (result, entry, check, replaces, future)
        try:
            _plan_and_write(kb, sources, vs, manifest, pipeline, results, planned, limits, settings)
        except IngestCancelled:
            for _result, _entry, _check, _replaces, future in planned:
                future.cancel()
            _recover(vs, kb, manifest, settings)  # the partial file's chunks go; complete files stay
            for result in results:
                if result.status == "error" and not result.error:
                    result.status, result.note = "cancelled", "cancelled before it was indexed"
            results += [FileResult(file_identity(s.name), "cancelled", note="cancelled before it was read")
                        for s in sources[len(results):]]
            keyword_index.sync(kb, vs, manifest, settings)
            return IngestReport(kb, results, time.perf_counter() - start, cancelled=True)
        keyword_index.sync(kb, vs, manifest, settings)  # the keyword index follows the collection
        pipeline.current = ""
        pipeline.report()
    return IngestReport(kb, results, time.perf_counter() - start)


def _plan_and_write(kb: str, sources: list, vs, manifest: dict, pipeline: Pipeline, results: list[FileResult],
                    planned: list, limits: Limits, settings: Settings) -> None:
    """Check each file and hand it to the parser pool, then split, embed and store them in order."""
    seen: dict[str, str] = {}
    last_of_name = {file_identity(s.name): i for i, s in enumerate(sources)}
    pipeline.report()
    for position, source in enumerate(sources):
        pipeline.check_stop()
        name = file_identity(source.name)
        result = FileResult(name, "error")
        results.append(result)
        if last_of_name[name] != position:
            result.error = f"{name}: this name appears again later in the same upload; the later file was used."
            pipeline.done(result)
            continue
        try:
            data = source.read(limits)
            check = check_bytes(data, name, limits)
        except DocumentError as exc:
            result.error = exc.message + (f" — {exc.hint}" if exc.hint else "")
            pipeline.done(result)
            continue
        except OSError as exc:
            result.error = f"{name}: cannot be read ({exc.strerror or exc})."
            pipeline.done(result)
            continue
        existing = [(fid, e) for fid, e in manifest["files"].items() if e["name"] == name]
        complete = [(fid, e) for fid, e in existing if e.get("status") == "complete"]
        if complete and complete[0][1]["sha256"] == check.sha256:
            result.status, result.chunks, result.file_id = "indexed", complete[0][1]["chunks"], complete[0][0]
            result.note = "already indexed (unchanged)"
            pipeline.done(result)
            continue
        twin = next((e for e in manifest["files"].values()
                     if e["sha256"] == check.sha256 and e.get("status") == "complete"), None)
        if twin is not None or check.sha256 in seen:
            result.status, result.chunks = "indexed", (twin or {}).get("chunks", 0)
            result.note = f"same content as {twin['name'] if twin else seen[check.sha256]}; not added again"
            if complete:  # an edit always replaces the file's chunks: its old text must not be served
                _remove_entry(vs, kb, manifest, complete[0][0], settings)
                result.note += "; its earlier version's chunks were removed"
            pipeline.done(result)
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
                 "encoding": check.encoding, "added": now_iso(), "status": "pending", "chunks": 0}
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
            pipeline.done(result)
            if entry["id"] not in manifest["files"]:
                (kb_dir(kb, settings) / "files" / entry["id"]).unlink(missing_ok=True)
            pipeline.report()
    pipeline.flush()


def rebuild(kb: str, chunking: ChunkSettings | None = None, *, progress: ProgressFn | None = None,
            limits: Limits = DEFAULT_LIMITS, embedder=None, on_file: FileFn | None = None,
            should_stop: StopFn | None = None, settings: Settings | None = None) -> IngestReport:
    """Re-index every kept original into a fresh collection (new chunking or embedder), then swap.

    A stop (IngestCancelled) or any error before the swap drops the new collection: the
    knowledge base stays exactly as it was."""
    settings = settings or get_settings()
    start = time.perf_counter()
    with writer(settings):
        manifest = read_manifest(kb, settings)
        chunking = chunking or ChunkSettings.from_dict(manifest.get("chunking"))
        info = embedder_info(embedder, settings)
        new_collection = f"kb-{uuid.uuid4().hex[:16]}"
        vs = vectorstore(new_collection, info, settings, create_metadata=collection_metadata(info, chunking))
        fresh = {**manifest, "collection": new_collection, "embedder": info.name, "dimension": info.dimension,
                 "chunking": chunking.as_dict(), "files": {}}
        pipeline = Pipeline(kb, vs, fresh, chunking, settings, limits, progress, len(manifest["files"]),
                            persist=False, on_file=on_file, should_stop=should_stop)
        results, planned = [], []
        for fid, entry in manifest["files"].items():
            original = kb_dir(kb, settings) / "files" / fid
            result = FileResult(entry["name"], "error", file_id=fid)
            results.append(result)
            if not original.is_file():
                result.error = f"{entry['name']}: the kept original is missing; upload the file again."
                pipeline.done(result)
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
                    pipeline.done(result)
            pipeline.flush()
        except BaseException:
            try:
                chroma_client(settings).delete_collection(new_collection)
            except Exception:  # noqa: BLE001
                pass
            raise
        write_manifest(kb, fresh, settings)  # the swap
        keyword_index.sync(kb, vs, fresh, settings)
        try:
            chroma_client(settings).delete_collection(manifest["collection"])
        except Exception:  # noqa: BLE001 - the old one may be missing (that may be why we rebuild)
            pass
        for fid in manifest["files"]:
            if fid not in fresh["files"]:
                (kb_dir(kb, settings) / "files" / fid).unlink(missing_ok=True)
    return IngestReport(kb, results, time.perf_counter() - start)

