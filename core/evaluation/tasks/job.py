"""A classification / extraction evaluation as a background job (the Evaluate page's task mode).

    job = start_task_evaluation(test_path, arms=("base", "examples", "ft"), train_path=..., adapter=...)

The worker (`python -m core.evaluation.tasks.job --run-dir D`) reads the held-out file and the
training file (the retrieved-examples arm's pool), runs core.evaluation.tasks.evaluate_task and saves
the report beside the Q&A ones (DATA_DIR/reports/). With `learning_curve`, it also trains adapters on
25% and 50% of the training rows (the options of the chosen adapter) and measures the same arms at
each share; the 100% point is the main report itself. Jobs share the "evaluate" group: one
evaluation at a time, shown by the Evaluate page's job panel.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from core.runtime.settings import Settings

TEST_FILE, TRAIN_FILE = "test", "train"
CURVE_FRACTIONS = (0.25, 0.5)  # 100%: the main evaluation


def start_task_evaluation(test_path: Path, *, arms: Sequence[str], train_path: Path | None = None,
                          adapter: str | None = None, k: int | None = None, limit: int | None = None,
                          learning_curve: bool = False, test_name: str | None = None,
                          train_name: str | None = None, settings: Settings | None = None):
    """Check both files now (a clear error before anything starts), then start the job."""
    from core.runtime import jobs
    from core.training.tasks import load_task_data

    test = load_task_data(Path(test_path), name=test_name, purpose="test").require_valid()
    if train_path is not None:
        train = load_task_data(Path(train_path), name=train_name, task=test.task).require_valid()
        train_name = train.name
    spec = {"arms": list(arms), "adapter": adapter, "k": k, "limit": limit, "learning_curve": bool(learning_curve),
            "task": test.task, "test_name": test.name, "train_name": train_name,
            "test_suffix": Path(test_path).suffix, "train_suffix": Path(train_path).suffix if train_path else None,
            # what the job panel says ("Evaluation … of N rows")
            "setup": {"arms": list(arms), "adapter": adapter, "task": test.task}}
    files = {TEST_FILE + Path(test_path).suffix: Path(test_path)}
    if train_path is not None:
        files[TRAIN_FILE + Path(train_path).suffix] = Path(train_path)
    return jobs.start("evaluate", "core.evaluation.tasks.job", spec, group="evaluate", settings=settings, files=files)


def _curve_point(report: dict, fraction: float, n_train: int, adapter: str | None) -> dict:
    metrics = {"classification": ("accuracy", "macro_f1"),
               "extraction": ("entity_f1", "entity_precision", "entity_recall", "lenient_f1")}[report["task"]]
    return {"fraction": fraction, "n_train": n_train, "adapter": adapter, "report": report["id"],
            "arms": {a: {m: v.get(m) for m in metrics} | {"ci": v.get("ci", {})} for a, v in report["arms"].items()},
            "deltas": report.get("deltas"), "verdict": report.get("verdict")}


def _curve_adapter(adapter: str, settings: Settings):
    """train_adapter(subset, fraction) for the learning curve: the chosen adapter's options on fewer rows."""
    from dataclasses import fields

    from core.training.adapters import get_adapter
    from core.training.finetune import TrainOptions
    from core.training.task_finetune import train_task_adapter

    saved = get_adapter(adapter, settings).meta.get("options") or {}
    known = {f.name for f in fields(TrainOptions)}
    options = TrainOptions(**{k: v for k, v in saved.items() if k in known})

    def train(subset, fraction: float) -> str:
        name = f"{adapter}-curve-{round(fraction * 100)}"
        train_task_adapter(subset, name, options, overwrite=True, settings=settings)
        return name

    return train


def _worker(run_dir: Path) -> None:
    from core.evaluation.evaluate import EvaluationStopped, save_report
    from core.evaluation.tasks.evaluate import evaluate_task, learning_curve
    from core.runtime.jobrun import JobRun
    from core.runtime.settings import get_settings
    from core.training.tasks import load_task_data

    with JobRun(run_dir) as run:
        spec = run.spec
        settings = get_settings()
        test = load_task_data(run_dir / (TEST_FILE + spec["test_suffix"]), name=spec["test_name"],
                              purpose="test").require_valid()
        train = None
        if spec.get("train_suffix"):
            train = load_task_data(run_dir / (TRAIN_FILE + spec["train_suffix"]), name=spec["train_name"],
                                   task=test.task).require_valid()
        total = min(len(test.rows), spec.get("limit") or len(test.rows))
        run.update(total_steps=total, message="Loading the model and the examples…")

        def progress(done: int, n: int, elapsed: float) -> None:
            run.progress(step=done, total=n, elapsed_s=round(elapsed, 1))
            run.update(step=done, message=f"{done}/{n} rows")

        try:
            report = evaluate_task(test, arms=spec["arms"], train=train, adapter=spec.get("adapter"), k=spec.get("k"),
                                   settings=settings, limit=spec.get("limit"), on_progress=progress,
                                   should_stop=run.stop_requested, job_id=run_dir.name)
        except EvaluationStopped:
            run.finish("cancelled", message="Cancelled before any row was answered: no report.")
            return
        if spec.get("learning_curve") and train is not None and report.get("complete", True):
            run.update(message="Learning curve: training and measuring at 25% and 50% of the training rows…")
            adapter = spec.get("adapter")
            curve = learning_curve(test, train, arms=spec["arms"], fractions=CURVE_FRACTIONS,
                                   train_adapter=_curve_adapter(adapter, settings) if adapter else None,
                                   k=(report.get("setup") or {}).get("k"), settings=settings, limit=spec.get("limit"))
            curve["points"].append(_curve_point(report, 1.0, len(train.rows), adapter))
            curve["fractions"] = [*CURVE_FRACTIONS, 1.0]
            report["learning_curve"] = curve
        save_report(report, settings)
        state = "completed" if report.get("complete", True) else "cancelled"
        run.finish(state, result={"report": report["id"], "n": report["n"], "partial": report.get("partial", False)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Crossroads task evaluation worker")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="accepted for the job protocol; starts over")
    _worker(parser.parse_args().run_dir)
