"""Evaluation reports as tables and documents: metric tables, CI readings, CSV and Markdown."""

from __future__ import annotations

import csv
import io

from core.evaluation.arms import arm_title
from core.evaluation.seeds import seed_lines
from core.evaluation.verdict import verdict_of
from core.knowledge.retrieval_setting import describe_setting, field_text
from core.runtime.machine import describe_machine, latency_conditions
from core.runtime.text import md_escape

PERCENT_METRICS = ("exact_match", "f1", "contains", "contains_concise", "rougeL", "accuracy", "macro_f1", "hit_at_k", "mrr", "human",
                   "groundedness_proxy")
METRIC_TITLES = {
    "human": "Your grades (blind review)",
    "exact_match": "Exact match", "f1": "Token F1", "contains": "Contains gold",
    "contains_concise": "Contains, concise", "rougeL": "ROUGE-L", "answer_tokens_mean": "Answer length (tokens)",
    "accuracy": "Accuracy", "macro_f1": "Macro-F1", "hit_at_k": "Retrieval hit@k", "mrr": "MRR",
    "groundedness_proxy": "Groundedness (proxy)", "latency_p50_ms": "Latency p50 (ms)",
    "latency_p95_ms": "Latency p95 (ms)", "tokens_per_s": "Tokens/s", "prompt_tokens_mean": "Prompt tokens",
    "train_seconds": "Training time (s)", "trainable_params": "Trainable params",
}


def describe_setup(setup: dict) -> str:
    """Decoding and retrieval in words, e.g. "greedy, ≤ 48 new tokens · top-3 similarity, relevance ≥ 0.3"."""
    decoding, retrieval = setup.get("decoding") or {}, setup.get("retrieval") or {}
    mode = f"sampling at T={decoding.get('temperature')}" if decoding.get("do_sample") else "greedy"
    text = f"{mode}, ≤ {decoding.get('max_new_tokens')} new tokens"
    if decoding.get("repetition_penalty", 1.0) != 1.0:
        text += f", repetition penalty {decoding['repetition_penalty']}"
    if setup.get("kb"):
        text += f" · retrieval from {md_escape(setup['kb'])}: {md_escape(describe_setting(retrieval))}"
    return text


def training_mismatch(report: dict) -> str | None:
    """When a RAFT adapter was evaluated with another retrieval setting than it was trained with."""
    retrieval = (report.get("setup") or {}).get("retrieval") or {}
    if not str(retrieval.get("base_from", "")).startswith("the setting adapter") or not retrieval.get("override"):
        return None
    now = ", ".join(field_text(c["field"], c["value"]) for c in retrieval["override"])
    was = ", ".join(field_text(c["field"], c["base"]) for c in retrieval["override"])
    return md_escape(f"The RAFT adapter was trained with {was} but evaluated with {now}: it learned to read "
                     "another context than it got here.")


def latency_note(report: dict) -> str:
    """How this report's latencies were measured, and on what machine."""
    conditions = latency_conditions(report.get("machine"), (report.get("meta") or {}).get("batch_size"))
    return f"Latencies measured {conditions['label']} · {describe_machine(report.get('machine'))}"


def primary_metric(report: dict) -> str:
    """The metric the verdict is built on (accuracy for labels, contains or F1 for answers)."""
    return verdict_of(report)["verdict_metric"]


def mark_metric(report: dict) -> str:
    """The 0/1 metric behind the per-question ✓/✗: the verdict's when it is 0/1, else contains."""
    if report.get("kind") == "label":
        return "accuracy"
    primary = primary_metric(report)
    return primary if primary in ("contains", "contains_concise", "exact_match") else "contains"


def mark(value) -> str:
    """A 0/1 score as ✓ / ✗ (a fractional score, e.g. F1, as a number)."""
    if value is None:
        return "–"
    if value in (0, 1):
        return "✓" if value == 1 else "✗"
    return f"{value:.2f}"


def missing_explanations(report: dict) -> list[str]:
    """Why some columns are empty, in words (a reader should not guess)."""
    notes = []
    retrieval_arms = [a for a in report.get("arms", {}) if a in ("rag", "hybrid")]
    if retrieval_arms and not any("hit_at_k" in report["arms"][a] for a in retrieval_arms):
        notes.append("No retrieval hit@k, MRR or retrieval-miss / generation-error split: nothing tells which chunk "
                     "holds each answer (the eval set has no `source` or `chunk_id` column, and its gold answers "
                     "are labels or do not occur in the documents). Add a `source` column (the file name) to "
                     "measure retrieval.")
    rules = {report["arms"][a].get("gold_rule") for a in retrieval_arms} - {None}
    if "answer" in " ".join(rules):
        notes.append("Retrieval hit@k here means a retrieved chunk contains the gold answer (the eval set gives "
                     "no `source`): a proxy for finding the right passage.")
    if not retrieval_arms:
        notes.append("No retrieval figures: no arm used a knowledge base.")
    if not any(a in ("ft", "hybrid") for a in report.get("arms", {})):
        notes.append("No training time or trainable parameters: no arm used an adapter.")
    return notes


