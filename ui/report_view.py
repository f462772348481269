"""Rendering of an evaluation report: metrics, differences with CIs, charts, per-question diff."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.evaluation import report as R
from core.evaluation.arms import ARM_TITLES, ARMS

ARM_COLORS = alt.Scale(domain=[ARM_TITLES[a] for a in ARMS], range=["#9ca3af", "#2563eb", "#f59e0b", "#16a34a"])


def metrics_table(report: dict) -> None:
    frame = pd.DataFrame(R.metric_rows(report)).set_index("arm")
    percent = [R.METRIC_TITLES[m] for m in R.PERCENT_METRICS if R.METRIC_TITLES[m] in frame]
    config = {c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.2f") for c in percent}
    config |= {c: st.column_config.NumberColumn(c, format="%.0f") for c in frame if c not in percent}
    st.dataframe(frame, column_config=config)


def deltas_table(report: dict) -> None:
    rows = R.delta_rows(report)
    if not rows:
        st.caption("Differences need at least two arms.")
        return
    frame = pd.DataFrame(rows)
    fmt = st.column_config.NumberColumn(format="%+.3f")
    st.dataframe(frame, hide_index=True, column_config={"difference": fmt, "CI low": fmt, "CI high": fmt})


def metric_chart(report: dict) -> None:
    metrics = ["accuracy"] if report.get("kind") == "label" else ["contains", "f1", "exact_match", "rougeL"]
    rows = []
    for arm, values in report["arms"].items():
        for metric in metrics:
            low, mean, high = values.get("ci", {}).get(metric, [None, values.get(metric), None])
            rows.append({"arm": ARM_TITLES.get(arm, arm), "metric": R.METRIC_TITLES[metric], "value": mean,
                         "low": low, "high": high})
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame).encode(x=alt.X("arm:N", title=None, sort=None),
                                   color=alt.Color("arm:N", legend=None, scale=ARM_COLORS))
    bars = base.mark_bar().encode(y=alt.Y("value:Q", title="score, with 95% CI", scale=alt.Scale(domain=[0, 1])),
                                  tooltip=["arm", "metric", alt.Tooltip("value:Q", format=".2f"),
                                           alt.Tooltip("low:Q", format=".2f"), alt.Tooltip("high:Q", format=".2f")])
    errors = base.mark_errorbar(color="black").encode(y=alt.Y("low:Q", title="score, with 95% CI"), y2="high:Q")
    chart = alt.layer(bars, errors, data=frame).properties(width=160, height=220).facet(
        column=alt.Column("metric:N", title=None, sort=[R.METRIC_TITLES[m] for m in metrics]))
    st.altair_chart(chart)


def quality_latency_chart(report: dict) -> None:
    metric = R.primary_metric(report)
    frame = pd.DataFrame([{"arm": ARM_TITLES.get(arm, arm), R.METRIC_TITLES[metric]: v.get(metric),
                           "latency p50 (ms)": v.get("latency_p50_ms")} for arm, v in report["arms"].items()])
    chart = alt.Chart(frame).mark_circle(size=160).encode(
        x=alt.X("latency p50 (ms):Q", scale=alt.Scale(zero=True)),
        y=alt.Y(f"{R.METRIC_TITLES[metric]}:Q", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("arm:N", scale=ARM_COLORS, legend=None), tooltip=list(frame.columns))
    labels = chart.mark_text(dy=-14).encode(text="arm:N")
    st.altair_chart((chart + labels).properties(height=260, title="Quality vs latency"))


def questions_table(report: dict, key: str) -> None:
    rows = R.question_rows(report)
    only = st.toggle("Only questions where the arms disagree", key=f"{key}-disagree")
    if only:
        keep = set(R.disagreements(report))
        rows = [row for i, row in enumerate(rows) if i in keep]
    st.caption(f"{len(rows)} question(s). ✓ = {'accuracy' if report.get('kind') == 'label' else 'contains gold'}; "
               "failure: *retrieval miss* = the gold source was not retrieved, *generation error* = it was.")
    frame = pd.DataFrame(rows)
    config = {c: st.column_config.TextColumn(c, width="medium") for c in frame if c in ("question", *ARM_TITLES.values())}
    config |= {c: st.column_config.NumberColumn(c, format="%.0f", width="small") for c in frame if c.endswith("✓")}
    st.dataframe(frame, hide_index=True, column_config=config, height=min(600, 40 + 35 * max(1, len(rows))))


def exports(report: dict) -> None:
    import json

    c1, c2, c3 = st.columns(3)
    rid = report.get("id", "report")
    c1.download_button("JSON", json.dumps(report, indent=2), f"crossroads-{rid}.json", "application/json",
                       icon=":material/download:")
    c2.download_button("CSV (per question)", R.to_csv(report), f"crossroads-{rid}.csv", "text/csv",
                       icon=":material/download:")
    c3.download_button("Markdown", R.to_markdown(report), f"crossroads-{rid}.md", "text/markdown",
                       icon=":material/download:")


def render_report(report: dict, key: str = "report") -> None:
    meta = report.get("meta", {})
    setup = report.get("setup", {})
    status = "" if report.get("complete", True) else " · **stopped early**"
    st.markdown(f"**{report.get('eval_set', {}).get('name')}** · {report['n']} items · "
                f"kb `{setup.get('kb') or '—'}` · adapter `{setup.get('adapter') or '—'}` · "
                f"{meta.get('seconds')} s on {meta.get('device')}{status}")
    st.caption(f"Same for every arm: {R.describe_setup(setup)}")
    st.subheader("Metrics by arm")
    metrics_table(report)
    st.subheader("Differences, with paired-bootstrap 95% confidence intervals")
    deltas_table(report)
    left, right = st.columns([3, 2])
    with left:
        metric_chart(report)
    with right:
        quality_latency_chart(report)
    st.subheader("Per question")
    questions_table(report, key)
    exports(report)
