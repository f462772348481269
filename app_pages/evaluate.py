"""Evaluate: an eval set through the chosen arms as a background job -> a saved, comparable report."""

from dataclasses import replace

import streamlit as st

from core.evaluation import evalset_choice as C
from core.evaluation import planning
from core.evaluation.arms import (
    ADAPTER_ARMS,
    ARMS,
    RETRIEVAL_ARMS,
    ArmSetup,
    adapter_mode_of,
    arm_title,
    starting_retrieval,
)
from core.evaluation.estimate import estimate_seconds
from core.evaluation.evalsets import EvalSet
from core.evaluation.evaluate import (
    list_reports,
    load_report,
    start_evaluation,
)
from core.evaluation.freshness import TEXT_KINDS, Edit, run_freshness_test
from core.knowledge.manifest import kb_files, list_kbs
from core.knowledge.retrieval import RetrievalConfig
from core.runtime import jobs
from core.runtime.errors import CrossroadsError
from core.runtime.generation import Decoding
from core.runtime.limits import question_limit
from core.runtime.text import plural
from core.training.adapters import list_adapters
from core.training.seeds import list_groups, representative
from ui.common import page_section, show_error
from ui.evalset_view import choose_eval_set
from ui.ingest_view import indexing_note
from ui.jobs_view import describe
from ui.knowledge_view import md_escape
from ui.report_view import render_report
from ui.retrieval_view import retrieval_controls, retrieval_line
from ui.task_eval_view import task_evaluation_form

SOURCES = (C.KB_FILE, C.HELDOUT, C.CLOZE, C.UPLOAD, C.DEMO)

st.title("Evaluate")
st.caption("Run an eval set through every chosen arm on the same base model and decoding. Metrics come with "
           "paired-bootstrap confidence intervals; failures are shown, not hidden.")
for damaged in jobs.damaged_runs():  # skipped, never fatal to the page
    st.warning(md_escape(f"{damaged.message} {damaged.hint}"), icon=":material/warning:")


@st.fragment(run_every="1s")
def job_panel() -> None:
    job = next(iter(jobs.list_jobs("evaluate")), None)
    if job is None:
        return
    status = job.status
    with st.container(border=True):
        total, step = status.get("total_steps") or 0, status.get("step") or 0
        if job.active:
            st.markdown(f":material/play_circle: {describe(job)}")  # what runs, from the job (a reload resets the form)
            records = job.progress()
            eta = ""
            if records and step:
                elapsed = records[-1].get("elapsed_s", 0)
                eta = f" · elapsed {elapsed:.0f} s · ETA {elapsed / step * (total - step):.0f} s"
            st.progress(step / total if total else 0.0, text=f"Evaluation {job.id}: {md_escape(status.get('message', ''))}{eta}")
            if st.button("Cancel evaluation", icon=":material/stop:"):
                jobs.cancel(job.id)
        elif job.state == "completed":
            st.success(f"Evaluation {job.id} finished: report {md_escape(status.get('result', {}).get('report'))}.",
                       icon=":material/check_circle:")
        elif job.state == "cancelled":
            st.warning(f"Evaluation {job.id} was cancelled after {step} of {total} questions"
                       + (" (partial report saved)." if status.get("result") else "."), icon=":material/block:")
        else:
            st.error(f"Evaluation {job.id} {job.state}: {md_escape(status.get('error') or status.get('message'))}",
                     icon=":material/error:")
    if st.session_state.get("eval_job_state", {}).get(job.id) != job.state:
        was_active = st.session_state.setdefault("eval_job_state", {}).get(job.id) in jobs.ACTIVE
        st.session_state["eval_job_state"][job.id] = job.state
        if was_active and not job.active:
            # The picker shows this run's report. Set, not popped: a popped value leaves the browser
            # showing the old choice (the widget keeps its id) and sending it back on the next click.
            newest = (status.get("result") or {}).get("report") if job.state == "completed" else None
            if newest:
                st.session_state["eval_report"] = newest
            else:
                st.session_state.pop("eval_report", None)
            st.rerun()  # the new report appears in the list below


with page_section("Evaluation job"):
    job_panel()
kbs = [kb["name"] for kb in list_kbs()]
adapters = [a.name for a in list_adapters(active_model_only=True)]  # others are refused on this model
groups = {g["name"]: len(g["members"]) for g in list_groups()}  # seed groups: every seed is evaluated

