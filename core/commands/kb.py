"""`python -m core kb list|create|delete|rename|rebuild|files`: manage knowledge bases."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("kb", help="list, create, delete, rename or rebuild knowledge bases")
    parser.add_argument("action", choices=["list", "create", "delete", "rename", "rebuild", "files"])
    parser.add_argument("names", nargs="*", metavar="KB", help="knowledge base (rename: OLD NEW)")
    parser.add_argument("--chunk-size", type=int, help="create/rebuild: chunk size")
    parser.add_argument("--chunk-overlap", type=int, help="create/rebuild: chunk overlap")
    parser.add_argument("--chunk-unit", choices=["chars", "tokens"], help="create/rebuild: chunk unit")
    parser.set_defaults(func=run)


def _chunking(args, current=None):
    from core.knowledge.documents import ChunkSettings

    if not (args.chunk_size or args.chunk_overlap is not None or args.chunk_unit):
        return current
    base = current or ChunkSettings()
    return ChunkSettings(size=args.chunk_size or base.size,
                         overlap=args.chunk_overlap if args.chunk_overlap is not None else base.overlap,
                         unit=args.chunk_unit or base.unit)


def run(args) -> int:
    from core.__main__ import print_json
    from core.knowledge import indexing as KI
    from core.knowledge import manifest as KM
    from core.knowledge import store as KS
    from core.runtime.errors import CrossroadsError

    need = {"list": 0, "create": 1, "delete": 1, "rebuild": 1, "files": 1, "rename": 2}[args.action]
    if len(args.names) != need:
        raise CrossroadsError(f"`kb {args.action}` takes {need} name(s), got {len(args.names)}.")
    if args.action == "list":
        print_json(KM.list_kbs())
    elif args.action == "create":
        manifest = KS.create_kb(args.names[0], _chunking(args))
        print_json({"kb": manifest["name"], "chunking": manifest["chunking"], "created": True})
    elif args.action == "delete":
        KS.delete_kb(args.names[0])
        print_json({"kb": args.names[0], "deleted": True})
    elif args.action == "rename":
        KS.rename_kb(*args.names)
        print_json({"kb": args.names[1], "renamed_from": args.names[0]})
    elif args.action == "files":
        print_json(KM.kb_files(args.names[0]))
    else:
        kb = args.names[0]
        chunking = _chunking(args, KM.kb_chunking(kb))

        def progress(p) -> None:
            print(f"\r{p.describe()}   ", end="", file=sys.stderr, flush=True)

        report = KI.rebuild(kb, chunking, progress=progress)
        print(file=sys.stderr)
        print_json({**report.as_dict(), "chunking": chunking.as_dict()})
        return 0 if report.ok else 1
    return 0
