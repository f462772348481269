"""`python -m core ask [--kb KB] [--adapter NAME] --arms base,rag,ft,hybrid "question"` -> JSON.

Every arm answers through core.evaluation.arms (one engine, one decoding, batched). The payload is
`{"question", "kb", "adapter", "engine", "quantization", ..., "arms": {ARM: record}}` (each record
names its engine and quantization too); with a single arm its record is also given at the top
level (`answer`, `sources`, timings). `--engine hf|ct2|ct2-int8` picks the engine for this run.
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    from core.knowledge.retrieval import DEFAULT_K, DEFAULT_MIN_SCORE, SEARCH_TYPES
    from core.runtime.generation import Decoding

    parser = subparsers.add_parser("ask", help="answer a question with the chosen arms (JSON on stdout)")
    parser.add_argument("question")
    parser.add_argument("--kb", help="knowledge base for the retrieval arms (rag, hybrid)")
    parser.add_argument("--adapter", help="LoRA adapter for the fine-tuned arms (ft, hybrid)")
    parser.add_argument("--arms", default="rag", help="comma-separated arms: base,rag,ft,hybrid (default rag)")
    parser.add_argument("--k", type=int, help=f"chunks retrieved (default: the kb's setting, else {DEFAULT_K})")
    parser.add_argument("--search-type", choices=SEARCH_TYPES,
                        help="default: the kb's setting (retrieval lab), else hybrid")
    parser.add_argument("--min-score", type=float,
                        help=f"relevance a chunk needs (default {DEFAULT_MIN_SCORE}); none passing = \"I don't know\"")
    parser.add_argument("--max-new-tokens", type=int, default=Decoding().max_new_tokens)
    from core.commands.task import TASK_CHOICES, TASK_HELP

    parser.add_argument("--task", choices=TASK_CHOICES, default=None, help=TASK_HELP + "; the question is the text")
    parser.add_argument("--train-data", help="classification / extraction: labeled rows to retrieve examples from "
                                             "(and the label set / entity types)")
    parser.add_argument("--labels", help="classification without --train-data: the label set, comma-separated")
    parser.add_argument("--entity-types", help="extraction without --train-data: the entity types, comma-separated")
    parser.add_argument("--stream", action="store_true", help="stream answer text to stderr as it is generated")
    add_engine_argument(parser)
    parser.set_defaults(func=run)


def add_engine_argument(parser) -> None:
    parser.add_argument("--engine", choices=["auto", "hf", "ct2", "ct2-int8"],
                        help="generation engine (default: CROSSROADS_ENGINE, else auto = ct2 on CPU, hf on CUDA)")


def apply_engine_argument(args) -> None:
    """`--engine` is the CROSSROADS_ENGINE setting for this process (and the jobs it starts)."""
    import os

    from core.runtime.settings import reset_settings

    if getattr(args, "engine", None):
        os.environ["CROSSROADS_ENGINE"] = args.engine
        reset_settings()


def run(args) -> int:
    from dataclasses import replace

    from core.__main__ import print_json
    from core.evaluation.arms import Arms, ArmSetup, parse_arms, starting_retrieval
    from core.runtime.generation import Decoding

    apply_engine_argument(args)
    from core.commands import task as task_cli

    if task_cli.wants_task(args) or args.labels or args.entity_types:
        return task_cli.ask(args)
    arms = parse_arms(args.arms)
    retrieval, _ = starting_retrieval(args.kb, args.adapter)  # the kb's setting, or a RAFT adapter's training one
    given = {"k": args.k, "search_type": args.search_type, "min_score": args.min_score}
    retrieval = replace(retrieval, **{name: value for name, value in given.items() if value is not None})
    setup = ArmSetup(arms=arms, kb=args.kb, adapter=args.adapter, retrieval=retrieval,
                     decoding=Decoding(max_new_tokens=args.max_new_tokens))
    engine = Arms(setup, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    prepared = engine.prepare(args.question)
    for answer, piece in engine.stream(list(prepared.values())):
        if args.stream:
            print(f"[{answer.arm}] {piece}" if len(arms) > 1 else piece, end="", file=sys.stderr, flush=True)
    if args.stream:
        print(file=sys.stderr)
    results = {arm: answer.record() for arm, answer in prepared.items()}
    payload = {"question": args.question, "kb": args.kb, "adapter": args.adapter, **engine.engine.describe(),
               "retrieval": setup.describe()["retrieval"] if args.kb else None,
               "arms": results}
    if len(arms) == 1:
        payload.update(results[arms[0]])
    print_json(payload)
    return 0
