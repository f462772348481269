"""Measured evidence: the comparisons an evaluation report holds, read as clear or not.

The metric behind every comparison is the report's own verdict metric (`verdict_metric`, written
by core.evaluation.verdict); a report saved before verdicts existed gets the same rule here:
accuracy for labels, "contains the gold answer" for short answers, token F1 for long ones. The
other metrics' intervals are kept next to it, so a reader sees when they disagree (a RAFT
adapter's short answers raise F1 and can lower "contains").
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from core.decision.questions import ARM_LABELS, ARM_TO_OPTION

ANSWER_METRICS = ("contains", "f1", "exact_match", "rougeL", "contains_concise")
LABEL_METRICS = ("accuracy", "macro_f1")
ENTITY_METRICS = ("entity_f1", "lenient_f1")  # extraction reports (issue 27)
# The verdict's rule (core/evaluation/verdict.py, LONG_GOLD_WORDS): a long gold answer is almost
# never contained word for word, so F1 judges long answers. Repeated here because decision does
# not import evaluation (reports are read as JSON); it only matters for reports without a verdict.
LONG_GOLD_WORDS = 8
METRIC_NAMES = {
    "contains": "contains the gold answer", "contains_concise": "contains the gold answer, concisely",
    "human": "your blind-review grades",
    "f1": "token F1", "exact_match": "exact match",
    "rougeL": "ROUGE-L", "accuracy": "accuracy", "macro_f1": "macro-F1", "hit_at_k": "retrieval hit@k",
    "entity_f1": "entity F1 (exact)", "lenient_f1": "entity F1 (partial match)",
}
RAFT_TITLE = "Hybrid (RAFT)"  # what reports call the hybrid arm when its adapter was trained RAFT-style


def metric_name(metric: str | None) -> str:
    return METRIC_NAMES.get(metric or "", metric or "—")


def _delta_metrics(report: Mapping[str, Any]) -> set[str]:
    seen: set[str] = set()
    for delta in (report.get("deltas") or {}).values():
        if isinstance(delta, Mapping):
            seen.update(delta)
    return seen


def _long_gold(report: Mapping[str, Any]) -> bool:
    golds = [q["gold"][0] for q in report.get("questions") or []
             if isinstance(q, Mapping) and isinstance(q.get("gold"), list) and q["gold"]]
    return bool(golds) and statistics.median(len(str(g).split()) for g in golds) > LONG_GOLD_WORDS


def choose_metric(report: Mapping[str, Any], task: str | None = None) -> tuple[str | None, str]:
    """(metric, why it was chosen) for the report's comparisons."""
    seen = _delta_metrics(report)
    stated = report.get("verdict_metric")
    if stated in seen:
        return stated, "the report's verdict metric"
    labels = report.get("kind") == "label" or (report.get("kind") is None and task == "classification")
    if labels:
        order, why = LABEL_METRICS + ANSWER_METRICS, "labels are judged by accuracy"
    elif _long_gold(report):
        order, why = ("f1", "contains", "exact_match", "rougeL"), "the gold answers are long: token F1"
    else:
        order, why = ANSWER_METRICS, "short gold answers: whether the answer contains the gold one"
    for m in order:
        if m in seen:
            return m, why if m == order[0] else (
                f"the report has no {metric_name(order[0])} intervals, so the next suited metric")
    return (sorted(seen)[0], "the only metric the report compares") if seen else (None, "no intervals")


def hybrid_is_raft(report: Mapping[str, Any] | None) -> bool:
    """Whether the report's hybrid arm used an adapter trained for retrieval (RAFT).

    Accepted: `adapter_mode == "raft"` at the top level, in meta, setup or the hybrid arm's
    summary, or the arm titled "Hybrid (RAFT)" (report "arm_titles" or the arm's "title").
    """
    if not report:
        return False
    hybrid = (report.get("arms") or {}).get("hybrid")
    if not isinstance(hybrid, Mapping):
        return False
    places = [report, report.get("meta"), report.get("setup"), hybrid]
    modes = [p.get("adapter_mode") for p in places if isinstance(p, Mapping)]
    titles = [(report.get("arm_titles") or {}).get("hybrid"), hybrid.get("title")]
    return "raft" in modes or RAFT_TITLE in titles


