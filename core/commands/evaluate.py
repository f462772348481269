"""`python -m core evaluate`: an eval set through the chosen arms -> report JSON."""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="score the arms on an eval set (JSON report)")
    parser.add_argument("--kb", help="knowledge base (needed by rag, hybrid)")
    parser.add_argument("--adapter", help="LoRA adapter name (needed by ft, hybrid); a seed group's name "
                                          "(finetune --seeds) runs every seed")
    parser.add_argument("--data", help="eval set: JSONL/JSON/CSV with question+answer or text+label")
    parser.add_argument("--cloze", type=int, metavar="N",
                        help="instead of --data: N fill-in-the-blank questions generated from --kb")
    parser.add_argument("--arms", default="base,rag,ft,hybrid",
                        help="comma-separated: base,rag,ft,hybrid; for classification / extraction: "
                             "base,examples,ft,hybrid; all = every arm the task has")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--k", type=int, default=None, help="chunks retrieved per question (tasks: retrieved "
                                                             "examples per text; default: chosen by a sweep)")
    from core.commands.task import TASK_CHOICES, TASK_HELP

    parser.add_argument("--task", choices=TASK_CHOICES, default=None, help=TASK_HELP)
    parser.add_argument("--train-data", help="classification / extraction: the labeled training rows, the pool of "
                                             "the retrieved-examples arms (examples, hybrid)")
    parser.add_argument("--learning-curve", action="store_true",
                        help="with --train-data: the arms at 25%%, 50%%, 100%% of the training rows (an adapter "
                             "trained per share, named --adapter-25 / -50 / -100); JSON for one chart")
    parser.add_argument("--preset", default="quick", choices=["quick", "balanced", "thorough"],
                        help="--learning-curve: the fine-tune preset of each point (default quick)")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=4, help="questions generated together")
    parser.add_argument("--limit", type=int, help="only the first N items")
    parser.add_argument("--dedupe", action="store_true", help="ask each repeated question once")
    from core.commands.ask import add_engine_argument

    add_engine_argument(parser)
    parser.set_defaults(func=run)


def build_setup(args):
    from dataclasses import replace

    from core.evaluation.arms import ArmSetup, parse_arms, starting_retrieval
    from core.runtime.generation import Decoding

    # The kb's own setting (retrieval lab), or the one a RAFT adapter was trained with.
    retrieval, _ = starting_retrieval(args.kb, args.adapter)
    retrieval = retrieval if args.k is None else replace(retrieval, k=args.k)
    decoding = Decoding() if args.max_new_tokens is None else replace(Decoding(), max_new_tokens=args.max_new_tokens)
    arms = parse_arms("base,rag,ft,hybrid" if args.arms == "all" else args.arms)
    # --kb / --adapter are optional when no chosen arm needs them: drop what cannot run only if
    # the user left the default arm list; an explicit list that cannot run is an error.
    if args.arms == "base,rag,ft,hybrid":
        arms = tuple(a for a in arms if (a not in ("rag", "hybrid") or args.kb) and (a not in ("ft", "hybrid") or args.adapter))
    return ArmSetup(arms=arms, kb=args.kb, adapter=args.adapter, retrieval=retrieval, decoding=decoding)


def load_set(args):
    from core.evaluation.evalset_files import load_eval_file
    from core.evaluation.evalsets import EvalSet
    from core.runtime.errors import CrossroadsError

    if args.cloze:
        if not args.kb:
            raise CrossroadsError("--cloze needs --kb: the questions come from its documents.")
        from core.evaluation.cloze import cloze_set
        from core.training.seeds import representative

        eval_set = cloze_set(args.kb, args.cloze, adapter=representative(getattr(args, "adapter", None)))
    elif args.data:
        eval_set = load_eval_file(Path(args.data))
    else:
        raise CrossroadsError("Give an eval set: --data FILE or --cloze N.")
    if repeats := eval_set.duplicates():
        if getattr(args, "dedupe", False):
            eval_set = eval_set.deduplicated()
        print(f"Warning: {repeats} item(s) repeat an earlier question; repeats narrow the confidence intervals "
              + ("(removed: --dedupe)." if getattr(args, "dedupe", False) else "(--dedupe keeps each question once)."),
              file=sys.stderr, flush=True)
    if args.limit:
        eval_set = EvalSet(eval_set.name, eval_set.items[: args.limit], eval_set.kind, eval_set.labels)
    return eval_set


class _InterruptToStop:
    """The first Ctrl-C asks the evaluation to stop (it ends within one decode step and the
    partial report is saved); a second one interrupts as usual."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)
        print("Stopping after the current step (Ctrl-C again to abort without saving)…", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def __call__(self) -> bool:
        return self.requested


def run(args) -> int:
    from core.__main__ import print_json
    from core.commands.ask import apply_engine_argument
    from core.evaluation.evaluate import evaluate_any, save_report

    apply_engine_argument(args)
    from core.commands import task as task_cli

    if task_cli.wants_task(args):
        return task_cli.evaluate(args)
    setup = build_setup(args)
    eval_set = load_set(args)

    def progress(p) -> None:
        eta = f", ETA {p.eta_s:.0f} s" if p.eta_s is not None else ""
        print(f"{p.done}/{p.total} questions, {p.elapsed_s:.0f} s{eta}", file=sys.stderr, flush=True)

    with _InterruptToStop() as interrupted:
        report = evaluate_any(eval_set, setup, batch_size=args.batch_size, on_progress=progress, should_stop=interrupted)
    path = save_report(report)
    if args.out:
        save_report(report, path=args.out)
    print(f"Verdict: {report['verdict']}", file=sys.stderr, flush=True)
    if report["partial"]:
        print(f"Partial report ({report['n']} of {len(eval_set)} questions) saved to {path}.", file=sys.stderr, flush=True)
    print_json(report)  # the JSON opens with "verdict" and "verdict_metric"
    return 130 if interrupted.requested else 0