def report_arm_title(report: dict, arm: str) -> str:
    """The arm's title in this report: "Hybrid (RAFT)" when its adapter was trained for retrieval."""
    mode = (report.get("meta") or {}).get("adapter_mode")
    stored = ((report.get("arms") or {}).get(arm) or {}).get("title")
    if mode == "raft" or not stored:  # reports written before the RAFT fine-tuned arm had its own title
        return arm_title(arm, mode)
    return stored


def metric_rows(report: dict) -> list[dict]:
    """One row per arm: the arm's metrics, in the order of METRIC_TITLES."""
    rows = []
    for arm, values in report["arms"].items():
        row = {"arm": report_arm_title(report, arm)}
        for key, title in METRIC_TITLES.items():
            if values.get(key) is not None:
                row[title] = values[key]
        rows.append(row)
    return rows


def reading(interval: list[float]) -> str:
    low, _, high = interval
    if low > 0:
        return "better (CI above 0)"
    if high < 0:
        return "worse (CI below 0)"
    return "no clear difference (CI spans 0)"


def delta_rows(report: dict) -> list[dict]:
    """One row per (pair, metric): the mean difference, its 95% CI and a plain reading."""
    rows = []
    for pair, by_metric in report.get("deltas", {}).items():
        a, b = pair.split("-")
        for metric, interval in by_metric.items():
            low, mean, high = interval
            rows.append({"comparison": f"{report_arm_title(report, a)} − {report_arm_title(report, b)}",
                         "metric": METRIC_TITLES.get(metric, metric), "difference": mean, "CI low": low,
                         "CI high": high, "reading": reading(interval)})
    return rows


def question_rows(report: dict) -> list[dict]:
    """The per-question table: gold, each arm's answer, its ✓/✗ and failure label."""
    metric = mark_metric(report)
    rows = []
    for n, q in enumerate(report.get("questions", []), 1):
        row = {"#": n, "question": q["question"], "gold": " | ".join(q["gold"])}
        for arm in q["answers"]:  # scores and failure labels first: they are what a reader scans
            title = report_arm_title(report, arm)
            row[f"{title} ✓"] = mark(q["scores"][arm].get(metric))
            if arm in (q.get("failure") or {}):
                row[f"{title} failure"] = q["failure"][arm] or ""
        for arm, answer in q["answers"].items():
            row[report_arm_title(report, arm)] = answer
        rows.append(row)
    return rows


def disagreements(report: dict) -> list[int]:
    """Indexes of questions on which the arms do not all score the same."""
    metric = mark_metric(report)
    return [i for i, q in enumerate(report.get("questions", []))
            if len({round(s.get(metric) or 0, 6) for s in q["scores"].values()}) > 1]


def power_lines(report: dict) -> list[str]:
    """How many questions are enough, in words: before the run, and per comparison after it."""
    figures = report.get("power") or {}
    lines = []
    if before := figures.get("before_run"):
        lines.append(f"Before the run ({before['n']} questions): smallest detectable difference "
                     f"{before['mde'] * 100:.0f} points, a 10-point difference needs about {before['n_for_10_points']} "
                     f"questions (spread {before['basis']}).")
    for pair, plan in (figures.get("observed") or {}).items():
        a, b = pair.split("-", 1)
        lines.append(f"{report_arm_title(report, a)} − {report_arm_title(report, b)}: spread of the per-question "
                     f"differences {plan['sd']:.2f}, so {plan['n']} questions detect {plan['mde'] * 100:.0f} points; "
                     f"10 points need about {plan['n_for_10_points']}.")
    return lines


def review_lines(report: dict) -> list[str]:
    """The blind review in words: how far it got and how each automatic metric agrees with it."""
    review = report.get("review") or {}
    if not review.get("grades"):
        return []
    total = sum(len(q.get("answers") or {}) for q in report.get("questions") or [])
    lines = [f"Blind review: {len(review['grades'])} of {total} answers graded"
             + (" (finished: the verdict uses your grades)." if review.get("finished") else
                " (unfinished: resume it on the Review page).")]
    for m, v in (review.get("agreement") or {}).items():
        lines.append(f"{METRIC_TITLES.get(m, m)} agrees with your grades on {v['agreement']:.0%} of {v['n']} answers.")
    return lines


