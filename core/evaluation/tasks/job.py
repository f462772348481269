"""A task evaluation as a background job (the Evaluate page), like core.evaluation.evaluate's.

    job = start_task_evaluation(test_path, train_path=..., arms=("base", "examples", "ft"), adapter="reviews")
    # python -m core.evaluation.tasks.job --run-dir D: progress per batch, STOP honoured between
    # batches (a partial report is kept, marked partial), the report saved under DATA_DIR/reports/;
    # the job's result: {"report": id, "n": ..., "partial": ...}
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from core.runtime.settings import Settings

TEST_FILE, TRAIN_FILE = "test", "train"


def start_task_evaluation(test_path: Path, *, train_path: Path | None = None, arms: Sequence[str] = (),
                          adapter: str | None = None, k: int | None = None, task: str | None = None,
                          limit: int | None = None, batch_size: int = 8, settings: Settings | None = None):
    """Validate the files now (a TaskDataError names the problem), then start the job (group "evaluate")."""
    from core.runtime import jobs
    from core.training.tasks import load_task_data

    test = load_task_data(Path(test_path), task=task, purpose="test", min_rows=1).require_valid()
    if train_path is not None:
        load_task_data(Path(train_path), task=test.task).require_valid()
    files = {f"{TEST_FILE}{Path(test_path).suffix.lower()}": Path(test_path)}
    if train_path is not None:
        files[f"{TRAIN_FILE}{Path(train_path).suffix.lower()}"] = Path(train_path)
    spec = {"task": test.task, "arms": list(arms), "adapter": adapter, "k": k, "limit": limit,
            "batch_size": batch_size, "names": {"test": test.name, "train": Path(train_path).name if train_path else None},
            "files": list(files)}
    return jobs.start("evaluate", "core.evaluation.tasks.job", spec, group="evaluate", settings=settings, files=files)


def _worker(run_dir: Path) -> None:
    from core.evaluation.evaluate import EvaluationStopped, save_report
    from core.evaluation.tasks.arms import TASK_ARMS
    from core.evaluation.tasks.evaluate import evaluate_task
    from core.runtime.jobrun import JobRun
    from core.training.tasks import load_task_data

    with JobRun(run_dir) as run:
        spec = run.spec
        files = {name.split(".")[0]: run_dir / name for name in spec["files"]}
        test = load_task_data(files[TEST_FILE], name=spec["names"]["test"], task=spec["task"], purpose="test",
                              min_rows=1).require_valid()
        train = (load_task_data(files[TRAIN_FILE], name=spec["names"]["train"], task=spec["task"]).require_valid()
                 if TRAIN_FILE in files else None)
        total = min(len(test.rows), spec.get("limit") or len(test.rows))
        run.update(total_steps=total, message="Loading the model…")

        def progress(done: int, total: int, elapsed: float) -> None:
            run.progress(step=done, total=total, elapsed_s=round(elapsed, 1))
            run.update(step=done, message=f"{done}/{total} texts")

        try:
            report = evaluate_task(test, arms=tuple(spec.get("arms") or TASK_ARMS), train=train,
                                   adapter=spec.get("adapter"), k=spec.get("k"), limit=spec.get("limit"),
                                   batch_size=int(spec.get("batch_size") or 8), on_progress=progress,
                                   should_stop=run.stop_requested, job_id=run_dir.name)
        except EvaluationStopped:
            run.finish("cancelled", message="Cancelled before any text was answered: no report.")
            return
        save_report(report)
        run.finish("completed" if report["complete"] else "cancelled",
                   result={"report": report["id"], "n": report["n"], "partial": report["partial"]})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Crossroads task evaluation worker")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="accepted for the job protocol; starts over")
    _worker(parser.parse_args().run_dir)
