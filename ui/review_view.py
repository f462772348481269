"""The blind review's widgets: one unlabelled answer at a time, graded with 1 / 2 / 3."""

from __future__ import annotations

import streamlit as st

from core.evaluation import report as R
from core.evaluation import review
from core.evaluation.verdict import verdict_of
from core.runtime.text import md_escape

BUTTONS = (("correct", "Correct (1)", "1", ":material/check_circle:"), ("partly", "Partly (2)", "2", ":material/adjust:"),
           ("wrong", "Wrong (3)", "3", ":material/cancel:"))


def default_report(summaries: list[dict]) -> int:
    """Index of the report to show first: one whose review was started and not finished, else the newest."""
    for n, s in enumerate(summaries):
        if s.get("review") == "started":
            return n
    return 0


def grading_panel(report: dict) -> None:
    """The next ungraded answer, its question and gold answer, and the three grade buttons."""
    now = review.state(report)
    st.progress(now["graded"] / now["total"] if now["total"] else 0.0,
                text=f"{now['graded']:d} of {now['total']:d} answers graded")
    if now["complete"]:
        finished(report)
        return
    i, arm = now["next"]
    q = report["questions"][i]
    with st.container(border=True):
        st.caption("Question")
        st.text(q["question"])  # plain text: eval files and answers are never rendered as markup
        st.caption("Gold answer")
        st.text(" | ".join(q.get("gold") or []) or "(none)")
        k, m = now["within"]
        st.caption(f"Answer {k:d} of {m:d} to this question (arm hidden, order shuffled)")
        st.text(q["answers"][arm] or "(empty answer)")
    columns = st.columns(len(BUTTONS))
    for column, (value, label, shortcut, icon) in zip(columns, BUTTONS, strict=True):
        if column.button(label, key=f"review_{value}", shortcut=shortcut, icon=icon,
                         width="stretch"):
            review.record(report["id"], i, arm, value)
            st.rerun()
    st.caption("Keys: 1 correct · 2 partly right · 3 wrong. Each grade is saved at once; come back any time.")


def finished(report: dict) -> None:
    st.success(f"**Review finished.** {md_escape(verdict_of(report)['verdict'])}", icon=":material/rate_review:")
    for line in R.review_lines(report):
        st.caption(md_escape(line))
    rows = [{"arm": R.report_arm_title(report, arm), "your grades": v.get("human"),
             **{R.METRIC_TITLES[m]: v.get(m) for m in review.AUTOMATIC if v.get(m) is not None}}
            for arm, v in report["arms"].items()]
    st.dataframe(rows, hide_index=True)
