"""Rendering of a classification / extraction report (issue 27): the task's metrics per arm with CIs,
the differences, per-label (or per-type) F1, a confusion matrix per arm, the outputs that could not be
mapped, the learning curve, and the rows. The report is the engine's JSON (core.evaluation.tasks)."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from core.evaluation import report as R
from core.runtime.text import md_escape, plural

ARM_ORDER = ("base", "examples", "ft", "hybrid")
ARM_TITLES = {"base": "Base (zero-shot)", "examples": "Retrieved examples", "ft": "Fine-tuned",
              "hybrid": "Hybrid (FT + retrieved examples)"}
ARM_COLORS = {"base": "#9ca3af", "examples": "#2563eb", "ft": "#f59e0b", "hybrid": "#16a34a"}
METRICS = {
    "classification": (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1")),
    "extraction": (("entity_f1", "Entity F1 (exact)"), ("entity_precision", "Precision (exact)"),
                   ("entity_recall", "Recall (exact)"), ("lenient_f1", "Entity F1 (partial match)"),
                   ("lenient_precision", "Precision (partial)"), ("lenient_recall", "Recall (partial)"),
                   ("invalid_json_rate", "Invalid JSON rate")),
}
METRIC_TITLES = {m: t for pairs in METRICS.values() for m, t in pairs}
SHOWN_CHARS = 400
LEGEND = alt.Legend(orient="bottom", title=None, labelLimit=0, columns=2)


def is_task_report(report: dict) -> bool:
    return (report.get("task") or report.get("kind")) in METRICS


def task_of(report: dict) -> str:
    return report.get("task") or report.get("kind")


def arm_title(report: dict, arm: str) -> str:
    return str((report.get("arms", {}).get(arm) or {}).get("title") or ARM_TITLES.get(arm, arm))


def _arms(report: dict) -> list[str]:
    arms = list(report.get("arms") or {})
    return sorted(arms, key=lambda a: ARM_ORDER.index(a) if a in ARM_ORDER else len(ARM_ORDER))


def _colors(report: dict) -> alt.Scale:
    arms = _arms(report)
    return alt.Scale(domain=[arm_title(report, a) for a in arms], range=[ARM_COLORS.get(a, "#6b7280") for a in arms])


def _with_ci(values: dict, metric: str) -> str:
    value = values.get(metric)
    if value is None:
        return "–"
    low, _, high = (values.get("ci") or {}).get(metric) or (None, None, None)
    return f"{value:.2f}" + (f"  [{low:.2f}, {high:.2f}]" if low is not None and high is not None else "")


def metrics_table(report: dict) -> None:
    """Metrics as rows, arms as columns, each value with its 95% CI."""
    arms = _arms(report)
    pairs = [(m, t) for m, t in METRICS[task_of(report)] if any(m in report["arms"][a] for a in arms)]
    frame = pd.DataFrame({arm_title(report, a): [_with_ci(report["arms"][a], m) for m, _ in pairs] for a in arms},
                         index=[t for _, t in pairs])
    if task_of(report) == "classification":
        frame.loc["Unmappable outputs (counted wrong)"] = [str(report["arms"][a].get("unmapped", 0)) for a in arms]
    frame.index.name = "metric"
    st.dataframe(frame, width="stretch")  # auto widths: four arms with their CIs fit the page
    st.caption("Each value with its 95% bootstrap confidence interval over the rows, in brackets.")


def deltas_table(report: dict) -> None:
    rows = []
    for pair, delta in (report.get("deltas") or {}).items():
        a, _, b = pair.partition("-")
        for metric, interval in delta.items():
            if metric not in METRIC_TITLES or not isinstance(interval, list | tuple) or len(interval) != 3:
                continue
            low, mean, high = interval
            clear = f"{arm_title(report, a)} better" if low > 0 else f"{arm_title(report, b)} better" if high < 0 \
                else "not clear (the CI includes 0)"
            rows.append({"comparison": f"{arm_title(report, a)} − {arm_title(report, b)}",
                         "metric": METRIC_TITLES[metric], "difference": mean, "CI low": low, "CI high": high,
                         "reading": clear})
    if not rows:
        st.caption("Differences need at least two arms.")
        return
    fmt = st.column_config.NumberColumn(format="%+.3f")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"difference": fmt, "CI low": fmt, "CI high": fmt})


def metric_chart(report: dict) -> None:
    """The headline metrics per arm as bars with their CI."""
    wanted = ("accuracy", "macro_f1") if task_of(report) == "classification" else ("entity_f1", "lenient_f1")
    rows = []
    for arm in _arms(report):
        values = report["arms"][arm]
        for metric in wanted:
            if values.get(metric) is None:
                continue
            low, _, high = (values.get("ci") or {}).get(metric) or (None, None, None)
            rows.append({"arm": arm_title(report, arm), "metric": METRIC_TITLES[metric], "value": values[metric],
                         "low": low, "high": high})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame).encode(x=alt.X("arm:N", title=None, sort=None, axis=None),
                                   color=alt.Color("arm:N", legend=LEGEND, scale=_colors(report), sort=None))
    bars = base.mark_bar().encode(y=alt.Y("value:Q", title="score, with 95% CI", scale=alt.Scale(domain=[0, 1])),
                                  tooltip=["arm", "metric", alt.Tooltip("value:Q", format=".2f"),
                                           alt.Tooltip("low:Q", format=".2f"), alt.Tooltip("high:Q", format=".2f")])
    errors = base.mark_errorbar(color="black").encode(y=alt.Y("low:Q", title="score, with 95% CI"), y2="high:Q")
    chart = alt.layer(bars, errors, data=frame).properties(width=180, height=200).facet(
        column=alt.Column("metric:N", title=None, sort=[METRIC_TITLES[m] for m in wanted]))
    st.altair_chart(chart, width="content")


def per_class_table(report: dict) -> None:
    """F1 per label (classification) or per entity type (extraction), arms as columns."""
    key = "per_label" if task_of(report) == "classification" else "per_type"
    arms = [a for a in _arms(report) if report["arms"][a].get(key)]
    if not arms:
        return
    names = sorted({n for a in arms for n in report["arms"][a][key]})
    rows = []
    for name in names:
        row = {"label" if key == "per_label" else "entity type": name,
               "support": next((report["arms"][a][key].get(name, {}).get("support") for a in arms
                                if name in report["arms"][a][key]), None)}
        for a in arms:
            row[f"{arm_title(report, a)} F1"] = (report["arms"][a][key].get(name) or {}).get("f1")
        rows.append(row)
    fmt = {c: st.column_config.NumberColumn(format="%.2f") for c in rows[0] if c.endswith(" F1")}
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=fmt)


def confusion_chart(report: dict, arm: str) -> alt.Chart | None:
    confusion = report["arms"][arm].get("confusion") or {}
    golds, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    predicted = confusion.get("columns") or golds  # the labels, then "(unmapped)"
    if not golds or not matrix:
        return None
    cells = [{"gold": gold, "predicted": pred, "rows": int(matrix[i][j])}
             for i, gold in enumerate(golds) for j, pred in enumerate(predicted)
             if i < len(matrix) and j < len(matrix[i])]
    frame = pd.DataFrame(cells)
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", sort=predicted, title="predicted", axis=alt.Axis(labelAngle=-40, labelLimit=120)),
        y=alt.Y("gold:N", sort=golds, title="gold", axis=alt.Axis(labelLimit=120)))
    heat = base.mark_rect().encode(color=alt.Color("rows:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                   tooltip=["gold", "predicted", "rows"])
    text = base.mark_text(fontSize=12).encode(
        text="rows:Q", color=alt.condition(alt.datum.rows > max(1, frame["rows"].max()) / 2,
                                           alt.value("white"), alt.value("black")))
    # a fixed step per gold row: a plain pixel height let Streamlit's stretch collapse the rows into one line
    return (heat + text).properties(height=alt.Step(34))


def confusion_matrices(report: dict) -> None:
    arms = [a for a in _arms(report) if report["arms"][a].get("confusion")]
    if not arms:
        return
    st.caption("Rows: the gold label; columns: what the arm answered (*(unmapped)*: an output naming no label, "
               "counted wrong). The diagonal is right.")
    for start in range(0, len(arms), 2):  # two per row: four side by side squeezed the label names
        for column, arm in zip(st.columns(2), arms[start:start + 2], strict=False):
            chart = confusion_chart(report, arm)
            if chart is not None:
                with column:
                    st.markdown(f"**{md_escape(arm_title(report, arm))}**")
                    st.altair_chart(chart, width="stretch")


def unusable_outputs(report: dict) -> None:
    """The outputs the metric could not read: unmapped labels, or entities that are not valid JSON."""
    key, what = (("unmapped_outputs", "naming no label") if task_of(report) == "classification"
                 else ("invalid_outputs", "not a valid JSON list of entities"))
    counts = {a: report["arms"][a].get(key) or [] for a in _arms(report)}
    total = sum(len(v) for v in counts.values())
    if not total:
        st.caption(f":material/check: Every output could be read (none {what}).")
        return
    with st.expander(f"Outputs {what}: {total} (counted wrong)", icon=":material/help:"):
        rows = [{"arm": arm_title(report, a), "row": o.get("row"), "output": o.get("output")}
                for a, outputs in counts.items() for o in outputs]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={"output": st.column_config.TextColumn("output", width="large")})


def saved_curve(report: dict) -> dict | None:
    """A curve for this report's training and test files saved by `evaluate --learning-curve`
    (DATA_DIR/curves/, core/commands/task.py), when the report does not carry one itself."""
    from core.runtime.settings import get_settings

    train = ((report.get("setup") or {}).get("train_data") or {}).get("name")
    test = (report.get("eval_set") or {}).get("name")
    folder = get_settings().path("curves")
    if not train or not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            curve = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged curve file is skipped, never fatal to the report
        if isinstance(curve, dict) and (curve.get("train") or {}).get("name") == train and \
                (curve.get("test") or {}).get("name") in (None, test) and curve.get("task") in (None, task_of(report)):
            return curve
    return None


def learning_curve_chart(report: dict, curve: dict | None = None) -> None:
    curve = curve or report.get("learning_curve") or {}
    points = curve.get("points") or []
    if not points:
        return
    metric = curve.get("metric") or report.get("verdict_metric")
    rows = []
    for point in points:
        for arm, values in (point.get("arms") or {}).items():
            low, _, high = (values.get("ci") or {}).get(metric) or (None, None, None)
            rows.append({"training rows": point.get("n_train"), "share": f"{point.get('fraction', 0):.0%}",
                         "arm": arm_title(report, arm), "value": values.get(metric), "low": low, "high": high})
    frame = pd.DataFrame(rows)
    title = METRIC_TITLES.get(metric, metric)
    base = alt.Chart(frame).encode(
        x=alt.X("training rows:Q", title="training rows (25%, 50%, 100% of the file)", axis=alt.Axis(format="d")),
        color=alt.Color("arm:N", legend=LEGEND, scale=_colors(report), sort=None))
    lines = base.mark_line(point=True).encode(
        y=alt.Y("value:Q", title=f"{title}, with 95% CI", scale=alt.Scale(domain=[0, 1])),
        tooltip=["arm", "training rows", "share", alt.Tooltip("value:Q", format=".2f")])
    band = base.mark_errorbar().encode(y="low:Q", y2="high:Q")
    st.altair_chart(alt.layer(band, lines).properties(height=280), width="stretch")
    st.caption("The same arms trained (fine-tuned) or drawing examples (retrieved examples) from a growing share "
               "of the training rows: where the fine-tuned line crosses the retrieved-examples line, fine-tuning "
               "starts to pay.")


def _gold_text(gold) -> str:
    if isinstance(gold, list):
        return ", ".join(f"{e.get('text')} ({e.get('type')})" if isinstance(e, dict) else str(e) for e in gold) or "(none)"
    return str(gold)


def _mark(score) -> str:
    if not isinstance(score, dict):
        return ""
    if "correct" in score:
        return "✓" if score["correct"] else "✗"
    if "tp" in score:  # entity counts (core.evaluation.tasks.metrics.entity_counts)
        tp, pred, gold = int(score.get("tp", 0)), int(score.get("pred", 0)), int(score.get("gold", 0))
        if score.get("invalid"):
            return "✗ invalid JSON"
        mark = "✓" if tp == gold == pred else "✗"
        return f"{mark} {tp}/{gold} found" + (f", {pred - tp} wrong" if pred > tp else "")
    return ""


def rows_table(report: dict, key: str) -> None:
    questions = report.get("questions") or []
    if not questions:
        return
    arms = _arms(report)
    rows = []
    for q in questions:
        row = {"row": q.get("row"), "text": q.get("text"), "gold": _gold_text(q.get("gold"))}
        for a in arms:
            row[arm_title(report, a)] = (q.get("answers") or {}).get(a)
            row[f"{arm_title(report, a)} ✓"] = _mark((q.get("scores") or {}).get(a))
        rows.append(row)
    frame = pd.DataFrame(rows)
    config = {c: st.column_config.TextColumn(c, width="medium") for c in frame if c in ("text", *map(
        lambda a: arm_title(report, a), arms))}
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config,
                 height=min(500, 40 + 35 * len(rows)))
    n = st.selectbox("Look at one row", range(len(questions)), key=f"{key}-task-row-{report.get('id')}",
                     format_func=lambda i: f"{questions[i].get('row')}. {str(questions[i].get('text'))[:100]}")
    q = questions[n]
    st.markdown(f"**Gold:** {md_escape(_gold_text(q.get('gold')))}")
    for column, arm in zip(st.columns(len(arms)), arms, strict=True):
        with column, st.container(border=True):
            st.markdown(f"**{md_escape(arm_title(report, arm))}** {md_escape(_mark((q.get('scores') or {}).get(arm)))}")
            answer = (q.get("answers") or {}).get(arm) or "(empty answer)"
            st.text(answer if len(answer) <= SHOWN_CHARS else answer[:SHOWN_CHARS] + " …")  # a runaway output stays short
            demos = (q.get("demos") or {}).get(arm) or []
            if demos:
                st.caption(f"Shown {plural(len(demos), 'retrieved example')}: training rows "
                           f"{md_escape(', '.join(map(str, demos)))}")


def render_task_report(report: dict, key: str = "report") -> None:
    task = task_of(report)
    setup, meta = report.get("setup") or {}, report.get("meta") or {}
    partial = report.get("partial") or report.get("complete") is False
    (st.warning if partial else st.success)(f"**Verdict.** {md_escape(report.get('verdict') or 'no verdict')}",
                                            icon=":material/gavel:")
    train = setup.get("train_data") or {}
    sweep = setup.get("k_sweep") or {}
    st.markdown(f"**{md_escape(task.capitalize())}** · {md_escape((report.get('eval_set') or {}).get('name'))} · "
                f"{md_escape(report.get('n'))} rows · adapter {md_escape(setup.get('adapter') or '—')} · "
                f"examples from {md_escape(train.get('name') or '—')}"
                + (f" ({md_escape(train.get('rows'))} rows)" if train.get("rows") else "")
                + (f" · k = {md_escape(setup.get('k'))}" if setup.get("k") else "")
                + (f" · {md_escape(meta.get('seconds'))} s on {md_escape(meta.get('device'))}" if meta.get("seconds") else "")
                + (" · **partial: cancelled before the end**" if partial else ""))
    engine = report.get("engine") or {}
    provenance = [R.model_line(report), R.engine_line(engine) if engine.get("engine") else None]
    if any(provenance):
        st.caption(md_escape(" · ".join(p for p in provenance if p)))
    st.caption(":material/speed: " + md_escape(R.latency_note(report)))
    if sweep.get("grid"):
        grid = ", ".join(f"k={k}: {v:.2f}" for k, v in sweep["grid"].items())
        st.caption(f"k chosen by a sweep on {md_escape(sweep.get('n_val'))} validation rows of the training file "
                   f"({md_escape(METRIC_TITLES.get(sweep.get('metric'), sweep.get('metric')))}: {md_escape(grid)}).")
    if setup.get("mapping"):
        st.caption(f"Label mapping: {md_escape(setup['mapping'])}.")
    st.subheader("Metrics by arm")
    metrics_table(report)
    metric_chart(report)
    st.subheader("Differences, with paired-bootstrap 95% confidence intervals")
    deltas_table(report)
    st.subheader("Per label" if task == "classification" else "Per entity type")
    per_class_table(report)
    if task == "classification":
        st.subheader("Confusion matrices")
        confusion_matrices(report)
    unusable_outputs(report)
    curve = report.get("learning_curve") or saved_curve(report)
    if curve:
        st.subheader("Learning curve")
        learning_curve_chart(report, curve)
    st.subheader("Per row")
    rows_table(report, key)
    rid = report.get("id", "report")
    st.download_button("JSON", json.dumps(report, indent=2), f"crossroads-{rid}.json", "application/json",
                       icon=":material/download:", key=f"{key}-task-json")