def to_csv(report: dict) -> str:
    rows = question_rows(report)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return md_escape(value)  # arm titles carry adapter names: a table cell is markdown too


def engine_line(engine: dict) -> str:
    """The engine that produced a report's answers, with its measured fidelity and speed (as
    recorded when the report was made)."""
    text = f"Engine: {engine.get('engine')} {engine.get('quantization') or ''}".rstrip()
    for part in ("fidelity", "speed"):
        label = (engine.get(part) or {}).get("label")
        if label:
            text += f" · {label}"
    return text


def model_line(report: dict) -> str | None:
    """The base model every answer of the report came from (None for reports made before models
    were named: those all ran the bundled SmolLM2-135M-Instruct)."""
    name = (report.get("meta") or {}).get("model") or (report.get("engine") or {}).get("model")
    return f"Base model: {name}" if name else None


def to_markdown(report: dict) -> str:
    """A report someone who never opened the app can read."""
    setup = report.get("setup", {})
    meta = report.get("meta", {})
    verdict = verdict_of(report)
    # Every name and text below came from a user or a file (eval set, adapter, knowledge base,
    # arm titles): escaped, so a CommonMark viewer shows it as text, never as an image or a link.
    e = md_escape
    lines = [
        f"# Crossroads evaluation {e(report.get('id', ''))}", "",
        f"**Verdict:** {e(verdict['verdict'])}", "",
        *(["> **Partial report**: the run was cancelled before every question was answered.", ""]
          if report.get("partial") or report.get("complete") is False else []),
        f"- Eval set: **{e(report.get('eval_set', {}).get('name'))}** ({e(report['n'])} items, {e(report.get('kind'))})",
        f"- Arms: {', '.join(e(report_arm_title(report, a)) for a in report['arms'])}",
        *([f"- **{e(m)}**"] if (m := model_line(report)) else []),
        f"- Knowledge base: {e(setup.get('kb') or '—')} · adapter: {e(setup.get('adapter') or '—')}",
        f"- Decoding and retrieval: {e(describe_setup(setup))}",
        f"- Device: {e(meta.get('device'))} · run time {e(meta.get('seconds'))} s · created {e(report.get('created'))}",
        *([f"- {e(engine_line(report['engine']))}"] if (report.get("engine") or {}).get("engine") else []),
        *([f"- **Retrieval differs from training:** {e(m)}"] if (m := training_mismatch(report)) else []),
        f"- {e(latency_note(report))}",
        "", "## Metrics by arm", "",
    ]
    rows = metric_rows(report)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines += ["| " + " | ".join(e(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    lines += ["", f"## Differences ({meta.get('ci', 'paired bootstrap 95% CI')})", "",
              "| comparison | metric | difference | 95% CI | reading |", "|---|---|---|---|---|"]
    lines += [f"| {e(r['comparison'])} | {r['metric']} | {r['difference']:+.3f} | [{r['CI low']:+.3f}, {r['CI high']:+.3f}] "
              f"| {r['reading']} |" for r in delta_rows(report)]
    failures = {}
    for q in report.get("questions", []):
        for arm, label in (q.get("failure") or {}).items():
            if label:
                failures.setdefault(report_arm_title(report, arm), {}).setdefault(label, 0)
                failures[report_arm_title(report, arm)][label] += 1
    if failures:
        lines += ["", "## Failures of the retrieval arms", ""]
        lines += [f"- {e(arm)}: " + ", ".join(f"{n} {e(label)}" for label, n in counts.items())
                  for arm, counts in failures.items()]
    if seed_text := seed_lines(report, lambda arm: report_arm_title(report, arm)):
        lines += ["", "## Training seeds", ""] + [f"- {line}" for line in seed_text]
    if review := review_lines(report):
        lines += ["", "## Blind review", ""] + [f"- {line}" for line in review]
    if power := power_lines(report):
        lines += ["", "## How many questions are enough (80% power, α 0.05, two-sided)", ""]
        lines += [f"- {line}" for line in power]
    if notes := missing_explanations(report):
        lines += ["", "## Not measured", ""] + [f"- {e(note)}" for note in notes]
    lines += ["", "Metric values are shares between 0 and 1; groundedness is a lexical proxy (share of answer "
              "words found in the retrieved text), not a judgement of truth.", ""]
    return "\n".join(lines)
