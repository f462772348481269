"""The ingestion job on the Knowledge page: progress, per-file results, Cancel and Resume.

The job runs in its own process (core.knowledge.ingest_job); this panel only reads its run
directory, so it re-attaches after a reload, a page switch or an app restart.
"""

from __future__ import annotations

import streamlit as st

from core.knowledge import ingest_job as IJ
from core.runtime import jobs
from core.runtime.errors import CrossroadsError
from core.runtime.text import plural
from ui.common import show_error
from ui.jobs_view import since
from ui.knowledge_view import md_escape, render_ingest_results

_STATE_ICON = {"cancelled": ":material/block:", "interrupted": ":material/warning:", "failed": ":material/error:"}
_MODE = {"ingest": "Ingesting uploads", "demo": "Loading the demo documents", "rebuild": "Re-indexing"}


def start(starter, *args, **kwargs) -> bool:
    """Start an ingestion job (`starter` from core.knowledge.ingest_job); errors shown, not raised."""
    try:
        starter(*args, **kwargs)
        return True
    except CrossroadsError as exc:
        show_error(exc)
    return False


def indexing_note(kb: str | None) -> None:
    """On pages that read a knowledge base: say when an ingestion is writing it right now.

    Always one slot on the page, filled or empty, so the note coming and going does not move the
    widgets below it (a moved block is drawn anew: an open expander would close by itself)."""
    slot = st.empty()
    if not kb:
        return
    try:
        job = IJ.indexing(kb)
    except CrossroadsError:
        return
    if job is not None:
        p = IJ.job_progress(job)
        slot.info(f"Indexing in progress in **{md_escape(kb)}**" + (f" ({md_escape(p.describe())})" if p else "")
                + ": answers use the files indexed so far.", icon=":material/sync:")


def ingest_panel(kb: str) -> None:
    """The newest ingestion job of `kb`, followed live while it runs; nothing once dismissed."""
    try:
        found = IJ.kb_jobs(kb)
    except CrossroadsError as exc:
        show_error(exc)
        return
    if not found or found[0].id in st.session_state.get("ingest_dismissed", set()):
        return

    @st.fragment(run_every="1s" if found[0].active else None)
    def _panel(job_id: str) -> None:
        try:
            job = jobs.get(job_id)
        except CrossroadsError as exc:
            show_error(exc)
            return
        _render(job)
        was_active = st.session_state.get(f"ingest_active_{job_id}")
        st.session_state[f"ingest_active_{job_id}"] = job.active
        if was_active and not job.active:
            st.rerun()  # the whole page: the file list and the summary changed

    with st.container(border=True, key="ingest_panel"):
        _panel(found[0].id)


def _render(job: jobs.Job) -> None:
    mode = _MODE.get(job.spec.get("mode"), "Ingestion")
    st.markdown(f"**{mode}** · {job.state} · job `{job.id}`")
    p = IJ.job_progress(job)
    if job.active:
        fraction = p.fraction if p else 0.0
        # the current file's name is the uploader's text: escaped, the label renders markdown
        label = (p.describe() + (f" · {p.current}" if p.current else "")) if p else \
            f"{job.status.get('message', 'Starting…')} · {since(job.status.get('created'))}"
        st.progress(min(1.0, max(0.0, fraction)), text=md_escape(label))
        st.caption("Runs in the background: you can reload, switch pages or close the tab; it keeps indexing. "
                   "Ask, Compare and Evaluate use the files indexed so far.")
    elif job.status.get("result"):
        render_ingest_results(job.status["result"])
    if job.state in ("cancelled", "interrupted", "failed"):
        (st.error if job.state == "failed" else st.warning)(md_escape(job.status.get("message") or job.state),
                                                           icon=_STATE_ICON[job.state])
    done = IJ.file_results(job)
    if job.active and done:
        st.dataframe([{"File": f["name"], "Result": f"indexed ({plural(f['chunks'], 'chunk')})" if f["status"] == "indexed"
                       else (f.get("error") or f["status"])} for f in done[-200:]],
                     hide_index=True, width="stretch", key=f"ingest_files_{job.id}")
    c1, c2, c3, _ = st.columns([1, 1, 1, 3])
    if job.active and c1.button("Cancel", icon=":material/stop_circle:", key=f"ingest_cancel_{job.id}",
                                disabled=job.state == "stopping", help="Stops within one embedding batch; "
                                "the files indexed so far stay, the partial one is removed."):
        jobs.cancel(job.id)
    if job.state in ("cancelled", "interrupted", "failed") and c2.button("Resume", icon=":material/play_arrow:", key=f"ingest_resume_{job.id}",
                               type="primary", help="Index the remaining files; the indexed ones are recognised and skipped."):
        try:
            jobs.resume(job.id)
            st.session_state[f"ingest_active_{job.id}"] = True
            st.rerun()
        except CrossroadsError as exc:
            show_error(exc)
    if not job.active and c3.button("Dismiss", key=f"ingest_dismiss_{job.id}"):
        st.session_state.setdefault("ingest_dismissed", set()).add(job.id)
        st.rerun()
