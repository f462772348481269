"""`python -m core task --data FILE`: the detected task, its validation and the exact prompt and
target of the first rows (JSON). Also the classification / extraction side of `finetune`,
`evaluate` and `ask` (core.evaluation.tasks).

A command goes here when the task arms are wanted: `--task classification|extraction`, an
extraction file (detected: text + entities column, or CoNLL), `--train-data`, `--learning-curve`,
or an arm only tasks have (`examples`). A text/label file with none of these keeps the label
evaluation it had before (base / rag / ft / hybrid).
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_ARMS = (None, "", "base,rag,ft,hybrid", "rag")  # evaluate's and ask's defaults (QA arms)
TASK_CHOICES = ("qa", "classification", "extraction")
TASK_HELP = ("task: qa, classification (text -> one label) or extraction (text -> entities as JSON); "
             "default: detected from the columns")


def register(subparsers) -> None:
    parser = subparsers.add_parser("task", help="check a classification / extraction file: detected task, "
                                                "problems, the exact prompt and target of its first rows")
    parser.add_argument("--data", required=True, help="CSV / JSONL / JSON (text + label, or text + entities) "
                                                      "or a CoNLL token/tag file")
    parser.add_argument("--task", choices=TASK_CHOICES, default=None, help=TASK_HELP)
    parser.add_argument("--rows", type=int, default=3, help="rows to preview (default 3)")
    parser.add_argument("--test", action="store_true", help="a held-out file: no minimum size per label")
    parser.set_defaults(func=inspect)


def inspect(args) -> int:
    from core.__main__ import print_json
    from core.runtime.errors import CrossroadsError
    from core.runtime.models import load_tokenizer
    from core.training.tasks import load_task_data, preview_row

    if not Path(args.data).is_file():
        raise CrossroadsError(f"No such file: {args.data}.")
    data = load_task_data(Path(args.data), task=args.task, purpose="test" if args.test else "train",
                          min_rows=1 if args.test else 10)
    tokenizer = load_tokenizer() if data.rows else None
    print_json({"task": data.task, "ok": data.ok, "labels": list(data.labels), "entity_types": list(data.entity_types),
                **data.report.as_dict(),
                "preview": [preview_row(r, data.spec, tokenizer) for r in data.rows[: max(0, args.rows)]]})
    return 0 if data.ok else 1


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _detected(path: str | None) -> str | None:
    from core.training.data_files import read_records
    from core.training.tasks import detect_task, looks_like_conll

    if not path or not Path(path).is_file():
        return None
    raw = Path(path).read_bytes()
    if looks_like_conll(raw, path):
        return "extraction"
    try:
        return detect_task(read_records(raw, Path(path).name)[1])
    except Exception:  # noqa: BLE001 - unreadable files are reported by the command itself
        return None


def wants_task(args, data_attr: str = "data") -> bool:
    task = getattr(args, "task", None)
    if task == "qa":
        return False
    if task in ("classification", "extraction"):
        return True
    if getattr(args, "train_data", None) or getattr(args, "learning_curve", False):
        return True
    if "examples" in str(getattr(args, "arms", "") or "").split(","):
        return True
    return _detected(getattr(args, data_attr, None)) == "extraction"


def _load(path: str, task: str | None, purpose: str):
    from core.runtime.errors import CrossroadsError
    from core.training.tasks import load_task_data

    if not Path(path).is_file():
        raise CrossroadsError(f"No such file: {path}.")
    data = load_task_data(Path(path), task=task, purpose=purpose, min_rows=1 if purpose == "test" else 10)
    for issue in data.report.warnings:
        _err(f"warning: {path}: {issue.text()}")
    return data.require_valid()


# ------------------------------------------------------------------------------ finetune

def finetune(args) -> int:
    """`finetune --task ...` (or an extraction file): train on the task's prompt / target format."""
    from dataclasses import replace

    from core.__main__ import print_json
    from core.commands.finetune import OPTION_FLAGS, SUMMARY_FIELDS, _progress_printer
    from core.runtime import jobs
    from core.runtime.errors import CrossroadsError
    from core.training.task_finetune import start_task_finetune, task_options

    if not args.data or not args.name:
        raise CrossroadsError("--data and --name are required.", hint="e.g. --data demo/reviews_train.csv --name reviews")
    data = _load(args.data, args.task, "train")
    if data.task == "qa":
        raise CrossroadsError(f"{args.data} holds question answering rows.", hint="Leave out --task (or use --task qa).")
    overrides = {k: getattr(args, k) for k in OPTION_FLAGS if getattr(args, k) is not None}
    options = replace(task_options(data, args.preset), **overrides)
    _err(f"task: {data.task}, {len(data.rows)} rows, "
         + (f"labels {', '.join(data.labels)}" if data.labels else f"entity types {', '.join(data.entity_types)}"))
    job = start_task_finetune(data, args.name, options, overwrite=args.overwrite)
    _err(f"run {job.id} started (log: {job.run_dir / 'log'})")
    try:
        job = jobs.wait(job.id, poll=0.5, on_progress=_progress_printer(args.quiet))
    except KeyboardInterrupt:
        jobs.cancel(job.id)
        _err(f"cancelling… resume later with --resume {job.id}")
        job = jobs.wait(job.id, poll=0.5)
    if job.state != "completed":
        reason = job.status.get("error") or job.status.get("message") or job.state
        _err(f"error: run {job.id} {job.state}: {reason}")
        return 1
    result = job.status.get("result") or {}
    print_json({k: result.get(k) for k in SUMMARY_FIELDS} | {"run": job.id, "task": data.task,
                                                             "mode": job.spec.get("adapter_mode")})
    return 0


