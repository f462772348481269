"""`python -m core ask --kb KB --arms rag "question"`: answer with one or more arms, as JSON.

Arms are looked up in ARMS (name -> function(args, question) -> record); today `rag`.
The Compare feature adds base, ft and hybrid by registering more entries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

ARMS: dict[str, Callable] = {}


def arm(name: str):
    def wrap(fn):
        ARMS[name] = fn
        return fn
    return wrap


@arm("rag")
def _rag(args, question: str) -> dict:
    from core.generation import Decoding
    from core.rag import RetrievalConfig, answer_rag

    if not args.kb:
        from core.errors import CrossroadsError

        raise CrossroadsError("The rag arm needs a knowledge base.", hint="Pass --kb KB.")
    config = RetrievalConfig(k=args.k, search_type=args.search_type, min_score=args.min_score)
    stream = answer_rag(args.kb, question, config=config, decoding=Decoding(max_new_tokens=args.max_new_tokens))
    for piece in stream:
        if args.stream:
            print(piece, end="", file=sys.stderr, flush=True)
    if args.stream:
        print(file=sys.stderr)
    return stream.record


KNOWN_ARMS = ("base", "rag", "ft", "hybrid")


def register(subparsers) -> None:
    from core.rag import DEFAULT_K, DEFAULT_MIN_SCORE, SEARCH_TYPES

    parser = subparsers.add_parser("ask", help="answer a question with the chosen arms (JSON on stdout)")
    parser.add_argument("question")
    parser.add_argument("--kb", help="knowledge base for the retrieval arms")
    parser.add_argument("--arms", default="rag", help="comma-separated arms (base,rag,ft,hybrid; default rag)")
    parser.add_argument("--k", type=int, default=DEFAULT_K, help=f"chunks retrieved (default {DEFAULT_K})")
    parser.add_argument("--search-type", default="similarity", choices=SEARCH_TYPES)
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE,
                        help=f"relevance a chunk needs (default {DEFAULT_MIN_SCORE}); none passing = \"I don't know\"")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--stream", action="store_true", help="stream the answer text to stderr as it is generated")
    parser.set_defaults(func=run)


def run(args) -> int:
    from core.__main__ import print_json
    from core.errors import CrossroadsError

    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if not arms:
        raise CrossroadsError("No arm given.", hint="Use --arms rag.")
    for name in arms:
        if name not in ARMS:
            raise CrossroadsError(f"Arm {name!r} is not available.",
                                  hint=f"Available: {', '.join(sorted(ARMS))}." if name in KNOWN_ARMS
                                  else f"Arms are {', '.join(KNOWN_ARMS)}.")
    results = {name: ARMS[name](args, args.question) for name in arms}
    payload = {"question": args.question, "kb": args.kb, "arms": results}
    if len(arms) == 1:
        payload.update(results[arms[0]])
    print_json(payload)
    return 0
