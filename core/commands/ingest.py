"""`python -m core ingest --kb KB PATH...`: ingest files (or folders) into a knowledge base."""

from __future__ import annotations

import sys

from core.knowledge.documents import ChunkSettings

_DEFAULT = ChunkSettings()  # one source for the defaults: the page and the README quote the same


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ingest", help="ingest documents into a knowledge base (JSON summary on stdout)",
        description="Each file ends indexed or with its own error; the others still ingest. "
                    "Exit status 0 when every file is indexed, 1 otherwise.")
    parser.add_argument("--kb", help="knowledge base name (created if missing)")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (folders: their files, recursively)")
    parser.add_argument("--chunk-size", type=int, help=f"chunk size for a new knowledge base (default {_DEFAULT.size})")
    parser.add_argument("--chunk-overlap", type=int, help=f"chunk overlap for a new knowledge base (default {_DEFAULT.overlap})")
    parser.add_argument("--chunk-unit", choices=["chars", "tokens"], help=f"measure chunks in characters or tokens (default {_DEFAULT.unit})")
    parser.add_argument("--background", action="store_true",
                        help="run as a background job (the one the Knowledge page follows): print its run id at once")
    parser.add_argument("--resume", metavar="RUN_ID", help="resume a cancelled or interrupted ingestion job "
                        "(indexed files are skipped); waits for it unless --background")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def expand_paths(paths) -> tuple[list[tuple[str, object]], list[dict]]:
    """(name, path) of every file to ingest, and the files left out with why.

    A folder's files are named by their path relative to the folder ("sub1/report.txt"), so two
    files of one base name in different sub-folders are two files. Hidden files and folders
    (a name starting with ".") are skipped, each with a line in the report, never silently.
    """
    from pathlib import Path

    files, skipped = [], []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            files.append((path.name, path))
            continue
        for p in sorted(path.rglob("*")):
            rel = p.relative_to(path)
            if any(part.startswith(".") for part in rel.parts):
                if p.is_file() or p.is_symlink():
                    skipped.append({"name": rel.as_posix(), "status": "skipped",
                                    "note": "hidden (a name in its path starts with '.'); not ingested"})
            elif p.is_file():
                files.append((rel.as_posix(), p))
    return files, skipped


def run(args) -> int:
    from core.__main__ import print_json
    from core.knowledge.documents import ChunkSettings
    from core.knowledge.indexing import ingest
    from core.knowledge.manifest import kb_exists
    from core.knowledge.pipeline import Source
    from core.runtime.errors import CrossroadsError

    if args.resume:
        return _resume(args)
    if not args.kb or not args.paths:
        raise CrossroadsError("ingest needs --kb KB and at least one PATH.", hint="python -m core ingest --kb docs FILE...")
    files, skipped = expand_paths(args.paths)
    missing = [str(p) for _, p in files if not p.is_file()]
    if missing:
        raise CrossroadsError(f"No such file: {missing[0]}", hint="Check the path.")
    chunking = None
    if args.chunk_size or args.chunk_overlap or args.chunk_unit:
        unit = args.chunk_unit or _DEFAULT.unit
        size = args.chunk_size or (_DEFAULT.size if unit == _DEFAULT.unit else 128)
        overlap = args.chunk_overlap if args.chunk_overlap is not None else (
            _DEFAULT.overlap if size == _DEFAULT.size and unit == _DEFAULT.unit else size * _DEFAULT.overlap // _DEFAULT.size)
        chunking = ChunkSettings(size=size, overlap=overlap, unit=unit)
        if kb_exists(args.kb):
            print(f"note: {args.kb} already exists; its own chunking is kept "
                  "(use `python -m core kb rebuild KB --chunk-size ...` to change it)", file=sys.stderr)

    def progress(p) -> None:
        if not args.quiet:
            print(f"\r{p.describe()}   ", end="", file=sys.stderr, flush=True)

    if args.background:
        from core.knowledge.ingest_job import start_ingest

        job = start_ingest(args.kb, files, chunking)
        print_json({"run_id": job.id, "kb": args.kb, "files": len(files), "state": job.state, "skipped": skipped})
        return 0
    report = ingest(args.kb, [Source(name, path=p) for name, p in files], chunking=chunking, progress=progress)
    if not args.quiet:
        print(file=sys.stderr)
        for s in skipped:
            print(f"skipped {s['name']}: {s['note']}", file=sys.stderr)
    print_json(report.as_dict() | {"skipped": skipped})
    return 0 if report.ok else 1


def _resume(args) -> int:
    from core.__main__ import print_json
    from core.knowledge import ingest_job
    from core.runtime import jobs
    from core.runtime.errors import CrossroadsError

    job = jobs.get(args.resume)
    if job.kind != ingest_job.KIND:
        raise CrossroadsError(f"{args.resume} is a {job.kind} job, not an ingestion.",
                              hint="Resume training runs with `python -m core finetune --resume RUN_ID`.")
    job = jobs.resume(job.id)
    if args.background:
        print_json({"run_id": job.id, "state": job.state})
        return 0
    job = jobs.wait(job.id, poll=0.5)
    if not args.quiet and job.status.get("message"):
        print(job.status["message"], file=sys.stderr)
    result = job.status.get("result") or {}
    print_json({"run_id": job.id, "state": job.state, **result})
    return 0 if job.state == "completed" and all(f["status"] == "indexed" for f in result.get("files", [])) else 1
