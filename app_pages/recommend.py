"""Recommend: a step-by-step wizard -> RAG, fine-tune, hybrid or prompt-first, with reasons.

Thin page: widgets (ui.recommend_wizard) -> core.decision.engine (pure) -> ui.recommend_view.
Answers live in st.session_state (Back / Next, page switches) and in DATA_DIR/ui/wizard.json
(a browser reload).
"""

import streamlit as st

from core.decision.answers import AnswerError
from core.decision.engine import flips, recommend, what_if
from core.decision.inputs import (
    evidence_model,
    kb_corpus_tokens,
    latest_finished_report,
    list_kbs,
    list_reports,
    measured_update_times,
    resolve_report,
    workspace_assets,
)
from core.decision.projection import projection
from core.decision.questions import OPTION_LABELS, QUESTION_BY_ID, QUESTIONS, STEPS
from core.runtime.answer_times import single_answer_latency
from core.runtime.errors import CrossroadsError
from core.runtime.settings import get_settings
from core.runtime.text import md_escape
from ui import recommend_view as V
from ui import recommend_wizard as W
from ui.common import show_error

N = len(STEPS)  # steps 0..N-1 ask questions; step N shows the result
data_dir = get_settings().data_dir
W.restore(data_dir, N)


def go(step: int) -> None:
    current = st.session_state[W.STATE_STEP]
    if current < N:
        W.harvest(STEPS[current][1])
    step = max(0, min(N, step))
    if step < N:
        W.prefill(STEPS[step][1])
    else:
        W.new_picker()
    st.session_state[W.STATE_STEP] = step


def restart() -> None:
    st.session_state[W.STATE_ANSWERS] = {}
    for q in QUESTIONS:
        st.session_state.pop(W.widget_key(q.id), None)
    go(0)


def use_kb(kb: str) -> None:
    est = kb_corpus_tokens(data_dir, kb)
    if est["tokens"] is None:
        st.session_state["rec_kb_msg"] = f"Could not size {kb}: {est['method']}. Type an estimate."
        return
    W.set_answer("corpus_tokens", est["tokens"])
    st.session_state["rec_kb_msg"] = f"{kb}: {est['tokens']:,} tokens ({est['method']})."


st.title("Recommend")
W.show_problem()
step = st.session_state[W.STATE_STEP]

if step < N:
    title, qids = STEPS[step]
    st.caption("Answer in plain terms; skip anything you are unsure of (it counts as neutral). "
               "Your answers are saved in this workspace: they survive moving between steps and "
               "pages, and reloading the browser.")
    st.progress((step + 1) / (N + 1), text=f"Step {step + 1} of {N}: {title}")
    with st.container(border=True):
        st.subheader(title)
        for qid in qids:
            W.ask(QUESTION_BY_ID[qid])
        if "corpus_tokens" in qids:
            kbs = list_kbs(data_dir)
            if kbs:
                c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
                kb = c1.selectbox("Compute it from a knowledge base", kbs, key="rec_kb")
                c2.button("Compute from this knowledge base", key="rec_kb_compute", on_click=use_kb, args=(kb,))
                if st.session_state.get("rec_kb_msg"):
                    st.caption(md_escape(st.session_state["rec_kb_msg"]))
            else:
                st.caption("No knowledge base yet: type an estimate, or build one on the "
                           "Knowledge page and come back to compute it.")
    back, nxt, results = st.columns([1, 1, 2])
    back.button("← Back", key="rec_back", on_click=go, args=(step - 1,), disabled=step == 0, width="stretch")
    nxt.button("Next →" if step < N - 1 else "See my recommendation →", key="rec_next", on_click=go,
               args=(step + 1,), type="primary", width="stretch")
    if step < N - 1:
        results.button("Skip to the recommendation", key="rec_skip", on_click=go, args=(N,))
    W.persist(data_dir)
    st.stop()

# ------------------------------------------------------------------ result page
st.progress(1.0, text="Done: your recommendation")
answers = {k: v for k, v in W.answers().items() if v is not None}

W.persist(data_dir)
reports = [r for r in list_reports(data_dir) if r.get("ok")]
choice = W.pick_report(reports, latest_finished_report(reports, answers.get("task")))
if not any(not r.get("partial") for r in reports):
    st.caption("No finished evaluation report yet. Run one on the Evaluate page to add measured evidence"
               + (" (a cancelled run's partial report can be selected, but is never chosen for you)."
                  if reports else "."))

report, report_id = None, None
try:
    if choice != W.NO_REPORT:
        report_id, report = resolve_report(choice, data_dir)
    rec = recommend(answers, report, evidence_id=report_id, assets=workspace_assets(data_dir))
    times = measured_update_times(data_dir, report)
    proj = projection(answers, report, train_seconds=times["train_seconds"],
                        reindex_seconds=times["reindex_seconds"], single=single_answer_latency(data_dir, evidence_model(report)))
except (CrossroadsError, AnswerError) as exc:
    show_error(exc if isinstance(exc, CrossroadsError) else CrossroadsError(str(exc)))
    st.button("← Back to the questions", key="rec_to_questions_err", on_click=go, args=(N - 1,))
    st.stop()

V.headline(rec)
c1, c2, _ = st.columns([1, 1, 2])
c1.button("← Back to the questions", key="rec_to_questions", on_click=go, args=(N - 1,))
c2.button("Start over", key="rec_restart", on_click=restart)

V.reasons(rec)
V.gates(rec)
with st.expander("Scores per option"):
    V.scores(rec)
V.evidence(rec, report)
V.task_hypothesis(rec)

st.subheader("What if?")
st.caption("Change one answer and see whether the recommendation flips. Your saved answers stay as they are.")
qc, vc = st.columns(2)
choice_qs = [q for q in QUESTIONS if q.kind == "choice"]
wq = qc.selectbox("Question", [q.id for q in choice_qs], key="rec_whatif_q",
                  format_func=lambda qid: QUESTION_BY_ID[qid].prompt)
q = QUESTION_BY_ID[wq]
wopts = [W.SKIP, *q.values]
wv = vc.radio("Answer instead", wopts, key=f"rec_whatif_v_{wq}",
              index=wopts.index(answers.get(wq, W.SKIP)),
              format_func=lambda v: "Skip / not sure" if v == W.SKIP else dict(q.options)[v])
wi = what_if(answers, wq, None if wv == W.SKIP else wv, report)
if wi["flipped"]:
    st.warning(f"With that answer the recommendation **flips** to **{OPTION_LABELS[wi['after']]}** "
               f"(confidence {wi['record']['confidence']:.2f}).", icon=":material/swap_horiz:")
else:
    st.info(f"With that answer it **stays** {OPTION_LABELS[wi['after']]} (confidence {wi['record']['confidence']:.2f}).", icon=":material/check:")
flips = flips(answers, report)
with st.expander(f"Every single answer that would flip it ({len(flips)})"):
    if flips:
        st.dataframe(
            [{"question": f["prompt"], "answer instead": f["label"], "would become": OPTION_LABELS[f["choice"]]}
             for f in flips], hide_index=True, width="stretch",
        )
    else:
        st.write("None: no single change of answer flips this recommendation.")

V.projection(proj, {"train": times["train_from"], "reindex": times["reindex_from"]})
V.next_steps(rec)
V.downloads(rec, proj)
