"""The decision report (Markdown), readable by someone who never opened the app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.decision.evidence import describe_others, metric_name
from core.decision.questions import OPTION_LABELS, OPTIONS, QUESTIONS
from core.decision.rules import SOURCES


# --------------------------------------------------------------------------------------------
# The decision report (Markdown), readable by someone who never opened the app
# --------------------------------------------------------------------------------------------
def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "not measured"
    if isinstance(v, float):
        v = f"{v:,.1f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def to_markdown(record: Mapping[str, Any], proj: Mapping[str, Any] | None = None,
                *, created: str | None = None) -> str:
    """The decision report as Markdown."""
    L: list[str] = []
    L.append(f"# Crossroads decision report: {record['choice_label']}")
    if created:
        L.append(f"_Created {created}._")
    L.append("")
    L.append("Question: should this use case put its knowledge in retrieval (RAG), in the model's "
             "weights (a LoRA fine-tune), both (hybrid), or start with a prompt and a baseline?")
    L.append("")
    L.append("## Recommendation")
    L.append("")
    L.append(f"- **Choice:** {record['choice_label']} (`{record['choice']}`)")
    L.append(f"- **Confidence:** {record['confidence']:.2f} — {record['confidence_reading']}")
    L.append(f"- **Close call:** {'yes' if record.get('close_call') else 'no'}")
    if record.get("runner_up"):
        L.append(f"- **Runner-up:** {OPTION_LABELS[record['runner_up']]}, {record['runner_up_gap']}")
    L.append(f"- Questions answered: {record['answered']} of {len(QUESTIONS) - 1}")
    for o in record.get("overrides", []):
        L.append(f"- **Measurement override:** {o['text']}")
    L.append("")
    L.append("## Scores (prior, from the answers)")
    L.append("")
    L.append("| option | score | status |")
    L.append("|---|---:|---|")
    for o in OPTIONS:
        status = "chosen" if o == record["choice"] else (
            "ruled out by " + ", ".join(record["blocked"][o]) if o in record["blocked"] else "allowed")
        L.append(f"| {OPTION_LABELS[o]} | {record['scores'][o]:+.1f} | {status} |")
    L.append("")
    L.append("## Gates that fired")
    L.append("")
    if record["gates"]:
        for g in record["gates"]:
            L.append(f"- {g['text']} _Source: {g['source']}_")
    else:
        L.append("- none")
    L.append("")
    L.append("## Reasons (strongest first)")
    L.append("")
    L.append("| # | for / against | reason | source |")
    L.append("|---:|---|---|---|")
    for i, r in enumerate(record["reasons"], 1):
        L.append(f"| {i} | {r['direction']} | {r['text']} | {r['source']} |")
    L.append("")
    ev = record["evidence"]
    L.append("## Measured evidence")
    L.append("")
    if ev["used"]:
        on = f" (base model {ev['model']})" if ev.get("model") else ""
        L.append(f"Report {ev['id'] or ''}{on}: metric **{metric_name(ev['metric'])}** ({ev.get('metric_why')}), "
                 f"n={ev['n']}. Differences are in percentage points of that metric; one counts as clear only "
                 "when its 95% confidence interval excludes zero.")
        L.append("")
        L.append("| comparison | mean difference | confidence interval | clear? | winner | other metrics |")
        L.append("|---|---:|---|---|---|---|")
        for c in ev["comparisons"]:
            L.append(f"| {c['a_label']} − {c['b_label']} (`{c['pair']}`) | {c['mean'] * 100:+.1f} | "
                     f"[{c['low'] * 100:+.1f}, {c['high'] * 100:+.1f}] | {'yes' if c['clear'] else 'no'} | "
                     f"{c['winner_label'] or '—'} | {describe_others(c)} |")
    elif len(ev.get("models") or []) > 1:
        L.append(f"The report mixes answers of base models {', '.join(ev['models'])}: its measurements were not used "
                 "(one recommendation is about one base model).")
    else:
        L.append("No evaluation report was used: this recommendation rests on the answers and "
                 "published results only.")
    L.append("")
    if proj is not None:
        L.append("## Cost and latency projection")
        L.append("")
        if proj["arms"]:
            qpd = proj.get("queries_per_day")
            L.append(f"Measured per-query numbers{f', at {qpd:,} queries/day' if qpd else ''}:")
            L.append("")
            L.append("| arm | latency p50 (ms) | latency p95 (ms) | latency measured | prompt tokens / query | "
                     "serving s / day | prompt tokens / day |")
            L.append("|---|---:|---:|---|---:|---:|---:|")
            for r in proj["arms"]:
                L.append(f"| {r['label']} | {_fmt(r['latency_p50_ms'])} | {_fmt(r['latency_p95_ms'])} | "
                         f"{r.get('latency_from') or '—'} | "
                         f"{_fmt(r['prompt_tokens_per_query'])} | {_fmt(r['serving_seconds_per_day'])} | "
                         f"{_fmt(r['prompt_tokens_per_day'])} |")
            L.append("")
        u = proj["updates"]
        L.append("| keeping knowledge current | per update (s) | per month (s) |")
        L.append("|---|---:|---:|")
        L.append(f"| re-index (RAG) | {_fmt(u['reindex_seconds'])} | {_fmt(u['reindex_seconds_per_month'])} |")
        L.append(f"| retrain (fine-tune) | {_fmt(u['train_seconds'])} | {_fmt(u['train_seconds_per_month'])} |")
        if u["updates_per_month"] is not None:
            L.append("")
            L.append(f"Updates per month assumed from your answer: {u['updates_per_month']}.")
        for m in proj["missing"]:
            L.append(f"- {m}")
        L.append("")
    L.append("## Your answers")
    L.append("")
    L.append("| question | answer |")
    L.append("|---|---|")
    for q in QUESTIONS:
        v = record["answers"].get(q.id)
        shown = q.label(v) if q.kind == "choice" else ("not answered" if v is None else f"{v:,} {q.unit}")
        L.append(f"| {q.prompt} | {shown} |")
    L.append("")
    L.append("## Next steps")
    L.append("")
    for i, s in enumerate(record["next_steps"], 1):
        L.append(f"{i}. {s['text']}" + (f" _({s['source']})_" if s.get("source") else ""))
    if record.get("notes"):
        L.append("")
        L.append("## Notes")
        L.append("")
        for n in record["notes"]:
            L.append(f"- {n}")
    L.append("")
    L.append("## Sources")
    L.append("")
    for s in SOURCES.values():
        L.append(f"- {s}")
    L.append("")
    return "\n".join(L)
