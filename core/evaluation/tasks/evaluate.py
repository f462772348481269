"""Evaluate the task arms on a held-out file -> a report with metrics, paired CIs vs base, a verdict.

    report = evaluate_task(test, arms=TASK_ARMS, train=train, adapter="reviews")
    save_report(report)                                   # core.evaluation.evaluate: DATA_DIR/reports/<id>.json

The retrieved-examples arms take their demonstrations from `train` (never the test text itself);
`k` (demonstrations per text) is chosen by `sweep_k` on a validation split of the training rows
unless given. Every arm's difference from the base arm (and fine-tuned vs retrieved examples) is
a paired bootstrap over the same test rows; corpus-level scores (macro-F1, entity F1) are
recomputed on each resample (core.evaluation.tasks.metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from core.evaluation import metrics
from core.evaluation.tasks import metrics as tm
from core.evaluation.tasks.arms import DEFAULT_K, TASK_ARMS, TaskArms
from core.evaluation.tasks.verdict import task_verdict
from core.runtime.settings import Settings, get_settings
from core.training.task_prompts import TaskSpec
from core.training.task_splits import split_rows
from core.training.tasks import TaskData

K_GRID = (1, 2, 4, 8)
SWEEP_ROWS = 30  # validation rows of the k sweep (taken from the training rows)
MIN_SWEEP_POOL = 20  # fewer training rows than this: no sweep, DEFAULT_K (or fewer) examples
DELTA_PAIRS = (("examples", "base"), ("ft", "base"), ("hybrid", "base"), ("ft", "examples"), ("hybrid", "examples"))
VERDICT_METRIC = {"classification": "accuracy", "extraction": "entity_f1"}
METRICS = {"classification": ("accuracy", "macro_f1"),
           "extraction": ("entity_f1", "entity_precision", "entity_recall", "lenient_f1")}
SHOWN_BAD_OUTPUTS = 20


def task_spec(test: TaskData, train: TaskData | None) -> TaskSpec:
    """The label set / entity types of the training file (what an adapter was trained with), else the test file's."""
    source = train if train is not None and train.rows else test
    if test.task == "classification":
        return TaskSpec("classification", tuple(sorted(set(source.labels) | set(test.labels))))
    return TaskSpec("extraction", entity_types=tuple(sorted(set(source.entity_types) | set(test.entity_types))))


def _counts(task: str, predictions: list, rows: Sequence, spec: TaskSpec) -> np.ndarray:
    if task == "classification":
        return tm.label_counts(predictions, [r.label for r in rows], spec.labels)
    return tm.extraction_count_matrix(predictions, [r.entities or () for r in rows])


def _stats(task: str):
    return tm.CLASSIFICATION_STATS if task == "classification" else tm.EXTRACTION_STATS


def score_arm(task: str, predictions: list, rows: Sequence, spec: TaskSpec) -> dict:
    if task == "classification":
        return tm.classification_metrics(predictions, [r.label for r in rows], spec.labels)
    return tm.extraction_metrics(predictions, [r.entities or () for r in rows])


# ------------------------------------------------------------------------------ the k sweep

