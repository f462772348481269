"""What a background job is doing, in words, and the list of running jobs (Home).

Every page that follows a job reads the same run directory (core.runtime.jobs), so after a
reload or from another page the job can still say what it runs: from its spec, not from the
form that started it (a reload resets forms).
"""

from __future__ import annotations

import streamlit as st

from core.evaluation.arms import adapter_mode_of, arm_title
from core.runtime import jobs
from core.runtime.text import plural
from ui.knowledge_view import md_escape

# kind -> (page, page title): where each job is followed and controlled.
JOB_PAGES = {
    "finetune": ("app_pages/finetune.py", "Fine-tune"),
    "estimate": ("app_pages/finetune.py", "Fine-tune"),
    "ingest": ("app_pages/knowledge.py", "Knowledge"),
    "evaluate": ("app_pages/evaluate.py", "Evaluate"),
}


def since(iso: str | None) -> str:
    """'12 s so far' since an ISO time (a wait that says how long it has been going)."""
    from datetime import UTC, datetime

    try:
        seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    except (TypeError, ValueError):
        return "starting"
    return f"{max(0, seconds):.0f} s so far"


def describe(job: jobs.Job) -> str:
    """One line saying what the job runs (markdown, names escaped)."""
    spec = job.spec
    if job.kind == "finetune":
        mode = ((spec.get("adapter_mode") or {}).get("mode") or "closed_book").replace("_", "-")
        return (f"Training adapter **{md_escape(spec.get('name') or '?')}** ({mode}) on "
                f"{md_escape(spec.get('data_name') or 'its data')}")
    if job.kind == "estimate":
        return f"Timing {plural(int(spec.get('steps') or 0), 'training step')} on {md_escape(spec.get('data_name') or 'the data')}"
    if job.kind == "ingest":
        if spec.get("mode") == "demo":
            return f"Indexing the demo documents into **{md_escape(spec.get('kb') or 'demo')}**"
        files = spec.get("files") or []
        what = "Re-indexing" if spec.get("mode") == "rebuild" else f"Indexing {plural(len(files), 'file')} into"
        return f"{what} **{md_escape(spec.get('kb') or '?')}**"
    if job.kind == "evaluate" and spec.get("task"):  # classification / extraction (core.evaluation.tasks.job)
        from ui.task_report_view import ARM_TITLES as TASK_ARM_TITLES

        arms = ", ".join(TASK_ARM_TITLES.get(a, a) for a in spec.get("arms") or [])
        test, train = spec.get("test_name"), spec.get("train_name")
        parts = [f"Evaluating {arms} on **{md_escape(test or '?')}** ({md_escape(spec['task'])})"]
        if train:
            parts.append(f"examples from **{md_escape(train)}**")
        if spec.get("adapter"):
            parts.append(f"adapter **{md_escape(spec['adapter'])}**")
        if spec.get("learning_curve"):
            parts.append("with a learning curve")
        return " · ".join(parts)
    if job.kind == "evaluate":
        setup, eval_set = spec.get("setup") or {}, spec.get("eval_set") or {}
        mode = adapter_mode_of(setup.get("adapter"))
        arms = ", ".join(arm_title(a, mode) for a in setup.get("arms") or [])
        retrieval = setup.get("retrieval") or {}
        parts = [f"Evaluating {arms} on **{md_escape(eval_set.get('name') or '?')}**"]
        if setup.get("kb"):
            parts.append(f"kb **{md_escape(setup['kb'])}** ({retrieval.get('search_type', '?')}, "
                         f"k={retrieval.get('k', '?')})")
        if setup.get("adapter"):
            parts.append(f"adapter **{md_escape(setup['adapter'])}**")
        parts.append(f"max {(setup.get('decoding') or {}).get('max_new_tokens', '?')} new tokens")
        return " · ".join(parts)
    return f"{md_escape(job.kind)} job"


def progress_line(job: jobs.Job) -> str:
    status = job.status
    total, step = status.get("total_steps") or 0, status.get("step") or 0
    done = f"{step} of {total} · " if total else ""
    return f"{done}{md_escape(status.get('message') or job.state)}"


def running_jobs() -> None:
    """Every running job of this data directory, with a link to the page that follows it."""
    running = [job for job in jobs.list_jobs() if job.active]
    if not running:
        return
    st.subheader("Running now")
    for job in running:
        page, title = JOB_PAGES.get(job.kind, (None, None))
        with st.container(border=True):
            left, right = st.columns([3, 1], vertical_alignment="center")
            left.markdown(describe(job))
            left.caption(progress_line(job))
            if page:
                right.page_link(page, label=f"Open {title}", icon=":material/open_in_new:")
