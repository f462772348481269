"""`python -m core finetune --data FILE --name NAME [--preset ...] [options]`: train a LoRA adapter.

Runs the training worker as a background job (the same one the Fine-tune page starts), follows
its progress on stderr, and prints a JSON summary when it ends. Ctrl-C cancels the run (it can
be resumed with `--resume RUN_ID`).
"""

from __future__ import annotations

import sys

OPTION_FLAGS = {
    "epochs": ("--epochs", float), "learning_rate": ("--lr", float), "rank": ("--rank", int),
    "alpha": ("--alpha", int), "dropout": ("--dropout", float), "batch_size": ("--batch-size", int),
    "grad_accum": ("--grad-accum", int), "max_length": ("--max-length", int),
    "eval_fraction": ("--eval-split", float), "seed": ("--seed", int), "max_steps": ("--max-steps", int),
    "warmup_steps": ("--warmup-steps", int), "evals": ("--evals", int),
}

# The JSON summary: train_recall tells a run too short to learn apart from fine-tuning not helping.
SUMMARY_FIELDS = ("adapter", "train_loss", "eval_loss", "steps", "seconds", "trainable_params", "samples",
                  "tokens_per_s", "train_recall")


def register(subparsers) -> None:
    from core.training.finetune import PRESET_NAMES, option_help

    parser = subparsers.add_parser("finetune", help="train a LoRA adapter on a labeled file (CSV / JSONL / JSON)")
    parser.add_argument("--data", help="labeled file: question/answer, instruction/input/output, "
                                       "prompt/completion, messages, or text/label columns")
    parser.add_argument("--name", help="adapter name (letters, digits, . _ -)")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="quick",
                        help="starting options, chosen for the task (fact Q&A or labels) and the file's size "
                             "(default quick: the shortest run that visibly learns)")
    for key, (flag, kind) in OPTION_FLAGS.items():
        parser.add_argument(flag, dest=key, type=kind, default=None, help=option_help(key))
    parser.add_argument("--target-modules", default=None, help="comma-separated, e.g. q_proj,v_proj. "
                        + option_help("target_modules"))
    parser.add_argument("--format", dest="kind", default=None,
                        choices=["qa", "instruction", "prompt_completion", "chat", "classification"],
                        help="override the detected data format (columns by their usual names)")
    from core.commands.task import TASK_CHOICES, TASK_HELP

    parser.add_argument("--task", choices=TASK_CHOICES, default=None, help=TASK_HELP + " (classification and "
                        "extraction train on the task's prompt and target format: core/training/task_prompts.py)")
    parser.add_argument("--raft", action="store_true", help="train for use with retrieval (RAFT): each Q&A row "
                        "gets the retrieved passages of --kb in the RAG prompt (core/training/raft.py)")
    parser.add_argument("--kb", help="--raft: the knowledge base the adapter will read from; --generate-qa: "
                        "the one the rows are made from")
    parser.add_argument("--generate-qa", type=int, metavar="N", default=None,
                        help="instead of --data: N fill-in-the-blank Q&A rows made offline from --kb's documents "
                             "(recorded in the adapter's meta; a cloze evaluation then leaves their chunks out)")
    parser.add_argument("--raft-p", type=float, default=0.8,
                        help="--raft: share of rows whose context holds the answer's passage (default 0.8)")
    parser.add_argument("--distractors", type=int, default=None,
                        help="--raft: other retrieved passages per row (default: the arms' k - 1)")
    parser.add_argument("--no-oracle", dest="missing", choices=["closed_book", "drop"], default="closed_book",
                        help="--raft: rows whose answer passage is not found train closed-book (default) or are dropped")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="train N adapters NAME-s1..NAME-sN that differ only in seed (data order, LoRA init; "
                             "one held-out split) and group them as NAME: evaluate --adapter NAME runs every seed")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing adapter of that name")
    parser.add_argument("--resume", metavar="RUN_ID", help="resume an interrupted or cancelled run instead")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def _progress_printer(quiet: bool):
    def show(record: dict) -> None:
        if quiet:
            return
        if "loss" in record:
            print(f"step {record['step']}  epoch {record.get('epoch', 0):.2f}  loss {record['loss']}  "
                  f"lr {record.get('lr', 0):.2e}  {record.get('elapsed_s', 0):.0f}s", file=sys.stderr)
        elif "eval_loss" in record:
            print(f"step {record['step']}  eval loss {record['eval_loss']:.4f}", file=sys.stderr)
        elif record.get("event") == "checkpoint":
            print(f"step {record['step']}  checkpoint saved", file=sys.stderr)
    return show