def arm_labels(report: Mapping[str, Any] | None) -> dict[str, str]:
    """The arms' names for this report (the hybrid arm is "hybrid (RAFT)" with a RAFT adapter)."""
    labels = dict(ARM_LABELS)
    if hybrid_is_raft(report):  # the same adapter's "fine-tuned" arm then answered without context
        labels.update(hybrid="hybrid (RAFT)", ft="fine-tuned (the RAFT adapter without context)")
    return labels


def _interval(delta: Mapping[str, Any], metric: str) -> tuple[float, float, float] | None:
    interval = delta.get(metric)
    if not isinstance(interval, list | tuple) or len(interval) != 3:
        return None
    low, mean, high = (float(x) for x in interval)
    return low, mean, high


def read_comparisons(report: Mapping[str, Any], metric: str) -> list[dict[str, Any]]:
    """Pairwise differences 'a-b' -> records with the interval and whether it is clear."""
    labels = arm_labels(report)
    out = []
    for pair, delta in (report.get("deltas") or {}).items():
        if "-" not in pair or not isinstance(delta, Mapping) or metric not in delta:
            continue
        a, b = pair.split("-", 1)
        if a not in ARM_TO_OPTION or b not in ARM_TO_OPTION:
            continue
        interval = _interval(delta, metric)
        if interval is None:
            continue
        low, mean, high = interval
        winner = a if low > 0 else b if high < 0 else None
        others = []
        for m in (*ANSWER_METRICS, *LABEL_METRICS, *ENTITY_METRICS):
            other = _interval(delta, m) if m != metric else None
            if other is not None:
                others.append({"metric": m, "low": other[0], "mean": other[1], "high": other[2],
                               "clear": other[0] > 0 or other[2] < 0})
        out.append({
            "pair": pair, "a": a, "b": b, "metric": metric,
            "a_label": labels[a], "b_label": labels[b],
            "low": low, "mean": mean, "high": high,
            "clear": winner is not None, "winner": winner,
            "loser": (b if winner == a else a) if winner else None,
            "winner_label": labels[winner] if winner else None,
            "other_metrics": others,
        })
    return out


def points(value: float) -> str:
    """A difference of shares as percentage points, e.g. 0.37 -> "+37 points"."""
    return f"{value * 100:+.0f} points"


def describe_comparison(c: Mapping[str, Any], n: Any) -> str:
    a, b = c["a_label"], c["b_label"]
    ci = f"95% CI {c['low'] * 100:+.0f} to {c['high'] * 100:+.0f}"
    size = f", n={n}" if n else ""
    name = metric_name(c["metric"])
    if c["clear"]:
        loser = b if c["winner"] == c["a"] else a
        return (f"Measured: {c['winner_label']} beat {loser} by {abs(c['mean']) * 100:.0f} points on {name} "
                f"({a} − {b} = {points(c['mean'])}, {ci}{size}).")
    return f"Measured: {a} vs {b} is not clear on {name} ({points(c['mean'])}, {ci} includes 0{size})."


def describe_others(c: Mapping[str, Any]) -> str:
    """The other metrics' readings of one comparison, e.g. "token F1 +28 points (clear)"."""
    return "; ".join(f"{metric_name(o['metric'])} {points(o['mean'])} ({'clear' if o['clear'] else 'not clear'})"
                     for o in c.get("other_metrics") or []) or "—"


def report_models(report: Mapping[str, Any] | None) -> list[str]:
    """The base models a report's answers came from (meta, engine record, seed-group members),
    in order; empty for reports made before models were named (the bundled SmolLM2-135M)."""
    found: list[str] = []
    if not isinstance(report, Mapping):
        return found
    candidates = [(report.get("meta") or {}).get("model"), (report.get("engine") or {}).get("model")]
    for member in report.get("members") or []:  # a seed group's reports, where it keeps them
        if isinstance(member, Mapping):
            candidates += [(member.get("meta") or {}).get("model"), (member.get("engine") or {}).get("model")]
    for name in candidates:
        if isinstance(name, str) and name and name not in found:
            found.append(name)
    return found

