"""Evaluate page, classification / extraction (issue 27): a held-out labeled file through the task's arms
(base, retrieved examples, fine-tuned, hybrid) as a background job (core.evaluation.tasks.job)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.runtime.errors import CrossroadsError
from core.runtime.settings import get_settings
from core.runtime.text import md_escape, plural
from core.training.adapters import list_adapters
from core.training.data_files import read_records, store_upload
from core.training.tasks import TASK_TITLES, detect_task
from ui.common import show_error
from ui.task_report_view import ARM_ORDER, ARM_TITLES

DEMO = Path(__file__).resolve().parent.parent / "demo"
UPLOAD = "(upload a file)"
ADAPTER_ARMS, EXAMPLE_ARMS = ("ft", "hybrid"), ("examples", "hybrid")


@st.cache_data(show_spinner=False, max_entries=64)
def _file_task(path: str, mtime: float) -> str | None:
    try:
        _, columns, _ = read_records(Path(path).read_bytes(), Path(path).name)
    except (CrossroadsError, OSError):
        return None
    task = detect_task(columns)
    return task if task in ("classification", "extraction") else None


def file_task(path: Path) -> str | None:
    return _file_task(str(path), path.stat().st_mtime) if path.is_file() else None


def demo_files(task: str | None, role: str) -> list[Path]:
    """The demo's labeled task files for `role` ("train" / "test"), of `task` when given."""
    other = "test" if role == "train" else "train"
    out = []
    for path in sorted(DEMO.glob("*")):
        if path.suffix not in (".csv", ".jsonl", ".json") or other in path.stem:
            continue
        found = file_task(path)
        if found and (task is None or found == task) and (role in path.stem or role == "train"):
            out.append(path)
    return out


def task_adapters() -> dict[str, dict]:
    """Adapters trained for a task: name -> meta `mode` (task, labels / entity types, train_file)."""
    from core.evaluation.tasks.arms import adapter_task

    out = {}
    for record in list_adapters():
        spec = adapter_task(record.meta)
        if spec is not None:
            out[record.name] = {**spec.as_dict(), "train_file": (record.meta.get("mode") or {}).get("train_file"),
                                "data_name": (record.meta.get("data") or {}).get("name")}
    return out


def file_picker(label: str, options: list[Path], default: Path | None, key: str, help: str,
                default_name: str | None = None) -> tuple[Path, str] | None:
    """A demo / known file or an upload: (path on disk, display name), or None. `default` (the
    adapter's training file) comes first, under its own name (an upload is kept under a hash)."""
    names = {str(p): p.name for p in options}
    if default is not None:
        names.pop(str(default), None)
        names = {str(default): f"{default_name or default.name} (the adapter's training file)", **names}
    choices = [*names, UPLOAD]
    chosen = st.selectbox(label, choices, index=choices.index(str(default)) if default is not None else 0,
                          format_func=lambda c: names.get(c, c), key=key, help=help)
    if chosen != UPLOAD:
        return Path(chosen), (default_name or Path(chosen).name) if default and chosen == str(default) \
            else Path(chosen).name
    upload = st.file_uploader(f"{md_escape(label)}: CSV, JSONL or JSON (text + label, or text + entities)",
                              type=["csv", "jsonl", "json"], key=f"{key}_upload", max_upload_size=50)
    if upload is None:
        return None
    try:
        return store_upload(upload.getvalue(), upload.name, get_settings()), upload.name
    except CrossroadsError as exc:
        show_error(exc)
        return None


def task_evaluation_form() -> None:
    """Adapter, held-out file, examples file, arms, size, learning curve -> a started job."""
    from core.evaluation.tasks.job import start_task_evaluation

    adapters = task_adapters()
    c1, c2 = st.columns(2)
    adapter = c1.selectbox("Task adapter (fine-tuned arms)", [None, *adapters], key="task_eval_adapter",
                           format_func=lambda a: "— none: base and retrieved examples only —" if a is None else
                           f"{a} ({adapters[a]['task']})",
                           help="Adapters trained on the Fine-tune page from a classification or extraction file.")
    task = adapters[adapter]["task"] if adapter else None
    trained_on = Path(adapters[adapter]["train_file"]) if adapter and adapters[adapter].get("train_file") else None
    with c2:
        test = file_picker("Held-out labeled file", demo_files(task, "test"), None, "task_eval_test",
                            "Rows the adapter never saw: each arm answers them and is scored against their labels.")
    if test is None:
        st.info("Choose or upload a held-out file with text + label (classification) or text + entities "
                "(extraction).", icon=":material/description:")
        return
    test_task = file_task(test[0])
    if test_task is None:
        st.error(f"{md_escape(test[1])} holds no classification or extraction task (text + label, or text + "
                 "entities).", icon=":material/block:")
        return
    if task and test_task != task:
        st.error(f"Adapter {md_escape(adapter)} was trained for {md_escape(task)}; {md_escape(test[1])} holds "
                 f"{md_escape(test_task)}.", icon=":material/block:")
        return
    # keyed by the adapter: choosing another adapter starts on its own training file
    train = file_picker("Training rows for the retrieved examples", demo_files(test_task, "train"),
                        trained_on if trained_on and trained_on.is_file() else None, f"task_eval_train_{adapter}",
                        "The labeled rows the retrieved-examples arm searches (the most similar ones become "
                        "few-shot examples); use the file the adapter was trained on for a fair comparison.",
                        adapters[adapter].get("data_name") if adapter else None)
    available = [a for a in ARM_ORDER if (a not in ADAPTER_ARMS or adapter) and (a not in EXAMPLE_ARMS or train)]
    arms = st.pills("Arms", available, default=available, selection_mode="multi", key=f"task_eval_arms_{adapter}",
                    format_func=ARM_TITLES.get)
    d1, d2, d3 = st.columns(3)
    limit = d1.number_input("Use at most N rows", 1, 5000, 40, key="task_eval_limit")
    k = d2.selectbox("Examples per prompt (k)", [None, 1, 2, 4, 8], key="task_eval_k",
                     format_func=lambda v: "chosen by a sweep" if v is None else str(v),
                     help="How many of the most similar training rows the retrieved-examples and hybrid arms see. "
                          "The sweep tries 1, 2, 4 and 8 on rows held out of the training file and keeps the best.")
    curve = d3.checkbox("Learning curve (25%, 50%, 100% of the training rows)", key="task_eval_curve",
                        disabled=not (adapter and train),
                        help="Trains two more adapters, on 25% and 50% of the training rows with this adapter's "
                             "options, and measures the same arms at each share: where does fine-tuning overtake "
                             "retrieved examples? Takes about three times as long.")
    st.caption(f":material/category: {TASK_TITLES[test_task]}: {plural(len(arms or []), 'arm')}, the same base "
               "model and greedy decoding.")
    if st.button("Start task evaluation", type="primary", icon=":material/play_arrow:", disabled=not arms,
                 key="task_eval_start"):
        try:
            job = start_task_evaluation(test[0], arms=[a for a in ARM_ORDER if a in arms],
                                        train_path=train[0] if train else None, adapter=adapter, limit=int(limit), k=k,
                                        learning_curve=bool(curve and adapter and train), test_name=test[1],
                                        train_name=train[1] if train else None)
            st.session_state.setdefault("eval_job_state", {})[job.id] = "queued"
            st.rerun()
        except CrossroadsError as exc:
            show_error(exc)
