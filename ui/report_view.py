"""Rendering of an evaluation report: metrics, differences with CIs, charts, per-question diff."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.evaluation import report as R
from core.evaluation.arms import ARM_TITLES, ARMS, RAFT_FT_TITLE, RAFT_HYBRID_TITLE
from core.evaluation.seeds import seed_lines
from core.evaluation.verdict import verdict_of
from core.runtime.text import md_escape

ARM_COLORS = alt.Scale(domain=[*(ARM_TITLES[a] for a in ARMS), RAFT_FT_TITLE, RAFT_HYBRID_TITLE],
                       range=["#9ca3af", "#2563eb", "#f59e0b", "#16a34a", "#f59e0b", "#16a34a"])
ALL_TITLES = (*ARM_TITLES.values(), RAFT_FT_TITLE, RAFT_HYBRID_TITLE)


def _colors(report: dict) -> alt.Scale:
    """This report's arms only (a legend lists exactly them), each in its arm's colour."""
    by_title = dict(zip(ARM_COLORS.domain, ARM_COLORS.range, strict=True))
    titles = [arm_name(report, arm) for arm in report["arms"]]
    return alt.Scale(domain=titles, range=[by_title.get(t, "#6b7280") for t in titles])


# Arm names sit in a legend under the chart, never truncated, instead of axis or point labels that
# were cut ("Hybrid (RAF") or overlapped when two arms had close values.
LEGEND = alt.Legend(orient="bottom", title=None, labelLimit=0, columns=2)


def arm_name(report: dict, arm: str) -> str:
    """The arm's title in this report ("Hybrid (RAFT)" when its adapter was trained with RAFT)."""
    return R.report_arm_title(report, arm)


def _cell(metric_title: str, value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if metric_title in PERCENT_TITLES:
        return f"{value:.2f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


PERCENT_TITLES = {R.METRIC_TITLES[m] for m in R.PERCENT_METRICS}


def metrics_table(report: dict) -> None:
    """Metrics as rows and arms as columns: four arms fit any width, fifteen metrics would not."""
    rows = R.metric_rows(report)
    titles = [t for t in R.METRIC_TITLES.values() if any(t in row for row in rows)]
    frame = pd.DataFrame({row["arm"]: [_cell(t, row.get(t)) for t in titles] for row in rows}, index=titles)
    frame.index.name = "metric"
    # Arm columns wide enough for their whole title (the short values made them cut "Hybrid (RAF").
    config = {c: st.column_config.TextColumn(c, width="medium") for c in frame.columns}
    st.dataframe(frame, width="stretch", height=36 + 35 * len(titles), column_config=config)
    for note in R.missing_explanations(report):
        st.caption(f":material/info: {md_escape(note)}")


def deltas_table(report: dict) -> None:
    rows = R.delta_rows(report)
    if not rows:
        st.caption("Differences need at least two arms.")
        return
    frame = pd.DataFrame(rows)
    fmt = st.column_config.NumberColumn(format="%+.3f")
    st.dataframe(frame, hide_index=True, column_config={"difference": fmt, "CI low": fmt, "CI high": fmt})


def metric_chart(report: dict) -> None:
    metrics = (["accuracy"] if report.get("kind") == "label"
               else [m for m in ("contains", "contains_concise", "f1", "exact_match", "rougeL")
                     if any(m in v for v in report["arms"].values())])
    rows = []
    for arm, values in report["arms"].items():
        for metric in metrics:
            low, mean, high = values.get("ci", {}).get(metric, [None, values.get(metric), None])
            rows.append({"arm": arm_name(report, arm), "metric": R.METRIC_TITLES[metric], "value": mean,
                         "low": low, "high": high})
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame).encode(x=alt.X("arm:N", title=None, sort=None, axis=None),
                                   color=alt.Color("arm:N", legend=LEGEND, scale=_colors(report), sort=None))
    bars = base.mark_bar().encode(y=alt.Y("value:Q", title="score, with 95% CI", scale=alt.Scale(domain=[0, 1])),
                                  tooltip=["arm", "metric", alt.Tooltip("value:Q", format=".2f"),
                                           alt.Tooltip("low:Q", format=".2f"), alt.Tooltip("high:Q", format=".2f")])
    errors = base.mark_errorbar(color="black").encode(y=alt.Y("low:Q", title="score, with 95% CI"), y2="high:Q")
    chart = alt.layer(bars, errors, data=frame).properties(width=150, height=200).facet(
        column=alt.Column("metric:N", title=None, sort=[R.METRIC_TITLES[m] for m in metrics]))
    st.altair_chart(chart, width="content")


