"""Fine-tuning a LoRA adapter on a task's training rows, through the existing fine-tune job.

The rows are written in the format the existing path trains (core.training.task_prompts:
text/label for classification, prompt/completion for extraction) and trained by
`core.training.finetune.start_finetune`; the adapter's meta records the task under `mode`
(`{"mode": "closed_book", "task": ..., "labels": ..., "entity_types": ...}`), which the task arms
check against the evaluation's label set or entity types.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from core.training.task_prompts import write_training_file
from core.training.tasks import TaskData

# Extraction targets are JSON lists: longer than a label, shorter than most answers.
EXTRACTION_MAX_LENGTH = 256


def task_mode(data: TaskData) -> dict:
    return {"mode": "closed_book", "task": data.task, "labels": list(data.labels),
            "entity_types": list(data.entity_types)}


def task_options(data: TaskData, preset: str = "quick", **overrides):
    """The preset's options for this task and size (labels family for classification, facts for extraction)."""
    from core.training.finetune import preset_options

    kind = "classification" if data.task == "classification" else "prompt_completion"
    options = preset_options(preset, kind, len(data.rows))
    if data.task == "extraction" and "max_length" not in overrides:
        options = replace(options, max_length=max(options.max_length, EXTRACTION_MAX_LENGTH))
    return replace(options, **overrides)


def start_task_finetune(data: TaskData, name: str, options=None, *, overwrite: bool = False, settings=None,
                        folder: Path | None = None):
    """Start the training job (core.runtime.jobs.Job) on the task's rows."""
    from core.training.finetune import start_finetune

    data.require_valid()
    options = options or task_options(data)
    folder = Path(folder or tempfile.mkdtemp(prefix="task-train-"))
    path = write_training_file(data, folder / f"{Path(data.name).stem or 'train'}-{data.task}")
    return start_finetune(path, name, options, data_name=data.name, overwrite=overwrite, settings=settings,
                          adapter_mode=task_mode(data))


def train_task_adapter(data: TaskData, name: str, options=None, *, overwrite: bool = False, settings=None,
                       on_progress=None) -> dict:
    """Train and wait; the finished job's result (raises TrainingError when the run fails)."""
    from core.runtime import jobs
    from core.training.finetune import TrainingError

    job = start_task_finetune(data, name, options, overwrite=overwrite, settings=settings)
    job = jobs.wait(job.id, settings=settings, poll=0.5, on_progress=on_progress)
    if job.state != "completed":
        reason = job.status.get("error") or job.status.get("message") or job.state
        raise TrainingError(f"Training {name} {job.state}: {reason}", hint=job.status.get("hint") or "")
    return job.status.get("result") or {}