def sweep_k(train: TaskData, spec: TaskSpec | None = None, grid: Sequence[int] = K_GRID, n_val: int = SWEEP_ROWS,
            settings: Settings | None = None, embedder=None) -> dict:
    """The number of retrieved examples that scores best on a validation split of the training rows
    (the rest is the pool); ties go to the smaller k. Like the Retrieval lab: measured, not assumed."""
    spec = spec or train.spec
    metric = VERDICT_METRIC[spec.task]
    if len(train.rows) < MIN_SWEEP_POOL:
        k = max(1, min(DEFAULT_K, len(train.rows) - 1))
        return {"k": k, "grid": {}, "metric": metric, "n_val": 0, "note": f"fewer than {MIN_SWEEP_POOL} training "
                f"rows: no sweep, k = {k}"}
    n_val = min(n_val, len(train.rows) // 4)
    parts = split_rows(train.rows, n_val)
    arms = TaskArms(spec, ("examples",), train_rows=parts.train, k=max(grid), settings=settings, embedder=embedder)
    scores = {}
    for k in grid:
        answered = arms.answer_many([r.text for r in parts.held], k=k)
        preds = [a["examples"].prediction for a in answered]
        scores[k] = score_arm(spec.task, preds, parts.held, spec)[metric]
    best = min(scores, key=lambda k: (-scores[k], k))
    return {"k": best, "grid": {str(k): round(v, 4) for k, v in scores.items()}, "metric": metric,
            "n_val": len(parts.held), "pool": len(parts.train)}


# ------------------------------------------------------------------------------ evaluation

def evaluate_task(test: TaskData, *, arms: Sequence[str] = TASK_ARMS, train: TaskData | None = None,
                  adapter: str | None = None, k: int | None = None, settings: Settings | None = None,
                  batch_size: int = 8, embedder=None, on_progress: Callable[[int, int, float], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, limit: int | None = None,
                  job_id: str | None = None) -> dict:
    """Every test row through every chosen arm -> the report (not saved)."""
    from core.runtime import machine

    settings = settings or get_settings()
    task = test.task
    if task not in VERDICT_METRIC:
        from core.evaluation.tasks.arms import TaskArmsError

        raise TaskArmsError(f"{test.name} holds a {task} task; the task arms measure classification and extraction.")
    spec = task_spec(test, train)
    rows = list(test.rows[:limit] if limit else test.rows)
    planned = len(rows)
    sweep = None
    wants_examples = any(a in ("examples", "hybrid") for a in arms)
    if wants_examples and k is None and train is not None:
        sweep = sweep_k(train, spec, settings=settings, embedder=embedder)
        k = sweep["k"]
    k = k or DEFAULT_K
    engine = TaskArms(spec, arms, adapter=adapter, train_rows=train.rows if train else (), k=k, settings=settings,
                      embedder=embedder)
    before = machine.snapshot(settings, exclude_job=job_id)  # the conditions the latencies were measured in
    start = time.perf_counter()
    answered: list[dict] = []
    for first in range(0, len(rows), batch_size):
        if should_stop and should_stop():
            break
        batch = rows[first:first + batch_size]
        answered.extend(engine.answer_many([r.text for r in batch]))
        if on_progress:
            on_progress(len(answered), len(rows), time.perf_counter() - start)
    rows = rows[: len(answered)]
    if not answered:
        from core.evaluation.evaluate import EvaluationStopped

        raise EvaluationStopped("The evaluation was stopped before any text was answered.",
                                hint="Nothing was saved; start it again and let at least one batch finish.")
    report = build_report(test, rows, answered, engine, spec, train, sweep, time.perf_counter() - start, settings)
    report["machine"] = machine.conditions(before, machine.snapshot(settings, exclude_job=job_id),
                                           min(batch_size, len(rows)))
    report["meta"]["batch_size"] = batch_size
    report["complete"] = len(answered) == planned
    report["partial"] = not report["complete"]
    return task_verdict(report) | report


def build_report(test: TaskData, rows, answered, engine: TaskArms, spec: TaskSpec, train, sweep, seconds: float,
                 settings: Settings) -> dict:
    task, arms = spec.task, list(engine.arms)
    names = METRICS[task]
    stats = _stats(task)
    counts = {arm: _counts(task, [a[arm].prediction for a in answered], rows, spec) for arm in arms}
    summaries = {}
    for arm in arms:
        answers = [a[arm] for a in answered]
        summary = score_arm(task, [a.prediction for a in answers], rows, spec)
        summary["ci"] = {m: list(tm.count_ci(counts[arm], stats[m])) for m in names} if rows else {}
        bad = [{"row": r.number, "output": a.text.strip()[:300]} for r, a in zip(rows, answers, strict=True)
               if a.prediction is None]
        summary["unmapped_outputs" if task == "classification" else "invalid_outputs"] = bad[:SHOWN_BAD_OUTPUTS]
        latencies = [a.total_ms for a in answers]
        summary.update({"title": answers[0].title if answers else arm, "latency_p50_ms": metrics.p50(latencies),
                        "latency_p95_ms": metrics.p95(latencies),
                        "prompt_tokens_mean": metrics.mean(a.prompt_tokens for a in answers),
                        "answer_tokens_mean": metrics.mean(a.answer_tokens for a in answers)})
        if arm in ("ft", "hybrid"):
            summary["train_seconds"] = engine.adapter_meta.get("duration_s")
        summaries[arm] = summary
    deltas = {f"{a}-{b}": {m: list(tm.paired_count_ci(counts[a], counts[b], stats[m])) for m in names}
              for a, b in DELTA_PAIRS if a in arms and b in arms and rows}
    questions = []
    for r, a in zip(rows, answered, strict=True):
        gold = r.label if task == "classification" else [e.as_dict() for e in r.entities or ()]
        q = {"row": r.number, "text": r.text, "gold": gold, "answers": {}, "predicted": {}, "scores": {}, "demos": {}}
        for arm in arms:
            ans = a[arm]
            q["answers"][arm] = ans.text.strip()
            q["predicted"][arm] = ans.record()["prediction"]
            if task == "classification":
                q["scores"][arm] = {"correct": float(ans.prediction == r.label)}
            else:
                q["scores"][arm] = tm.entity_counts(ans.prediction, r.entities or ())
            if ans.demos:
                q["demos"][arm] = [d.number for d in ans.demos]
        questions.append(q)
    n = len(rows)
    setup = {"arms": arms, "adapter": engine.adapter, "k": engine.k if set(arms) & {"examples", "hybrid"} else None,
             "k_sweep": sweep, "spec": spec.as_dict(),
             "train_data": {"name": train.name, "sha256": train.sha256, "rows": len(train.rows)} if train else None,
             "decoding": vars(engine.decoding).copy()}
    if task == "classification":
        setup["mapping"] = tm.MAPPING_METHOD
    return {
        "id": _report_id(),
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "kind": task, "task": task, "n": n, "complete": True, "partial": False,
        "eval_set": {"name": test.name, "size": len(test.rows),
                     **({"labels": list(spec.labels)} if task == "classification" else
                        {"entity_types": list(spec.entity_types)})},
        "setup": setup,
        "engine": engine.engine.describe(),
        "arms": summaries,
        "deltas": deltas,
        "questions": questions,
        "meta": {"adapter": engine.adapter, "generator": settings.generator, "model": settings.model_name,
                 "device": settings.resolved_device,
                 "seconds": round(seconds, 2), "train_seconds": engine.adapter_meta.get("duration_s"),
                 "ci": "paired bootstrap over the test rows, 2000 resamples, 95%; corpus-level scores recomputed "
                       "on each resample"},
    }


def _report_id() -> str:
    import secrets

    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


# ------------------------------------------------------------------------------ learning curve

FRACTIONS = (0.25, 0.5, 1.0)


def learning_curve(test: TaskData, train: TaskData, *, arms: Sequence[str] = TASK_ARMS,
                   fractions: Sequence[float] = FRACTIONS, train_adapter: Callable[[TaskData, float], str] | None = None,
                   k: int | None = None, settings: Settings | None = None, embedder=None, limit: int | None = None,
                   on_point: Callable[[dict], None] | None = None) -> dict:
    """The same arms at growing shares of the training rows (nested, label-stratified subsets): where
    does fine-tuning overtake retrieved examples? `train_adapter(subset, fraction)` trains the
    adapter of a point (needed for ft / hybrid); k is swept once on all training rows, then fixed."""
    from core.training.task_splits import fraction_rows

    settings = settings or get_settings()
    spec = task_spec(test, train)
    metric = VERDICT_METRIC[test.task]
    if k is None and any(a in ("examples", "hybrid") for a in arms):
        k = sweep_k(train, spec, settings=settings, embedder=embedder)["k"]
    points = []
    for fraction in sorted(fractions):
        subset = train.subset(fraction_rows(train.rows, fraction), name=f"{train.name} ({fraction:.0%})")
        point_arms = [a for a in arms if a not in ("ft", "hybrid") or train_adapter]
        adapter = train_adapter(subset, fraction) if set(point_arms) & {"ft", "hybrid"} else None
        report = evaluate_task(test, arms=point_arms, train=subset, adapter=adapter, k=k, settings=settings,
                               embedder=embedder, limit=limit)
        point = {"fraction": fraction, "n_train": len(subset.rows), "adapter": adapter, "report": report["id"],
                 "arms": {a: {m: report["arms"][a][m] for m in METRICS[test.task]} | {"ci": report["arms"][a]["ci"]}
                          for a in point_arms},
                 "deltas": report["deltas"], "verdict": report["verdict"]}
        points.append(point)
        if on_point:
            on_point(point)
    return {"task": test.task, "metric": metric, "k": k, "fractions": list(sorted(fractions)), "points": points,
            "test": {"name": test.name, "n": min(len(test.rows), limit or len(test.rows))},
            "train": {"name": train.name, "rows": len(train.rows)}}
