"""`python -m core models prepare`: convert the bundled generator now (otherwise on first use)."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="prepare the bundled models (convert the GGUF once)")
    parser.add_argument("action", choices=["prepare"])
    parser.set_defaults(func=run)


def run(args) -> int:
    import time

    from core.__main__ import print_json
    from core.runtime import models

    start = time.perf_counter()
    models.load_generator(progress=lambda msg: print(msg, file=sys.stderr))
    models.load_embedder()
    print_json({"generator": models.generator_path(), "embedder": str(models.embedder_path()),
                "seconds": round(time.perf_counter() - start, 2)})
    return 0
