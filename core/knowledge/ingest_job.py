"""Ingestion as a background job: close the tab, come back, it is still indexing.

    python -m core.knowledge.ingest_job --run-dir data/runs/<id> [--resume]

The starter stores the uploads in the run directory (inputs/<n>, generated names; the display
names are in spec.json), so the job owns its inputs and a reload, a page switch or an app
restart change nothing. The worker holds the knowledge writer lock while it parses, splits,
embeds and writes (core.knowledge.indexing); its status carries the latest progress and
progress.jsonl one record per file as soon as that file is indexed or has failed.

Cancel (the run's STOP file) is honoured before each file and between two embed batches: the
partial file's chunks are removed, the complete files stay. A kill -9 leaves a "pending" entry
that the next writer undoes (the manifest protocol). Resume runs the same spec again: files
already indexed are recognised by their content and skipped, so every chunk is written once.

Modes: "ingest" (uploaded files into a knowledge base), "demo" (the demo workspace) and
"rebuild" (re-index a knowledge base's kept originals, e.g. with new chunking; the old index
serves until the swap).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from core.knowledge.documents import ChunkSettings
from core.knowledge.manifest import kb_exists, validate_kb_name
from core.knowledge.pipeline import FileResult, IngestCancelled, IngestProgress, IngestReport
from core.runtime import jobs
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

KIND = "ingest"
MODULE = "core.knowledge.ingest_job"
GROUP = "ingest"  # one ingestion at a time per data directory, like the writer lock it takes
_HEADROOM = 50_000_000  # bytes free beyond the copies (inputs + kept originals + index)


# ---------------------------------------------------------------- starting (the app, the CLI)

def start_ingest(kb: str, uploads: Sequence[tuple[str, bytes | Path]], chunking: ChunkSettings | None = None,
                 settings: Settings | None = None) -> jobs.Job:
    """Store the uploads in a new run directory and start the worker on them; returns at once.

    `uploads`: (display name, bytes or a path). A second ingestion while one runs is refused
    (JobBusy) with a clear message: writes to the index are never interleaved."""
    settings = settings or get_settings()
    kb = validate_kb_name(kb)
    if not uploads:
        raise jobs.JobError("No files to ingest.", hint="Choose at least one file.")
    # Nothing but empty files: refused here, at once, not by the worker after the embedding model
    # has loaded. Beside files with text, an empty one is reported by the job, file by file, and
    # the others are indexed (refusing the whole upload would make the user upload them again).
    empty = [name for name, payload in uploads if (not payload.strip() if isinstance(payload, bytes)
                                                   else Path(payload).stat().st_size == 0)]
    if len(empty) == len(uploads):
        raise jobs.JobError(f"Nothing to index in {', '.join(empty)}: the file is empty (or only blank space).",
                            hint="Upload a file with text in it.")
    files = {f"inputs/{n:05d}": payload for n, (_name, payload) in enumerate(uploads)}
    spec = {"mode": "ingest", "kb": kb, "chunking": chunking.as_dict() if chunking else None,
            "files": [{"name": name, "input": key} for key, (name, _p) in zip(files, uploads, strict=True)]}
    size = sum(len(p) if isinstance(p, bytes) else Path(p).stat().st_size for _n, p in uploads)
    return jobs.start(KIND, MODULE, spec, group=GROUP, settings=settings, files=files,
                      min_free_bytes=3 * size + _HEADROOM)


def start_demo(settings: Settings | None = None) -> jobs.Job:
    """Ingest the demo documents into `demo` as a job (the knowledge base exists at once, so the
    page can select it and follow the job)."""
    from core.knowledge.demo import DEMO_KB
    from core.knowledge.store import create_kb

    settings = settings or get_settings()
    if not kb_exists(DEMO_KB, settings):
        create_kb(DEMO_KB, settings=settings)
    return jobs.start(KIND, MODULE, {"mode": "demo", "kb": DEMO_KB}, group=GROUP, settings=settings)


def start_rebuild(kb: str, chunking: ChunkSettings | None = None, settings: Settings | None = None) -> jobs.Job:
    spec = {"mode": "rebuild", "kb": validate_kb_name(kb), "chunking": chunking.as_dict() if chunking else None}
    return jobs.start(KIND, MODULE, spec, group=GROUP, settings=settings)


def kb_jobs(kb: str, settings: Settings | None = None) -> list[jobs.Job]:
    """This knowledge base's ingestion jobs, newest first."""
    return [j for j in jobs.list_jobs(KIND, settings) if j.spec.get("kb") == kb]


