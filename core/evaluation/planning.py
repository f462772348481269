"""Power figures for a report and for an evaluation about to start (core.evaluation.power applied).

Before a run the spread of the paired differences comes from this workspace's newest finished
report of the same kind (the widest of its comparisons on its verdict metric: the cautious
choice), else it is assumed (power.assumed_sd). After a run each compared pair has its own
measured spread. Both are stored in the report under "power".
"""

from __future__ import annotations

import json

from core.evaluation import power
from core.evaluation.verdict import verdict_metric
from core.runtime.settings import Settings, get_settings

NEWEST_REPORTS = 20  # how far back to look for a measured spread


def _pairs(report: dict) -> list[tuple[str, str]]:
    return [tuple(p.split("-", 1)) for p in (report.get("deltas") or {}) if "-" in p]


def before_run(n: int, kind: str, settings: Settings | None = None) -> dict:
    """What n questions can detect, from the newest finished report of this kind (or an assumption)."""
    folder = (settings or get_settings()).path("reports")
    for path in sorted(folder.glob("*.json"), reverse=True)[:NEWEST_REPORTS] if folder.is_dir() else []:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            if report.get("partial") or (report.get("kind") or "qa") != kind:
                continue
            metric = report.get("verdict_metric") or verdict_metric(report)
            sd = power.widest_sd(report, metric, _pairs(report))
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            continue
        if sd:
            return power.plan(n, sd, f"measured in report {report.get('id', path.stem)} ({metric}, the widest "
                                     "spread of its comparisons)")
    return power.plan(n)


def after_run(report: dict, metric: str) -> dict:
    """Per compared pair: measured spread, MDE and the questions a 10-point difference needs."""
    return power.observed(report, metric, _pairs(report))


def describe(plan: dict) -> str:
    """e.g. "With 40 questions the smallest difference this can detect is 31 points (…); 10 points needs 392"."""
    if plan.get("mde") is None:
        return ""
    return (f"With {plan['n']} questions the smallest difference it can detect is **{plan['mde'] * 100:.0f} points** "
            f"(80% power, α 0.05, two-sided; spread {plan['basis']}); a 10-point difference needs about "
            f"**{plan['n_for_10_points']}** questions.")
