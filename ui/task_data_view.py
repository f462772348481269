"""Fine-tune page: the task a labeled file holds (issue 27) — classification (text -> one label) or
extraction (text -> entities as JSON) — its label set or entity types with counts, the engine's
validation errors, and the exact prompt and target of the first rows.

Extraction trains through the existing prompt/completion path: the task's training file
(core.training.task_prompts.write_training_file) replaces the upload as what trains, so the
validation report and "What the model sees" below show exactly the rows the adapter learns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import streamlit as st

from core.runtime.text import md_escape, plural
from core.training.schema import Schema
from core.training.task_prompts import write_training_file
from core.training.tasks import TASK_TITLES, TaskData, detect_task, load_task_data, preview_row

TASK_KINDS = ("classification", "extraction")
TASK_LINES = {"classification": "text → one label of a fixed set", "extraction": "text → its entities, as JSON"}
PREVIEW_ROWS = 3
EXTRACTION_MAX_LENGTH = 256  # as core.training.task_finetune (branch tasks): the types and a JSON answer
LEVELS = {"error": (st.error, ":material/block:"), "warning": (st.warning, ":material/warning:"),
          "info": (st.info, ":material/info:")}


@dataclass(frozen=True)
class TaskChoice:
    data: TaskData
    training: object  # the DataChoice that trains (the upload itself, or extraction's prompt/completion file)
    source_path: Path  # the labeled file itself: the retrieved-examples arm draws its examples from it

    @property
    def task(self) -> str:
        return self.data.task

    def adapter_mode(self) -> dict:
        """The adapter's meta `mode`: its task as the engine reads it (core.evaluation.tasks.arms.adapter_task),
        and the labeled file the retrieved-examples arm can draw its examples from."""
        spec = self.data.spec
        return {"mode": "closed_book", "task": spec.task, "labels": list(spec.labels),
                "entity_types": list(spec.entity_types), "train_file": str(self.source_path)}


@st.cache_data(show_spinner="Reading the task…", max_entries=8)
def _load(path: str, sha: str, name: str, task: str) -> TaskData:
    return load_task_data(Path(path), name=name, task=task)


def file_task(choice) -> str | None:
    """The task the chosen file's columns hold (None for Q&A-style files)."""
    task = detect_task(choice.columns)
    if task == "classification" and choice.schema.kind != "classification":
        return None  # the user mapped the columns as another format
    # A classification file whose columns the user mapped by hand is read by the page's own
    # validation (the task reader knows the usual column names only).
    return task if task in TASK_KINDS else None


def _counts(data: TaskData) -> None:
    if data.task == "classification":
        counts = data.report.stats.get("label_counts") or {}
        what = f"{plural(len(counts), 'label')}"
        frame = pd.DataFrame({"label": list(counts), "rows": list(counts.values())})
    else:
        counts = data.report.stats.get("entity_counts") or {}
        what = f"{plural(len(counts), 'entity type')}"
        frame = pd.DataFrame({"entity type": list(counts), "entities": list(counts.values())})
        without = data.report.stats.get("rows_without_entities")
        if without:
            what += f" · {plural(without, 'row')} without any entity"
    if counts:
        st.markdown(f"**{what}**")
        st.dataframe(frame, hide_index=True, width="content")


def _preview(data: TaskData, tokenizer) -> None:
    rows = data.rows[:PREVIEW_ROWS]
    if not rows:
        return
    # Collapsed: "What the model sees" below shows the same rows as they train; this is the task's
    # view (the base and retrieved-examples arms get this prompt too, the latter after its examples).
    with st.expander(f"The exact prompt and target of the first {plural(len(rows), 'row')} (chat template applied)"):
        for row in rows:
            p = preview_row(row, data.spec, tokenizer)
            st.caption(f"Row {p['row']} · prompt")
            st.code(p["prompt"], language=None, wrap_lines=True)
            st.markdown(":green-background[**Target** — what the model must answer]")
            st.code(p["target"], language=None, wrap_lines=True)


def task_section(choice, settings, tokenizer) -> TaskChoice | None:
    """The task box under the file; None for a Q&A-style file. Stops the page on a file the task cannot use."""
    task = file_task(choice)
    if task is None:
        return None
    data = _load(str(choice.path), choice.sha, choice.display_name, task)
    with st.container(border=True):
        st.markdown(f":material/category: Task: **{md_escape(TASK_TITLES[task])}** — {md_escape(TASK_LINES[task])}")
        for issue in data.report.issues:
            box, icon = LEVELS[issue.level]
            box(md_escape(issue.text()), icon=icon)
        if not data.ok:
            st.caption("Fix the file and upload it again: nothing trains until the task's rows are valid.")
        _counts(data)
        if data.ok:
            _preview(data, tokenizer)
    if not data.ok and task == "extraction":
        st.stop()  # no training file without valid entities (a classification file's errors also block Start below)
    training = choice
    if task == "extraction":
        folder = settings.path("ui", "tasks")
        path = write_training_file(data, folder / f"{choice.sha[:16]}-extraction")
        training = replace(choice, path=path, sha=hashlib.sha256(path.read_bytes()).hexdigest(),
                           columns=("prompt", "completion"),
                           schema=Schema.of("prompt_completion", {"prompt": "prompt", "completion": "completion"}))
    return TaskChoice(data, training, Path(choice.path))
