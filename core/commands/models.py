"""`python -m core models prepare`: convert the models for the configured engine now (otherwise
on first use): the bundled GGUF to safetensors, and for the ct2 engines to CTranslate2 (float32, or int8 for ct2-int8)."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="prepare the models for the configured engine (convert once)")
    parser.add_argument("action", choices=["prepare"])
    parser.add_argument("--engine", choices=["auto", "hf", "ct2", "ct2-int8"], help="engine to prepare (default: the setting)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import time

    from core.__main__ import print_json
    from core.commands.ask import apply_engine_argument
    from core.runtime import engines, models

    apply_engine_argument(args)
    start = time.perf_counter()
    engine = engines.get_engine(progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    models.load_embedder()
    print_json({**engine.describe(), "generator": models.generator_path(), "embedder": str(models.embedder_path()),
                "seconds": round(time.perf_counter() - start, 2)})
    return 0
