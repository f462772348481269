"""The Recommend wizard's state: its widgets, the kept answers, the saved file and the report picker.

Answers live in st.session_state (they survive Back / Next and a page switch) and in
DATA_DIR/ui/wizard.json (core.decision.wizard_file: they survive a browser reload).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core.decision.questions import QUESTION_BY_ID, Question
from core.decision.wizard_file import load_wizard, save_wizard
from core.runtime.text import md_escape

SKIP = "__skip__"
STATE_STEP = "rec_step"
STATE_ANSWERS = "rec_answers"
STATE_REPORT = "rec_report_id"
NO_REPORT = "(none: use my answers only)"


def answers() -> dict[str, Any]:
    return st.session_state.setdefault(STATE_ANSWERS, {})


def widget_key(qid: str) -> str:
    return f"rec_q_{qid}"


# ------------------------------------------------------------------------------ wizard widgets


def ask(q: Question) -> None:
    """One question: its widget (pre-filled from the kept answers) and 'why we ask'."""
    a = answers()
    key = widget_key(q.id)
    if q.kind == "choice":
        if key not in st.session_state:
            st.session_state[key] = a.get(q.id) or SKIP
        labels = dict(q.options)
        value = st.radio(
            q.prompt, [SKIP, *q.values], key=key,
            format_func=lambda v: "Skip / not sure" if v == SKIP else labels[v],
        )
        a[q.id] = _from_widget(value)
    else:
        if key not in st.session_state:
            st.session_state[key] = a.get(q.id)
        value = st.number_input(
            f"{q.prompt} ({q.unit})", min_value=int(q.min_value), step=1, key=key,
            value=None, placeholder="leave empty to skip",
        )
        a[q.id] = _from_widget(value)
    st.caption(f"**Why we ask:** {q.why}")


def _from_widget(value: Any) -> Any:
    if value is None or value == SKIP:
        return None
    return int(value) if isinstance(value, float) and value.is_integer() else value


def harvest(qids: tuple[str, ...]) -> None:
    """Copy the values of the given (on-screen) widgets into the kept answers.

    Called from the Back / Next callbacks, which run before the script: a value changed just
    before the click is kept even though the step's widgets are not drawn again. Only the
    widgets on screen are read: a widget that left the screen may leave a stale value behind.
    """
    a = answers()
    for qid in qids:
        key = widget_key(qid)
        if key in st.session_state:
            a[qid] = _from_widget(st.session_state[key])


def prefill(qids: tuple[str, ...]) -> None:
    """Set the widgets of a step from the kept answers (from a callback, before they are drawn)."""
    a = answers()
    for qid in qids:
        q = QUESTION_BY_ID[qid]
        value = a.get(qid)
        st.session_state[widget_key(qid)] = (value or SKIP) if q.kind == "choice" else value


def set_answer(qid: str, value: Any) -> None:
    """Set an answer and its widget (call from a callback, before the widget is drawn)."""
    answers()[qid] = value
    st.session_state[widget_key(qid)] = value


# ------------------------------------------------------------------------------ saved answers

STATE_SAVED = "rec_saved"  # what wizard.json holds now (so an unchanged rerun writes nothing)
STATE_PROBLEM = "rec_load_problem"


def restore(data_dir: Path, steps: int) -> None:
    """Once per browser session: the answers and step saved in the workspace, if any."""
    if STATE_ANSWERS in st.session_state:
        return
    saved, step, problem = load_wizard(data_dir, steps)
    st.session_state[STATE_ANSWERS] = dict(saved)
    st.session_state[STATE_STEP] = step
    st.session_state[STATE_SAVED] = {"answers": dict(saved), "step": step}
    if problem:
        st.session_state[STATE_PROBLEM] = problem


def show_problem() -> None:
    """The saved file could not be used: say so once (it was moved aside, nothing is lost)."""
    problem = st.session_state.pop(STATE_PROBLEM, None)
    if problem:
        st.warning(md_escape(problem), icon=":material/warning:")


def persist(data_dir: Path) -> None:
    """Write the answers and step to the workspace when they changed since the last write."""
    now = {"answers": {k: v for k, v in answers().items() if v is not None},
           "step": st.session_state.get(STATE_STEP, 0)}
    if st.session_state.get(STATE_SAVED) == now:
        return
    try:
        save_wizard(data_dir, now["answers"], now["step"])
    except OSError as exc:
        st.caption(f"Your answers could not be saved to the workspace ({md_escape(exc.strerror)}); they are kept "
                   "until you close this tab.")
        return
    st.session_state[STATE_SAVED] = now


# ------------------------------------------------------------------------------ the report picker

STATE_PICK = "rec_report_pick"  # the user's own choice, kept while the picker is off screen
STATE_GEN = "rec_report_gen"  # bumped each time the picker comes back on screen
REPORT_LABEL = "Measured evidence: your evaluation report"


def _keep_pick(key: str) -> None:
    st.session_state[STATE_PICK] = st.session_state[key]


def new_picker() -> None:
    """The picker comes back on screen (from a callback): draw it as a new widget."""
    st.session_state[STATE_GEN] = st.session_state.get(STATE_GEN, 0) + 1


def pick_report(reports: list[dict[str, Any]], latest: str | None) -> str:
    """The evidence selectbox: the user's own pick if it is still offered, else the latest
    finished report; partial ones are offered last, labelled, and never preselected.

    Each time the picker comes back on screen (after "Back to the questions", a page switch) it
    is a new widget whose default is that choice. Reusing one keyed widget let the browser
    send back a stale first option for it, so the selector showed "none" while the state (and
    the reasons) still held the report. The returned value is both what the selector shows and
    what the page computes with.
    """
    finished = [r for r in reports if not r.get("partial")]
    partial = [r for r in reports if r.get("partial")]
    labels = {}
    for r in finished + partial:
        flag = "PARTIAL: a cancelled run · " if r.get("partial") else ""
        what = f"{r['task']}" if r.get("task") else f"kb={r['kb'] or '—'}"  # a task report has no kb
        labels[r["id"]] = (f"{r['id']} ({flag}n={r['n']}, {what}, "
                           f"adapter={r['adapter'] or '—'})")
    options = [NO_REPORT, *labels]
    key = f"{STATE_REPORT}_{st.session_state.get(STATE_GEN, 0)}"
    if st.session_state.get(key, NO_REPORT) not in options:  # its report is gone
        new_picker()
        key = f"{STATE_REPORT}_{st.session_state[STATE_GEN]}"
    wanted = st.session_state.get(STATE_PICK)
    wanted = wanted if wanted in options else (latest or NO_REPORT)
    return st.selectbox(
        REPORT_LABEL, options, key=key, index=options.index(wanted),
        format_func=lambda rid: labels.get(rid, rid), on_change=_keep_pick, args=(key,),
        help="Reports come from the Evaluate page (data/reports/); the newest finished one is "
             "selected for you. A clear measurement outweighs your answers.",
    )