# While an evaluation runs, the form starts from its setup: a reload shows what was started.
running = jobs.active_job("evaluate")
was = (running.spec.get("setup") or {}) if running else {}


def _index(options: list, value) -> int | None:
    return options.index(value) if value in options else (0 if options else None)


with page_section("New evaluation"):
    with st.expander("New evaluation", expanded=not list_reports(), icon=":material/play_arrow:"):
        c1, c2, c3 = st.columns([1, 1, 2])
        kb = c1.selectbox("Knowledge base", kbs, index=_index(kbs, was.get("kb")), placeholder="none yet")
        choices = [*groups, *adapters]
        adapter = c2.selectbox("Adapter", choices, index=_index(choices, was.get("adapter")), placeholder="none yet",
                               format_func=lambda a: f"{md_escape(a)} (seed group: {groups[a]:d} seeds)" if a in groups
                               else md_escape(a))
        member = representative(adapter)  # a group's members share one held-out split and one training mode
        indexing_note(kb)
        available = [a for a in ARMS if (a not in RETRIEVAL_ARMS or kb) and (a not in ADAPTER_ARMS or adapter)]
        mode = adapter_mode_of(member)  # one naming everywhere: "Hybrid (RAFT)" with a RAFT adapter
        arms = c3.pills("Arms", available, default=[a for a in available if a in was.get("arms", available)],
                        selection_mode="multi", format_func=lambda a: arm_title(a, mode), key="eval_arms")
        try:
            loader = choose_eval_set(kb, member, key="eval", sources=SOURCES)
            eval_set = loader() if loader else None
        except CrossroadsError as exc:
            show_error(exc)
            eval_set = None
        if eval_set is not None and (repeats := eval_set.duplicates()):
            st.warning(f"{repeats:d} item(s) repeat an earlier question. Each repeat counts as another observation, "
                       "so the confidence intervals come out narrower than the evidence.", icon=":material/content_copy:")
            if st.checkbox(f"Use each question once ({len(eval_set):d} → {len(eval_set) - repeats:d} items)",
                           value=True, key="eval_dedupe"):
                eval_set = eval_set.deduplicated()
        d1, d2 = st.columns(2)
        limit = d1.number_input("Use at most N items", 1, 5000, (running.status.get("total_steps") or 40) if running else 40)
        max_new = d2.number_input("Max new tokens", 8, 256, (was.get("decoding") or {}).get("max_new_tokens", 48), 8,
                                  help="Short answers keep evaluation fast.")
        # The kb's own setting (Retrieval lab), or the one a RAFT adapter was trained with; after a
        # reload during a run, the running evaluation's setting.
        if running and was.get("kb") == kb and was.get("retrieval"):
            base = RetrievalConfig.from_dict(was["retrieval"])
        else:
            base, _ = starting_retrieval(kb, member)
        retrieval = retrieval_controls(f"eval_{kb}_{adapter}", base) if kb else base
        chosen = tuple(a for a in ARMS if a in (arms or []))
        setup = None
        try:
            setup = ArmSetup(arms=chosen, kb=kb, adapter=adapter, retrieval=retrieval,
                             decoding=replace(Decoding(), max_new_tokens=int(max_new)))
            if kb:
                retrieval_line(setup.retrieval_record())
        except CrossroadsError as exc:
            show_error(exc)
        if eval_set is not None:
            n_items = min(int(limit), len(eval_set))
            st.caption(f"{n_items} of {len(eval_set)} items will run ({eval_set.kind})"
                       + (", with gold sources: retrieval hit@k and failure labels are measured."
                          if eval_set.has_sources else "."))
            st.caption(f":material/straighten: {planning.describe(planning.before_run(n_items, eval_set.kind))}")
            runs = [*(arms or []), *[a for a in arms or [] if a in ADAPTER_ARMS] * (groups.get(adapter, 1) - 1)]
            estimate = estimate_seconds(n_items, runs, int(max_new)) if arms else None
            if estimate:
                st.caption(f":material/schedule: Estimated **{estimate['seconds'] / 60:.1f} min** "
                           f"({md_escape(estimate['basis'])}), plus loading the model if it is not loaded yet.")
            elif arms:
                st.caption(f":material/schedule: {plural(n_items, 'question')} × {plural(len(arms), 'arm')}: no answer has been timed in "
                           "this workspace yet, so there is no estimate; the progress bar shows an ETA after the "
                           "first batch.")
        start = st.button("Start evaluation", type="primary", icon=":material/play_arrow:",
                          disabled=eval_set is None or not arms or setup is None)
        if start and eval_set is not None and setup is not None:
            try:
                subset = EvalSet(eval_set.name, eval_set.items[: int(limit)], eval_set.kind, eval_set.labels)
                job = start_evaluation(subset, setup)
                st.session_state.setdefault("eval_job_state", {})[job.id] = "queued"
                st.rerun()
            except CrossroadsError as exc:
                show_error(exc)

