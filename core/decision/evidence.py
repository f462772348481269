"""Measured evidence: the comparisons an evaluation report holds, read as clear or not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.decision.questions import ARM_LABELS, ARM_TO_OPTION

# --------------------------------------------------------------------------------------------
# Evidence from an evaluation report
# --------------------------------------------------------------------------------------------
PRIMARY_METRICS = ("f1", "contains", "exact_match", "rougeL")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")


def primary_metric(report: Mapping[str, Any], task: str | None = None) -> str | None:
    """The metric the comparison uses: accuracy / macro-F1 for classification, else F1."""
    seen: set[str] = set()
    for delta in (report.get("deltas") or {}).values():
        if isinstance(delta, Mapping):
            seen.update(delta)
    order = (CLASSIFICATION_METRICS + PRIMARY_METRICS) if task == "classification" else (
        PRIMARY_METRICS + CLASSIFICATION_METRICS
    )
    for m in order:
        if m in seen:
            return m
    return sorted(seen)[0] if seen else None


def read_comparisons(report: Mapping[str, Any], metric: str) -> list[dict[str, Any]]:
    """Pairwise differences 'a-b' -> records with the interval and whether it is clear."""
    out = []
    for pair, delta in (report.get("deltas") or {}).items():
        if "-" not in pair or not isinstance(delta, Mapping) or metric not in delta:
            continue
        a, b = pair.split("-", 1)
        if a not in ARM_TO_OPTION or b not in ARM_TO_OPTION:
            continue
        interval = delta[metric]
        if not isinstance(interval, list | tuple) or len(interval) != 3:
            continue
        low, mean, high = (float(x) for x in interval)
        winner = a if low > 0 else b if high < 0 else None
        out.append({
            "pair": pair, "a": a, "b": b, "metric": metric,
            "low": low, "mean": mean, "high": high,
            "clear": winner is not None, "winner": winner,
            "loser": (b if winner == a else a) if winner else None,
        })
    return out


def describe_comparison(c: Mapping[str, Any], n: Any) -> str:
    a, b = ARM_LABELS[c["a"]], ARM_LABELS[c["b"]]
    ci = f"CI {c['low']:+.3f} to {c['high']:+.3f}"
    size = f", n={n}" if n else ""
    if c["clear"]:
        w, l_ = ARM_LABELS[c["winner"]], ARM_LABELS[c["loser"]]
        diff = abs(c["mean"])
        return f"Measured: {w} beat {l_} by {diff:.3f} {c['metric']} ({a} - {b} = {c['mean']:+.3f}, {ci}{size})."
    return (
        f"Measured: {a} vs {b} is not clear on {c['metric']} ({c['mean']:+.3f}, {ci} includes 0{size})."
    )


