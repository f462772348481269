"""The CLI: `python -m core <command>`. JSON on stdout, progress on stderr.

Commands live in core/commands/<name>.py; each defines `register(subparsers)` and imports its
heavy libraries inside its run function, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys

import core.commands
from core.runtime.errors import CrossroadsError


class CommandParser(argparse.ArgumentParser):
    """Every (sub)command accepts `--data-dir` and `--model`, before or after the command name.

    Subparsers inherit the parser class, so nested commands (`kb list`) get it too; SUPPRESS
    keeps a level where it was not given from overwriting the level where it was.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--data-dir", default=argparse.SUPPRESS,
                          help="data directory (default ./data or $CROSSROADS_DATA_DIR)")
        self.add_argument("--model", default=argparse.SUPPRESS, metavar="NAME",
                          help="base model for this command, by its name in `models list` (default: the "
                               "workspace's active model, or $CROSSROADS_MODEL)")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m core",
        description="Crossroads: measure RAG vs LoRA fine-tuning on your own data, then decide.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(m.name for m in pkgutil.iter_modules(core.commands.__path__)):
        importlib.import_module(f"core.commands.{module}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "data_dir", None):
        from core.runtime.settings import reset_settings

        os.environ["CROSSROADS_DATA_DIR"] = args.data_dir
        reset_settings()
    if getattr(args, "model", None):  # inherited by the jobs this command starts
        from core.runtime.settings import reset_settings

        os.environ["CROSSROADS_MODEL"] = args.model
        reset_settings()
    try:
        return args.func(args)
    except CrossroadsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen fault: one line, the traceback on request
        if os.environ.get("CROSSROADS_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {str(exc)[:300]} "
              "(run again with CROSSROADS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def print_json(payload) -> None:
    print(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
