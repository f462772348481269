"""Blind review: grade every answer of a report without knowing which arm wrote it (core/evaluation/review.py)."""

import streamlit as st

from core.evaluation.evaluate import list_reports, load_report
from core.runtime.errors import CrossroadsError
from ui.common import show_error
from ui.review_view import default_report, grading_panel

st.title("Blind review")
st.caption("Grade each answer as correct, partly right or wrong, without knowing which arm wrote it. When every "
           "answer is graded, your grades become a metric with paired confidence intervals, the report's verdict "
           "uses them, and each automatic metric's agreement with you is shown.")
summaries = [r for r in list_reports() if not r.get("partial")]
if not summaries:
    st.info("No finished evaluation report yet: run one on the Evaluate page.")
    st.stop()
labels = {r["id"]: f"{r['id']} · {r['eval_set']} · {r['n']} items · {', '.join(r['arms'])}" for r in summaries}
chosen = st.selectbox("Report", list(labels), format_func=labels.get, index=default_report(summaries),
                      key="review_report")
try:
    grading_panel(load_report(chosen))
except CrossroadsError as exc:
    show_error(exc)