def _raft_file(args, path, options, max_length_given: bool):
    """(RAFT training file, the adapter's mode meta, options with max length fitted to the context)."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from core.runtime.errors import CrossroadsError
    from core.runtime.models import load_tokenizer
    from core.training.raft import (
        RaftOptions,
        build_raft_rows,
        fitted_max_length,
        qa_rows_from_file,
    )

    if not args.kb:
        raise CrossroadsError("--raft needs --kb.", hint="e.g. --raft --kb demo (python -m core kb list)")
    raft = RaftOptions(kb=args.kb, p=args.raft_p, distractors=args.distractors, missing=args.missing)
    build = build_raft_rows(qa_rows_from_file(path), raft)
    for row in build.missing:
        what = "trained closed-book" if raft.missing == "closed_book" else "dropped"
        print(f"warning: row {row.number}: no passage with the answer found ({what}): {row.question[:80]}",
              file=sys.stderr)
    out = build.write_jsonl(Path(tempfile.mkdtemp(prefix="raft-")) / f"{path.stem}.raft.jsonl")
    if not max_length_given:
        options = replace(options, max_length=fitted_max_length(build, load_tokenizer(), options.max_length))
    print(f"RAFT: {len(build.rows)} rows, oracle in context for {build.oracle_share:.0%}, "
          f"max length {options.max_length} tokens", file=sys.stderr)
    return out, build.mode_meta(), options


def _generated_file(args):
    from core.runtime.errors import CrossroadsError
    from core.runtime.settings import get_settings
    from core.training.raft import generate_qa_file

    if not args.kb or args.data:
        raise CrossroadsError("--generate-qa needs --kb and no --data.", hint="e.g. --generate-qa 100 --kb demo")
    if not 1 <= args.generate_qa <= 5000:
        raise CrossroadsError(f"--generate-qa must be between 1 and 5000, got {args.generate_qa}.")
    path = get_settings().path("ui", "generated", f"{args.kb}-{args.generate_qa}.jsonl")
    path = generate_qa_file(args.kb, args.generate_qa, path)
    print(f"generated Q&A rows from {args.kb}: {path}", file=sys.stderr)
    return path


def run(args) -> int:
    from dataclasses import replace
    from pathlib import Path

    from core.__main__ import print_json
    from core.commands import task as task_cli
    from core.runtime import jobs
    from core.runtime.errors import CrossroadsError
    from core.training import datasets
    from core.training.data_files import read_records
    from core.training.finetune import preset_options, start_finetune
    from core.training.schema import KINDS, Schema

    if not args.resume and not args.raft and args.generate_qa is None and task_cli.wants_task(args):
        return task_cli.finetune(args)
    if args.resume:
        job = jobs.resume(args.resume)
    else:
        if args.generate_qa is not None:
            args.data = str(_generated_file(args))
        if not args.data or not args.name:
            raise CrossroadsError("--data and --name are required.", hint="e.g. --data demo/tickets.csv --name tickets")
        path = Path(args.data)
        if not path.is_file():
            raise CrossroadsError(f"No such file: {args.data}.")
        overrides = {k: getattr(args, k) for k in OPTION_FLAGS if getattr(args, k) is not None}
        if args.target_modules:
            overrides["target_modules"] = tuple(m.strip() for m in args.target_modules.split(",") if m.strip())
        schema = None
        if args.kind:
            required, optional = KINDS[args.kind]
            schema = Schema.of(args.kind, {r: r for r in required + optional
                                           if r in read_records(path.read_bytes(), path.name)[1]})
        # Validate here too, so bad data fails fast with the reason (the worker validates again):
        # first without the model (format, mapping, size: they choose the preset), then token lengths.
        data = datasets.load_labeled(path, schema=schema).require_valid()
        options = replace(preset_options(args.preset, data.kind, len(data.rows)), **overrides)
        from core.runtime.models import load_tokenizer

        adapter_mode = None
        generated = None
        if args.generate_qa is not None:
            from core.training.raft import generated_mode

            generated = generated_mode(path)
        if args.raft:  # the RAFT rows are built here and trained as an ordinary chat file
            path, adapter_mode, options = _raft_file(args, path, options, "max_length" in overrides)
            schema = None
        if generated:
            adapter_mode = {**(adapter_mode or {"mode": "closed_book"}), "generated": generated}

        data = datasets.load_labeled(path, schema=schema, tokenizer=load_tokenizer(), max_length=options.max_length)
        for issue in data.report.warnings:
            print(f"warning: {issue.text()}", file=sys.stderr)
        data.require_valid()
        if args.seeds > 1:
            return _run_seeds(args, path, options, schema, adapter_mode)
        job = start_finetune(path, args.name, options, schema=schema, overwrite=args.overwrite,
                             adapter_mode=adapter_mode)
    print(f"run {job.id} started (log: {job.run_dir / 'log'})", file=sys.stderr)
    try:
        job = jobs.wait(job.id, poll=0.5, on_progress=_progress_printer(args.quiet))
    except KeyboardInterrupt:
        jobs.cancel(job.id)
        print(f"cancelling… resume later with --resume {job.id}", file=sys.stderr)
        job = jobs.wait(job.id, poll=0.5)
    if job.state != "completed":
        reason = job.status.get("error") or job.status.get("message") or job.state
        hint = job.status.get("hint") or ""
        print(f"error: run {job.id} {job.state}: {reason}" + (f" ({hint})" if hint else ""), file=sys.stderr)
        return 1
    result = job.status.get("result") or {}
    mode = job.spec.get("adapter_mode") or {"mode": "closed_book"}
    print_json({k: result.get(k) for k in SUMMARY_FIELDS} | {"run": job.id, "mode": mode})
    return 0


def _run_seeds(args, path, options, schema, adapter_mode) -> int:
    """--seeds N: the members one after another (core/training/seeds.py), then the group as JSON."""
    from core.__main__ import print_json
    from core.runtime import jobs
    from core.training.seeds import train_seeds

    current = {}

    def member(i: int, job) -> None:
        current["job"] = job
        print(f"seed {i} of {args.seeds}: run {job.id} (adapter {args.name}-s{i})", file=sys.stderr)

    try:
        group = train_seeds(path, args.name, options, args.seeds, schema=schema, overwrite=args.overwrite,
                            adapter_mode=adapter_mode, on_member=member, on_progress=_progress_printer(args.quiet))
    except KeyboardInterrupt:
        if "job" in current:
            jobs.cancel(current["job"].id)
            jobs.wait(current["job"].id, poll=0.5)
        print("cancelled: the seeds trained so far are kept, no group was written", file=sys.stderr)
        return 1
    print_json({"group": group["name"], "members": group["members"], "seeds": group["seeds"], "runs": group["runs"]})
    return 0
