"""`python -m core models prepare|add|list|use|remove`: the base models of this workspace.

- `prepare`: convert the active model for the configured engine now (otherwise on first use): a
  GGUF to safetensors, and for the ct2 engines to CTranslate2 (float32, or int8 for ct2-int8);
- `add PATH --name NAME [--use]`: a local transformers folder or a local .gguf file (nothing is
  downloaded: a hub id is refused with the way to fetch it elsewhere);
- `list`: every model with its size, estimated memory and tokens/s here, engines, device, fit;
- `use NAME`: make it the active model of this workspace; `remove NAME`: forget an added one.
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="the base models: prepare, add, list, use, remove")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("prepare", help="convert the active model for the configured engine now (once)")
    p.add_argument("--engine", choices=["auto", "hf", "ct2", "ct2-int8"], help="engine to prepare (default: the setting)")
    p = sub.add_parser("add", help="add a local transformers folder or .gguf file as a base model")
    p.add_argument("path")
    p.add_argument("--name", required=True, help="the name adapters, reports and --model use")
    p.add_argument("--use", action="store_true", help="make it the active model too")
    sub.add_parser("list", help="the models with estimates for this machine (JSON)")
    p = sub.add_parser("use", help="make a model the active one of this workspace")
    p.add_argument("name")
    p = sub.add_parser("remove", help="forget an added model (its files stay where they are)")
    p.add_argument("name")
    parser.set_defaults(func=run)


def run(args) -> int:
    from core.__main__ import print_json
    from core.runtime import model_registry
    from core.runtime.settings import get_settings, reset_settings

    data_dir = get_settings().data_dir
    if args.action == "prepare":
        return _prepare(args)
    if args.action == "add":
        entry = model_registry.add(data_dir, args.path, args.name, activate=args.use)
        print_json({"added": entry.name, "active": model_registry.active_name(data_dir),
                    **model_registry.describe(entry, data_dir=data_dir)})
    elif args.action == "list":
        active = get_settings().model_name
        facts = model_registry.machine_facts()
        print_json([{**model_registry.describe(e, facts, data_dir), "active": e.name == active}
                    for e in model_registry.list_models(data_dir)])
    elif args.action == "use":
        entry = model_registry.use(data_dir, args.name)
        reset_settings()
        print_json({"active": entry.name, "path": entry.path})
    else:
        model_registry.remove(data_dir, args.name)
        print_json({"removed": args.name, "active": model_registry.active_name(data_dir)})
    return 0


def _prepare(args) -> int:
    import time

    from core.__main__ import print_json
    from core.commands.ask import apply_engine_argument
    from core.runtime import engines, models
    from core.runtime.settings import get_settings

    apply_engine_argument(args)
    start = time.perf_counter()
    engine = engines.get_engine(progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    models.load_embedder()
    print_json({**engine.describe(), "model": get_settings().model_name, "generator": models.generator_path(),
                "embedder": str(models.embedder_path()), "seconds": round(time.perf_counter() - start, 2)})
    return 0