def indexing(kb: str, settings: Settings | None = None) -> jobs.Job | None:
    """The ingestion job writing `kb` right now, if any (Ask / Compare / Evaluate say so)."""
    return next((j for j in kb_jobs(kb, settings) if j.active), None)


def file_results(job: jobs.Job) -> list[dict]:
    """Each file's latest result (a resumed job reports its files again: the last word counts)."""
    latest: dict[str, dict] = {}
    for record in job.progress():
        if record.get("event") == "file" and isinstance(record.get("name"), str):
            latest[record["name"]] = record
    return list(latest.values())


def job_progress(job: jobs.Job) -> IngestProgress | None:
    raw = job.status.get("progress")
    if not isinstance(raw, dict):
        return None
    try:
        return IngestProgress(**{f.name: raw[f.name] for f in dataclasses.fields(IngestProgress) if f.name in raw})
    except TypeError:
        return None


# ---------------------------------------------------------------- the worker

def _sources(run_dir: Path, spec: dict) -> list[tuple[str, Path]]:
    return [(f["name"], run_dir / f["input"]) for f in spec.get("files", [])]


def execute(run) -> IngestReport:
    from core.knowledge.demo import DEMO_KB, demo_sources
    from core.knowledge.indexing import ingest, rebuild

    spec = run.spec
    last = [0.0]

    def on_progress(p: IngestProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or p.files_done >= p.files_total:
            last[0] = now
            run.update(progress=dataclasses.asdict(p), message=p.describe() + (f" · {p.current}" if p.current else ""))

    def on_file(result: FileResult) -> None:
        run.progress(event="file", **result.as_dict())

    # Until the first file's progress: say what takes the time (the embedding model loads first).
    run.update(message="Loading the embedding model and opening the index (about 20–30 s the first time); "
                       "then parsing and embedding the files…")
    common = {"progress": on_progress, "on_file": on_file, "should_stop": run.stop_requested}
    chunking = ChunkSettings.from_dict(spec["chunking"]) if spec.get("chunking") else None
    if spec["mode"] == "ingest":
        return ingest(spec["kb"], _sources(run.run_dir, spec), chunking=chunking, **common)
    if spec["mode"] == "demo":
        return ingest(DEMO_KB, demo_sources(), **common)
    if spec["mode"] == "rebuild":
        return rebuild(spec["kb"], chunking, **common)
    raise jobs.JobError(f"Unknown ingestion mode {spec['mode']!r}.")


def run_worker(run_dir: Path) -> int:
    from core.runtime.jobrun import JobRun

    with JobRun(run_dir) as run:
        try:
            report = execute(run)
        except IngestCancelled:  # a rebuild stopped before its swap: nothing changed
            run.finish("cancelled", message="Cancelled; the knowledge base is unchanged.")
            return 0
        if report.cancelled:
            done = sum(f.status == "indexed" for f in report.files)
            run.finish("cancelled", result=report.as_dict(),
                       message=f"Cancelled after {done} of {len(report.files)} files; Resume indexes the rest.")
            return 0
        run.finish("completed", result=report.as_dict())
        shutil.rmtree(run.run_dir / "inputs", ignore_errors=True)  # the knowledge base keeps the originals
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description="ingestion worker")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="run the same spec again (indexed files are skipped)")
    args = parser.parse_args(argv)
    if not (args.run_dir / "spec.json").is_file():
        print(f"error: no spec.json in {args.run_dir}", file=sys.stderr)
        return 2
    try:
        return run_worker(args.run_dir)
    except CrossroadsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