# ------------------------------------------------------------------------------ evaluate

def _arms(args, train, adapter) -> tuple[str, ...]:
    from core.evaluation.tasks.arms import TASK_ARMS, parse_task_arms

    given = args.arms
    if given in DEFAULT_ARMS:  # the command's own default: every task arm that can run
        return tuple(a for a in TASK_ARMS if (a not in ("examples", "hybrid") or train) and
                     (a not in ("ft", "hybrid") or adapter))
    return parse_task_arms(given.replace("rag", "examples"))


def evaluate(args) -> int:
    from core.__main__ import print_json
    from core.evaluation.evaluate import save_report
    from core.evaluation.tasks.evaluate import evaluate_task
    from core.runtime.errors import CrossroadsError

    if not args.data:
        raise CrossroadsError("Give the held-out file: --data FILE.")
    test = _load(args.data, args.task, "test")
    if test.task == "qa":
        raise CrossroadsError(f"{args.data} holds question answering rows; --train-data is for classification and "
                              "extraction.", hint="Leave out --train-data (or give --task).")
    train = _load(args.train_data, test.task, "train") if args.train_data else None
    if args.learning_curve:
        return learning_curve(args, test, train)
    arms = _arms(args, train, args.adapter)

    def progress(done: int, total: int, elapsed: float) -> None:
        _err(f"{done}/{total} texts, {elapsed:.0f} s")

    report = evaluate_task(test, arms=arms, train=train, adapter=args.adapter, k=args.k, limit=args.limit,
                           batch_size=args.batch_size, on_progress=progress)
    path = save_report(report)
    if args.out:
        save_report(report, path=args.out)
    _err(f"Verdict: {report['verdict']}")
    _err(f"Report saved to {path}.")
    print_json(report)
    return 0


def learning_curve(args, test, train) -> int:
    import json

    from core.__main__ import print_json
    from core.evaluation.tasks.evaluate import learning_curve as curve
    from core.runtime.errors import CrossroadsError
    from core.runtime.settings import get_settings
    from core.training.task_finetune import task_options, train_task_adapter

    if train is None:
        raise CrossroadsError("--learning-curve needs --train-data: the curve trains on growing shares of it.")
    arms = _arms(args, train, adapter="trained per point")  # ft / hybrid: an adapter per share of the rows
    prefix = args.adapter or f"curve-{Path(train.name).stem}"

    def train_adapter(subset, fraction: float) -> str:
        name = f"{prefix}-{round(fraction * 100)}"
        _err(f"training {name} on {len(subset.rows)} rows…")
        train_task_adapter(subset, name, task_options(subset, args.preset), overwrite=True)
        return name

    def show(point: dict) -> None:
        _err(f"{point['fraction']:.0%} ({point['n_train']} rows): " + ", ".join(
            f"{a} {v[next(iter(v))]:.3f}" for a, v in point["arms"].items()))

    result = curve(test, train, arms=arms, train_adapter=train_adapter, k=args.k, limit=args.limit, on_point=show)
    folder = get_settings().path("curves")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"curve-{Path(train.name).stem}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    _err(f"Learning curve saved to {path}.")
    print_json(result)
    return 0


# ------------------------------------------------------------------------------ ask

def ask(args) -> int:
    """`ask --task ... "text"`: every chosen task arm on one text."""
    from core.__main__ import print_json
    from core.evaluation.tasks.arms import TaskArms, adapter_task
    from core.evaluation.tasks.evaluate import task_spec
    from core.runtime.errors import CrossroadsError
    from core.training.task_prompts import TaskSpec

    train = _load(args.train_data, args.task, "train") if args.train_data else None
    spec = None
    if train is not None:
        spec = task_spec(train, train)
    elif args.labels or args.entity_types:
        spec = TaskSpec(args.task or ("classification" if args.labels else "extraction"),
                        tuple(sorted(x.strip() for x in (args.labels or "").split(",") if x.strip())),
                        tuple(sorted(x.strip() for x in (args.entity_types or "").split(",") if x.strip())))
    elif args.adapter:
        from core.training.adapters import get_adapter

        spec = adapter_task(get_adapter(args.adapter).meta)
    if spec is None:
        raise CrossroadsError("The task arms need the label set or entity types.",
                              hint="Give --train-data FILE, --labels a,b,c / --entity-types A,B, or a task adapter.")
    arms = _arms(args, train, args.adapter)
    engine = TaskArms(spec, arms, adapter=args.adapter, train_rows=train.rows if train else (),
                      k=args.k or 4, progress=lambda msg: _err(msg))
    answers = engine.answer(args.question)
    print_json({"text": args.question, "task": spec.task, **spec.as_dict(), "provenance": engine.provenance(),
                "arms": {arm: a.record() for arm, a in answers.items()}})
    return 0
