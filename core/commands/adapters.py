"""`python -m core adapters list|delete|rename|export|import`: manage trained LoRA adapters."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("adapters", help="list, delete, rename, export or import LoRA adapters")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="adapters in the data directory (JSON)")
    p = sub.add_parser("delete", help="delete an adapter")
    p.add_argument("name")
    p = sub.add_parser("rename", help="rename an adapter")
    p.add_argument("name")
    p.add_argument("new_name")
    p = sub.add_parser("export", help="write an adapter as a zip")
    p.add_argument("name")
    p.add_argument("--out", required=True, help="zip file to write")
    p = sub.add_parser("import", help="import an adapter zip (safetensors only, checked against the base model)")
    p.add_argument("zip")
    p.add_argument("--name", default=None)
    parser.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from core.__main__ import print_json
    from core.training import adapters
    from core.training.adapter_checks import AdapterError

    if args.action == "list":
        print_json([r.summary() for r in adapters.list_adapters()])
    elif args.action == "delete":
        adapters.delete(args.name)
        print_json({"deleted": args.name})
    elif args.action == "rename":
        record = adapters.rename(args.name, args.new_name)
        print_json({"renamed": args.name, "to": record.name})
    elif args.action == "export":
        payload = adapters.export_zip(args.name)
        try:
            Path(args.out).write_bytes(payload)
        except OSError as exc:
            raise AdapterError(f"Cannot write {args.out}: {exc.strerror or exc}.",
                               hint="Choose a writable path with enough free space.") from exc
        print_json({"exported": args.name, "zip": args.out})
    else:
        try:
            payload = Path(args.zip).read_bytes()
        except OSError as exc:
            raise AdapterError(f"Cannot read {args.zip}: {exc.strerror or exc}.",
                               hint="Give the path of an adapter zip exported by Crossroads.") from exc
        record = adapters.import_zip(payload, name=args.name)
        print_json({"imported": record.name, **record.summary()})
    return 0