with page_section("New task evaluation"):  # classification / extraction (issue 27): ui/task_eval_view.py
    with st.expander("New classification / extraction evaluation", icon=":material/category:",
                     expanded=bool(running and running.spec.get("task"))):
        task_evaluation_form()

st.header("Reports")
with page_section("Reports"):
    reports = list_reports()
    if not reports:
        st.info("No reports yet: run an evaluation above.")
    else:
        labels = {r["id"]: f"{r['id']} · {r['eval_set']} · {r['n']} items · {', '.join(r['arms'])}"
                           + (" · partial (cancelled)" if r.get("partial") else "") for r in reports}
        finished = [r["id"] for r in reports if not r.get("partial")]
        left, right = st.columns(2)
        # The newest finished report is preselected: a cancelled run's partial report is listed, never the default.
        chosen = left.selectbox("Report", list(labels), format_func=labels.get, key="eval_report",
                                index=list(labels).index(finished[0]) if finished else 0)
        other = right.selectbox("Compare with (optional)", [None, *[r for r in labels if r != chosen]],
                                format_func=lambda r: "—" if r is None else labels[r])
        try:
            if other:
                a, b = st.columns(2)
                with a:
                    render_report(load_report(chosen), key="a")
                with b:
                    render_report(load_report(other), key="b")
            else:
                render_report(load_report(chosen))
        except CrossroadsError as exc:
            show_error(exc)

st.header("Freshness test")
st.caption("Edit a fact in an indexed text file, re-index it and ask again: RAG should pick up the new fact "
           "at once, the fine-tuned adapter keeps its trained answer until it is retrained. The edit stays in "
           "the knowledge base (re-index the original file to undo it).")
with page_section("Freshness test"):
    with st.expander("Run a freshness test", icon=":material/update:"):
        if not kbs or not adapters:
            st.info("Needs a knowledge base and an adapter.")
        else:
            f1, f2 = st.columns(2)
            fkb = f1.selectbox("Knowledge base", kbs, key="fresh_kb")
            fadapter = f2.selectbox("Adapter", adapters, key="fresh_adapter")
            files = [f["name"] for f in kb_files(fkb) if f.get("kind") in TEXT_KINDS and f.get("status") == "complete"]
            demo = fkb == "demo" and "support_policy.md" in files
            file_name = st.selectbox("File to edit", files, index=files.index("support_policy.md") if demo else 0)
            g1, g2 = st.columns(2)
            old = g1.text_input("Fact as written now", "36 months" if demo else "")
            new = g2.text_input("New fact", "48 months" if demo else "")
            question = st.text_input("Question that asks for it",
                                     "How long is the warranty on a Brindlemoor Skerry weather station?" if demo else "",
                                     max_chars=question_limit()[1])
            if st.button("Edit, re-index and re-ask", disabled=not (file_name and old and new and question)):
                try:
                    with st.spinner("Asking before, re-indexing, asking after…"):
                        st.session_state["freshness"] = run_freshness_test(fkb, fadapter, Edit(file_name, old, new, question))
                except CrossroadsError as exc:
                    show_error(exc)
            result = st.session_state.get("freshness")
            if result:
                rows = [{"arm": arm_title(arm, adapter_mode_of(fadapter)), "before the edit": r["before"], "after the edit": r["after"],
                         "new fact in answer": "yes" if r["new_fact_after"] else "no"} for arm, r in result["arms"].items()]
                st.dataframe(rows, hide_index=True)
                m1, m2 = st.columns(2)
                m1.metric("Re-index time (measured now)", f"{result['reindex_seconds']:.1f} s",
                          help=f"{plural(result['chunks_reindexed'], 'chunk')} embedded and stored.")
                retrain = result.get("retrain_seconds")
                m2.metric("Retraining time (this adapter's run)", f"{retrain:.0f} s" if retrain else "not recorded")
