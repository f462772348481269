"""Rendering helpers for the Fine-tune page: validation report, prompt preview, run panel, adapters."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.runtime import jobs
from core.runtime.text import plural
from core.training import adapters
from core.training.finetune import KIND
from ui.jobs_view import since
from ui.knowledge_view import md_escape

# Material icons, not emoji: emoji render as empty boxes in a browser without an emoji font.
STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/directions_run:",
               "stopping": ":material/pending:", "completed": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/stop_circle:",
               "interrupted": ":material/warning:"}
LEVEL_ICONS = {"error": ":material/block:", "warning": ":material/warning:", "info": ":material/info:"}


def fmt_seconds(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_params(n) -> str:
    if not n:
        return "—"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


# ---------------------------------------------------------------------------------------------
# Data


def validation_report(data) -> None:
    stats = data.report.stats
    tokens = stats.get("tokens") or {}
    cols = st.columns(5)
    cols[0].metric("Rows read", stats.get("rows_read", 0))
    cols[1].metric("Usable rows", stats.get("usable", 0))
    cols[2].metric("Duplicates", stats.get("duplicates_removed", 0), help="Identical rows, removed.")
    cols[3].metric("Skipped", stats.get("skipped_empty", 0) + stats.get("skipped_oversize", 0),
                   help="Rows with empty or invalid fields, or a field too long (see the messages below).")
    cols[4].metric("Truncated", f"{tokens.get('truncation_share', 0):.0%}",
                   help=f"Rows longer than {tokens.get('max_length', '?')} tokens (template included) are cut.")
    for issue in data.report.issues:
        {"error": st.error, "warning": st.warning, "info": st.info}[issue.level](issue.text(),
                                                                                   icon=LEVEL_ICONS[issue.level])
    if data.ok:
        st.success(f"Ready to train: {stats.get('usable', 0)} usable rows.", icon=":material/check_circle:")
    left, right = st.columns(2)
    if tokens:
        with left:
            st.markdown("**Tokens per row** (chat template included)")
            st.dataframe(pd.DataFrame([{k: tokens[k] for k in ("min", "median", "mean", "max", "total")}]),
                         hide_index=True, width="stretch")
    if stats.get("label_counts"):
        with right:
            st.markdown("**Label distribution**")
            counts = pd.DataFrame({"label": list(stats["label_counts"]), "rows": list(stats["label_counts"].values())})
            st.bar_chart(counts, x="label", y="rows", height=180)


def prompt_preview(previews) -> None:
    for p in previews:
        with st.container(border=True):
            st.caption(f"Row {p.number} · {p.tokens} tokens, {p.trained_tokens} trained on")
            st.markdown(":gray[**Context** — the model sees this, no loss]")
            st.code(p.prompt_text, language=None, wrap_lines=True)
            st.markdown(":green-background[**Trained on** — the loss is computed on these tokens only]")
            st.code(p.trained_text, language=None, wrap_lines=True)
            if p.cut_text:
                st.markdown(":red[**Cut** — beyond the max length, never seen]")
                st.code(p.cut_text, language=None, wrap_lines=True)


def estimate_view(job) -> None:
    if job.active:
        s = job.status
        step, total = s.get("step") or 0, s.get("total_steps") or 0
        what = (f"timed step {step} of {total}" if total else
                "loading the model and the data first (most of the wait), then a few timed training steps")
        st.progress(step / total if total else 0.0,
                    text=f"Measuring real training steps: {what} · {since(s.get('created'))}")
        st.caption("You can start training without waiting: the run shows its own ETA from its first real steps.")
        return
    if job.state != "completed":
        st.error(f"The estimate failed: {md_escape(job.status.get('error') or job.status.get('message'))}",
                 icon=":material/warning:")
        return
    r = job.status.get("result") or {}
    cols = st.columns(5)
    cols[0].metric("Time per step", f"{r.get('seconds_per_step', 0):.2f} s", help="Median of real training steps just measured.")
    cols[1].metric("Steps", r.get("steps"))
    cols[2].metric("Total time (est.)", fmt_seconds(r.get("total_seconds")))
    cols[3].metric("Peak memory", f"{r.get('peak_memory_mb', 0):,} MB", help="Peak resident memory of the measuring process"
                   + (" (GPU memory allocated)" if r.get("device") == "cuda" else "") + ".")
    cols[4].metric("Trainable parameters", fmt_params(r.get("trainable_params")),
                   f"{r.get('trainable_share', 0):.2%} of the model", delta_color="off")


# ---------------------------------------------------------------------------------------------
# Runs


def loss_frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r in records:
        if r.get("loss") is not None:
            rows.append({"step": r["step"], "series": "train loss", "loss": r["loss"]})
        if r.get("eval_loss") is not None:
            rows.append({"step": r["step"], "series": "eval loss", "loss": r["eval_loss"]})
    return pd.DataFrame(rows, columns=["step", "series", "loss"]).drop_duplicates(["step", "series"], keep="last")


def loss_chart_spec(frame: pd.DataFrame):
    """The loss curve (train + eval) as an Altair chart."""
    import altair as alt

    return alt.Chart(frame).mark_line(point=True).encode(
        # Steps are whole numbers: integer ticks, never 0.5 steps.
        x=alt.X("step:Q", title="step", axis=alt.Axis(format="d", tickMinStep=1)),
        y=alt.Y("loss:Q", title="loss", scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=["train loss", "eval loss"],
                                                                 range=["#4f46e5", "#f59e0b"])),
        tooltip=["step", "series", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(height=260)


def loss_chart(records: list[dict]) -> None:
    frame = loss_frame(records)
    if frame.empty:
        st.caption("The loss curve appears after the first step.")
        return
    st.altair_chart(loss_chart_spec(frame), width="stretch")


def run_panel(job: jobs.Job) -> None:
    """Status, progress, loss curve and controls of one training run."""
    s = job.status
    state = job.state
    step, total = int(s.get("step") or 0), int(s.get("total_steps") or 0)
    spec = job.spec
    st.markdown(f"{STATE_ICONS.get(state, '')} **Run `{job.id}`** → adapter **{md_escape(spec.get('name', '?'))}** "
                f"on {md_escape(spec.get('data_name', '?'))} · {state}")
    if total:
        st.progress(min(1.0, step / total), text=f"Step {step} / {total} · epoch {float(s.get('epoch') or 0):.2f}")
    cols = st.columns(5)
    cols[0].metric("Step", f"{step} / {total or '?'}")
    cols[1].metric("Elapsed", fmt_seconds(s.get("elapsed_s")))
    cols[2].metric("ETA", fmt_seconds(s.get("eta_s")) if job.active else "—")
    cols[3].metric("Train loss", f"{s['train_loss']:.4f}" if s.get("train_loss") is not None else "—")
    # A plain value: drawn as a metric delta it read as an "↑" change badge.
    cols[4].metric("Eval loss", f"{s['eval_loss']:.4f}" if s.get("eval_loss") is not None else "—",
                   help="Loss on the held-out rows (seeded split), at the last evaluation.")
    loss_chart(job.progress())
    if state == "failed":
        st.error(f"{md_escape(s.get('error') or s.get('message'))}" + (f"\n\n**What to do:** {md_escape(s['hint'])}" if s.get("hint") else ""),
                 icon=":material/error:")
    elif state == "interrupted":
        st.warning(md_escape(s.get("message", "Interrupted.")), icon=":material/warning:")
    elif state == "cancelled":
        st.info(md_escape(s.get("message", "Cancelled.")), icon=":material/stop_circle:")
    elif state == "completed":
        r = s.get("result") or {}
        st.success(f"Adapter **{md_escape(r.get('adapter'))}** saved · train loss {r.get('train_loss') or 0:.4f}"
                   + (f" · eval loss {r['eval_loss']:.4f}" if r.get("eval_loss") is not None else "")
                   + f" · {plural(r.get('steps') or 0, 'step')} · {fmt_seconds(r.get('seconds'))}",
                   icon=":material/check_circle:")
        train_recall_view(r.get("train_recall"))
    elif job.active:
        st.caption(md_escape(s.get("message", "")))


def train_recall_view(recall: dict | None) -> None:
    """How many of its own training answers the adapter reproduces, with a few of them."""
    if not recall or not recall.get("rows"):
        return
    share = recall.get("share") or 0.0
    text = (f"**Training answers reproduced: {recall['recalled']} of {recall['rows']}** ({share:.0%}, greedy, "
            "seeded rows of its own training set).")
    if share < 0.5:
        text += (" Too few: this run was too short or its learning rate too low to learn the data; raise the "
                 "epochs or pick a longer preset before judging fine-tuning on held-out questions.")
    else:
        text += " The adapter learned its data; how it does on new questions is what Evaluate measures."
    (st.success if share >= 0.5 else st.warning)(text, icon=":material/fact_check:")
    with st.expander("Training rows checked"):
        st.dataframe(pd.DataFrame([{"row": e["row"], "prompt": e["prompt"], "trained answer": e["target"],
                                    "adapter's answer": e["answer"], "reproduced": "✓" if e["recalled"] else "✗"}
                                   for e in recall.get("examples") or []]), hide_index=True, width="stretch")


def latest_run() -> jobs.Job | None:
    """The newest training run; damaged run files are reported here and skipped, never fatal."""
    for damaged in jobs.damaged_runs():
        st.warning(md_escape(f"{damaged.message} {damaged.hint}"), icon=":material/warning:")
    runs = jobs.list_jobs(kind=KIND)
    return runs[0] if runs else None



# ---------------------------------------------------------------------------------------------
# Adapters


def adapters_table(records: list[adapters.AdapterRecord]) -> None:
    rows = []
    for r in records:
        s = r.summary()
        rows.append({
            "name": s["name"], "base model": s["base_name"], "data": s["data"], "rows": s["rows"],
            "rank": s["rank"], "epochs": s["epochs"], "steps": s["steps"], "lr": s["learning_rate"],
            "train loss": s["train_loss"], "eval loss": s["eval_loss"],
            "duration": fmt_seconds(s["duration_s"]) if s["duration_s"] is not None else "—",
            "trainable": fmt_params(s["trainable_params"]), "size MB": s["size_mb"],
            "source": "imported" if s["imported"] else "trained",
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"train loss": st.column_config.NumberColumn(format="%.4f"),
                                "eval loss": st.column_config.NumberColumn(format="%.4f"),
                                "lr": st.column_config.NumberColumn(format="%.1e"),
                                "epochs": st.column_config.NumberColumn(
                                    format="%.2f", help="Epochs the run really trained (max steps can stop it early).")})
