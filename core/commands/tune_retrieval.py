"""`python -m core tune-retrieval --kb KB --data EVAL [--chunk-sizes 300,400,600] [--apply]` -> JSON.

The retrieval lab (core.evaluation.retrieval_lab) from the command line: sweeps search type × k
(and chunk sizes when given) over an eval file without generation; progress on stderr, the
result on stdout; `--apply` stores the best setting as the knowledge base's own.
"""

from __future__ import annotations

import sys


def _ints(text: str) -> list[int]:
    import argparse

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one number")
    return values


def register(subparsers) -> None:
    from core.evaluation.retrieval_lab import DEFAULT_KS
    from core.knowledge.retrieval import SEARCH_TYPES

    parser = subparsers.add_parser(
        "tune-retrieval", help="find the best retrieval setting on an eval set (JSON on stdout)",
        description="Per setting: hit@k, MRR, context tokens per question, retrieval p50 latency and the "
                    "paired-bootstrap CI of hit@k against the knowledge base's current setting.")
    parser.add_argument("--kb", required=True, help="knowledge base")
    parser.add_argument("--data", required=True, help="eval file (JSONL / JSON / CSV with question and answer)")
    parser.add_argument("--search-types", default=",".join(SEARCH_TYPES),
                        help=f"comma-separated (default {','.join(SEARCH_TYPES)})")
    parser.add_argument("--ks", type=_ints, default=list(DEFAULT_KS),
                        help=f"comma-separated k values (default {','.join(map(str, DEFAULT_KS))})")
    parser.add_argument("--chunk-sizes", type=_ints, default=[],
                        help="also try these chunk sizes (each indexed into a temporary collection)")
    parser.add_argument("--chunk-overlap", type=int, help="overlap for --chunk-sizes (default: the kb's ratio)")
    parser.add_argument("--gold", choices=["labels", "answer"], default="labels",
                        help="labels: an item's source/chunk when given; answer: chunks holding a gold answer")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--apply", action="store_true", help="store the best setting as the kb's own")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def run(args) -> int:
    from core.__main__ import print_json
    from core.evaluation.evalset_files import load_eval_file
    from core.evaluation.evalsets import EvalSet
    from core.evaluation.retrieval_lab import apply_best, run_lab
    from core.knowledge.manifest import read_manifest

    read_manifest(args.kb)  # a missing kb fails before the eval file is read
    eval_set = load_eval_file(args.data)
    if args.limit is not None:
        if args.limit < 1:
            from core.runtime.errors import CrossroadsError

            raise CrossroadsError("--limit must be at least 1.")
        eval_set = EvalSet(eval_set.name, eval_set.items[:args.limit], eval_set.kind, eval_set.labels)

    def progress(p) -> None:
        if not args.quiet:
            print(f"\r{p.describe()}   ", end="", file=sys.stderr, flush=True)

    result = run_lab(args.kb, eval_set, search_types=[t.strip() for t in args.search_types.split(",") if t.strip()],
                     ks=args.ks, chunk_sizes=args.chunk_sizes, chunk_overlap=args.chunk_overlap, gold=args.gold,
                     progress=progress)
    if not args.quiet:
        print(file=sys.stderr)
    if args.apply:
        result["applied"] = apply_best(args.kb, result).as_dict()
    print_json(result)
    return 0