def quality_latency_chart(report: dict) -> None:
    metric = R.primary_metric(report)
    frame = pd.DataFrame([{"arm": arm_name(report, arm), R.METRIC_TITLES[metric]: v.get(metric),
                           "latency p50 (ms)": v.get("latency_p50_ms")} for arm, v in report["arms"].items()])
    chart = alt.Chart(frame).mark_circle(size=160).encode(
        x=alt.X("latency p50 (ms):Q", scale=alt.Scale(zero=True)),
        y=alt.Y(f"{R.METRIC_TITLES[metric]}:Q", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("arm:N", scale=_colors(report), sort=None,  # beside the plot: it keeps its height
                        legend=alt.Legend(orient="right", title=None, labelLimit=0)), tooltip=list(frame.columns))
    st.altair_chart(chart.properties(height=260, title=f"Quality ({R.METRIC_TITLES[metric]}) vs latency"),
                    width="stretch")


def questions_table(report: dict, key: str) -> None:
    rows = R.question_rows(report)
    only = st.toggle("Only questions where the arms disagree", key=f"{key}-disagree")
    if only:
        keep = set(R.disagreements(report))
        rows = [row for i, row in enumerate(rows) if i in keep]
    st.caption(f"{len(rows)} question(s). ✓ = {md_escape(R.METRIC_TITLES[R.mark_metric(report)].lower())}; "
               "failure: *retrieval miss* = the gold source was not retrieved, *generation error* = it was.")
    frame = pd.DataFrame(rows)
    config = {c: st.column_config.TextColumn(c, width="medium") for c in frame if c in ("question", *ALL_TITLES)}
    config |= {c: st.column_config.TextColumn(c, width="small") for c in frame if c.endswith("✓")}
    st.dataframe(frame, hide_index=True, column_config=config, height=min(600, 40 + 35 * max(1, len(rows))))
    drill_down(report, key)


def drill_down(report: dict, key: str) -> None:
    """One question in full: each arm's whole answer, its marks, and the chunks it read."""
    questions = report.get("questions") or []
    if not questions:
        return
    n = st.selectbox("Look at one question", range(len(questions)), key=f"{key}-drill",
                     format_func=lambda i: f"{i + 1}. {questions[i]['question'][:110]}")
    q = questions[n]
    metric = R.mark_metric(report)
    st.markdown(f"**Gold:** {md_escape(' | '.join(q['gold']))}"
                + (f" · source {md_escape(q['source'])}" if q.get("source") else ""))
    arms = list(q["answers"])
    for column, arm in zip(st.columns(len(arms)), arms, strict=True):
        with column, st.container(border=True):
            score = q["scores"][arm]
            failure = (q.get("failure") or {}).get(arm)
            st.markdown(f"**{md_escape(arm_name(report, arm))}** {md_escape(R.mark(score.get(metric)))}"
                        + (f" · *{md_escape(failure)}*" if failure else ""))
            st.text(q["answers"][arm] or "(empty answer)")  # plain text: answers are never rendered as markup
            if metric != "accuracy" and "f1" in score:
                st.caption(f"token F1 {score['f1']:.2f}")
            sources = ((q.get("figures") or {}).get(arm) or {}).get("sources") or []
            if sources:
                with st.expander(f"Chunks read ({len(sources)})"):
                    for i, source in enumerate(sources, 1):
                        where = f"p. {source['page']}, " if source.get("page") is not None else ""
                        st.markdown(f"**[{i}]** {md_escape(source.get('file'))} · {md_escape(where)}chunk "
                                    f"{md_escape(source.get('chunk'))} · "
                                    f"score {source.get('score', 0):.2f}")
                        st.text(source.get("text") or "")
            elif arm in ("rag", "hybrid"):
                st.caption("No chunk reached the relevance threshold.")
            else:
                st.caption("No context: this arm reads only the question.")


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


def render_verdict(report: dict) -> None:
    verdict = verdict_of(report)
    partial = report.get("partial") or report.get("complete") is False
    box = st.warning if partial else st.success
    box(f"**Verdict.** {md_escape(verdict['verdict'])}", icon=":material/gavel:")


def render_report(report: dict, key: str = "report") -> None:
    from ui.task_report_view import is_task_report, render_task_report

    if is_task_report(report):  # classification / extraction (issue 27): the task's own metrics
        render_task_report(report, key)
        return
    meta = report.get("meta", {})
    setup = report.get("setup", {})
    render_verdict(report)
    st.markdown(f"**{md_escape(report.get('eval_set', {}).get('name'))}** · {md_escape(report['n'])} items · "
                f"kb {md_escape(setup.get('kb') or '—')} · adapter {md_escape(setup.get('adapter') or '—')} · "
                f"{md_escape(meta.get('seconds'))} s on {md_escape(meta.get('device'))}"
                + ("" if report.get("complete", True) else " · **partial: cancelled before the end**"))
    st.caption(f"Same for every arm: {md_escape(R.describe_setup(setup))}")
    if (report.get("engine") or {}).get("engine"):
        model = R.model_line(report)
        st.caption(md_escape((model + " · " if model else "") + R.engine_line(report["engine"])))
    if mismatch := R.training_mismatch(report):
        st.warning(md_escape(mismatch), icon=":material/sync_problem:")
    conditions = R.latency_conditions(report.get("machine"), meta.get("batch_size"))
    st.caption((":material/warning: " if conditions["batched"] or conditions["loaded"] else ":material/speed: ")
               + md_escape(R.latency_note(report)))
    st.subheader("Metrics by arm")
    metrics_table(report)
    st.subheader("Differences, with paired-bootstrap 95% confidence intervals")
    deltas_table(report)
    for line in R.review_lines(report):  # a person's grades (core/evaluation/review.py)
        st.caption(f":material/rate_review: {md_escape(line)}")
    for line in seed_lines(report, lambda arm: arm_name(report, arm)):  # a seed group: mean ± spread per arm
        st.caption(f":material/repeat: {md_escape(line)}")
    for line in R.power_lines(report):  # how many questions are enough (core.evaluation.power)
        st.caption(f":material/straighten: {md_escape(line)}")
    metric_chart(report)  # one above the other: side by side, the facets ran under the scatter
    quality_latency_chart(report)
    st.subheader("Per question")
    questions_table(report, key)
    exports(report)
