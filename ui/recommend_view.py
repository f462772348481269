"""Rendering helpers for the Recommend page's result (the wizard's widgets: ui.recommend_wizard).

All decisions come from core.decision (pure engine); this module only draws. No unsafe HTML.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from core.decision.decision_report import to_markdown
from core.decision.evidence import arm_labels, describe_others, metric_name
from core.decision.next_steps import PAGE_TITLES
from core.decision.questions import OPTION_LABELS, OPTIONS, QUESTIONS
from core.runtime.machine import latency_conditions
from core.runtime.text import md_escape, plural

# ------------------------------------------------------------------------------ result sections


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None:
        return "not measured"
    if isinstance(v, int | float):
        return f"{v:,.{digits}f}"
    return str(v)


def _share(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, int | float) else "—"


def headline(rec: dict[str, Any]) -> None:
    st.success(f"**Recommendation: {rec['choice_label']}**", icon=":material/explore:")
    c1, c2, c3 = st.columns(3)
    c1.metric("Confidence", f"{rec['confidence']:.2f}",
              help="0.5 = toss-up, 1.0 = certain. From the score gap, how many questions you "
                   "answered, the gates and the measured evidence.")
    c1.caption(rec["confidence_reading"].capitalize() + ".")
    c2.metric("Close call?", "Yes" if rec["close_call"] else "No")
    if rec["overrides"]:
        c2.caption(f"Your answers alone pointed to {OPTION_LABELS[rec['prior_choice']]}; "
                   "a clear measurement decided.")
    elif rec["runner_up"]:
        c2.caption(f"Runner-up: {OPTION_LABELS[rec['runner_up']]}, {rec['runner_up_gap']}.")
    else:
        c2.caption("No runner-up: the gates left one option.")
    c3.metric("Questions answered", f"{rec['answered']} of {len(QUESTIONS) - 1}")
    c3.caption("Unanswered questions count as neutral.")
    for o in rec["overrides"]:
        st.warning(f"**Measurement overrode the prior.** {md_escape(o['text'])}", icon=":material/straighten:")
    if rec["close_call"]:
        st.info("This is a close call: measure the top two options on your own data before "
                "committing (Evaluate page).", icon=":material/balance:")


def gates(rec: dict[str, Any]) -> None:
    st.subheader("Gates that fired")
    if not rec["gates"]:
        st.write("None: every option stayed on the table.")
        return
    rows = [{"gate": g["text"],
             "rules out": ", ".join(OPTION_LABELS[o] for o in g["blocks"]),
             "source": g["source"]} for g in rec["gates"]]
    st.table(pd.DataFrame(rows))


def reasons(rec: dict[str, Any]) -> None:
    st.subheader("Reasons, strongest first")
    rows = []
    for r in rec["reasons"]:
        rows.append({
            "for / against": r["direction"],
            "reason": r["text"],
            "source": r["source"],
        })
    if not rows:
        st.write("No answers yet: go back and answer a few questions.")
        return
    df = pd.DataFrame(rows)
    df.index = range(1, len(df) + 1)
    st.table(df)


def scores(rec: dict[str, Any]) -> None:
    rows = []
    for o in OPTIONS:
        status = "chosen" if o == rec["choice"] else (
            "ruled out: " + ", ".join(rec["blocked"][o]) if o in rec["blocked"] else "allowed")
        rows.append({"option": OPTION_LABELS[o], "prior score": rec["scores"][o], "status": status})
    st.caption("Prior scores: the sum of the weights of your answers (core/decision/rules.py, RULES). "
               "Gates rule options out whatever their score.")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def evidence(rec: dict[str, Any], report: dict[str, Any] | None) -> None:
    st.subheader("Measured evidence from your evaluation")
    ev = rec["evidence"]
    if len(ev.get("models") or []) > 1:  # a report mixing base models is never weighed
        st.warning(f"The selected report mixes answers of several base models ({md_escape(', '.join(ev['models']))}): "
                   "its measurements were "
                   "not used. Evaluate each model on its own.", icon=":material/warning:")
        return
    if not ev["used"]:
        st.write("No evaluation report selected: the recommendation rests on your answers and "
                 "published results.")
        return
    if report and report.get("verdict"):
        st.info(f"**The report's verdict:** {md_escape(report['verdict'])}", icon=":material/gavel:")
    st.write(f"Report **{md_escape(ev['id'])}**{md_escape(' on base model ' + ev['model']) if ev.get('model') else ''}, n = {md_escape(ev['n'])} questions, read on **{metric_name(ev['metric'])}** "
             f"({md_escape(ev['metric_why'])}). Differences are in percentage points; a difference is *clear* only "
             "when its 95% confidence interval excludes zero, and only clear differences can override "
             "your answers.")
    rows = [{
        "comparison": f"{c['a_label']} − {c['b_label']}",
        "difference (points)": f"{c['mean'] * 100:+.1f}",
        "95% CI (points)": f"{c['low'] * 100:+.1f} to {c['high'] * 100:+.1f}",
        "clear?": "yes" if c["clear"] else "no (includes 0)",
        "winner": c["winner_label"] or "—",
        "other metrics": describe_others(c),
    } for c in ev["comparisons"]]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if report:
        conditions = latency_conditions(report.get("machine"), (report.get("meta") or {}).get("batch_size"))
        st.caption(f":material/speed: This report's latencies were measured {md_escape(conditions['label'])}"
                   + (": not what one user waits for one answer." if conditions["batched"] or conditions["loaded"]
                      else "."))
    arms = (report or {}).get("arms") or {}
    names = arm_labels(report)
    metrics = [m for m in ("human", "contains", "contains_concise", "f1", "exact_match", "rougeL", "accuracy", "macro_f1",
                           "entity_f1", "lenient_f1", "hit_at_k")
               if any(m in v for v in arms.values() if isinstance(v, dict))]
    if arms and metrics:
        table = pd.DataFrame(
            [{"arm": names.get(arm, arm), **{metric_name(m): _share(v.get(m)) for m in metrics}}
             for arm, v in arms.items() if isinstance(v, dict)]
        )
        st.caption("Scores per arm in this report (shares between 0 and 1):")
        st.dataframe(table, hide_index=True, width="stretch")


OUTCOME_BOX = {"confirmed": (st.success, ":material/check_circle:"), "overturned": (st.warning, ":material/swap_horiz:"),
               "decided": (st.success, ":material/check_circle:"), "not settled": (st.info, ":material/help:"),
               "not measured": (st.info, ":material/science:")}


def task_hypothesis(rec: dict[str, Any]) -> None:
    """Classification / extraction: the published priors as a hypothesis, and what the measurement did to it."""
    ev = rec.get("task_evidence")
    if not ev:
        return
    st.subheader(f"Few-shot or fine-tune for your {md_escape(ev['task'])} task")
    box, icon = OUTCOME_BOX.get(ev["outcome"], (st.info, ":material/info:"))
    box(f"**{md_escape(ev['outcome'].capitalize())}.** {md_escape(ev['text'])}", icon=icon)
    st.caption(f"Priors: {md_escape(ev['source'])}. Few-shot here means the most similar training rows retrieved as "
               "examples in the prompt; the fine-tune is a LoRA on the same rows, same base model.")


def projection(proj: dict[str, Any], measured_from: dict[str, Any]) -> None:
    st.subheader("Cost and latency projection")
    qpd = proj["queries_per_day"]
    if proj["arms"]:
        st.caption("Per-query numbers: latency from single answers timed on Ask / Compare where an arm has "
                   "them (what one user waits for), else from your evaluation report as measured there; "
                   "prompt tokens from the report"
                   + (f"; daily totals at {qpd:,} queries/day, one request at a time." if qpd else "."))
        rows = [{
            "arm": r["label"],
            "p50 latency (ms)": _fmt(r["latency_p50_ms"]),
            "p95 latency (ms)": _fmt(r["latency_p95_ms"]),
            "latency measured": r.get("latency_from") or "—",
            "prompt tokens/query": _fmt(r["prompt_tokens_per_query"]),
            "serving s/day": _fmt(r["serving_seconds_per_day"]),
            "prompt tokens/day": _fmt(r["prompt_tokens_per_day"]),
        } for r in proj["arms"]]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    u = proj["updates"]
    per_month = u["updates_per_month"]
    st.caption("Keeping knowledge current, measured on this machine"
               + (f"; {plural(per_month, 'update')} per month from your answer about how often facts change."
                  if per_month else "; your facts rarely change, so no updates are planned."
                  if per_month == 0 else "."))
    rows = [
        {"how": "re-index the documents (RAG)", "per update (s)": _fmt(u["reindex_seconds"], 1),
         "per month (s)": _fmt(u["reindex_seconds_per_month"], 1),
         "measured from": measured_from.get("reindex") or "—"},
        {"how": "retrain the adapter (fine-tune)", "per update (s)": _fmt(u["train_seconds"], 1),
         "per month (s)": _fmt(u["train_seconds_per_month"], 1),
         "measured from": measured_from.get("train") or "—"},
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for m in proj["missing"]:
        st.caption("• " + md_escape(m))


def next_steps(rec: dict[str, Any]) -> None:
    st.subheader("Next steps")
    for i, step in enumerate(rec["next_steps"], 1):
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.write(f"{i}. {step['text']}" + (f" _({step['source']})_" if step.get("source") else ""))
        right.page_link(step["page"], label=step.get("link") or f"Open {PAGE_TITLES.get(step['page'])}",
                        icon=":material/arrow_forward:")


def downloads(rec: dict[str, Any], proj: dict[str, Any]) -> None:
    st.subheader("Decision report")
    st.caption("For someone who never opened the app: the choice, reasons with sources, gates, "
               "evidence, projection and your answers.")
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    md = to_markdown(rec, proj, created=created)
    payload = json.dumps({**rec, "projection": proj, "created": created}, indent=2, default=str)
    c1, c2 = st.columns(2)
    c1.download_button("Download report (Markdown)", md, file_name="crossroads-decision.md",
                       mime="text/markdown", key="rec_dl_md", on_click="ignore",
                       icon=":material/download:")
    c2.download_button("Download report (JSON)", payload, file_name="crossroads-decision.json",
                       mime="application/json", key="rec_dl_json", on_click="ignore",
                       icon=":material/download:")
    with st.expander("Preview the Markdown report"):
        st.markdown(md)
