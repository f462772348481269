"""Two evaluation reports side by side: one arm of each, paired CIs on the questions both answered.

An evaluation runs one adapter; comparing RAG, a naive hybrid (closed-book adapter) and a RAFT
hybrid takes two reports over the same eval set. `pair_reports` matches their questions by text
and gives, per metric, both means and the paired-bootstrap CI of the difference
(core.evaluation.metrics.paired_bootstrap_ci): the same statistic a single report uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.evaluation.metrics import paired_bootstrap_ci
from core.evaluation.report import report_arm_title
from core.runtime.errors import CrossroadsError

DEFAULT_METRICS = ("f1", "contains", "contains_concise", "exact_match")


class ReportPairError(CrossroadsError):
    pass


def pair_reports(a: dict, arm_a: str, b: dict, arm_b: str, metrics: Sequence[str] = DEFAULT_METRICS,
                 n_resamples: int = 2000, seed: int = 0) -> dict:
    """{"n", "a", "b", "metrics": {m: {"a", "b", "diff", "low", "high"}}}: arm_a of report a minus
    arm_b of report b over the questions both reports hold (matched by question text)."""
    def scores(report: dict, arm: str) -> dict[str, dict]:
        out = {}
        for q in report.get("questions") or []:
            if arm in (q.get("scores") or {}):
                out.setdefault(q["question"], q["scores"][arm])
        if not out:
            raise ReportPairError(f"Report {report.get('id')} has no answers of the {arm} arm.",
                                  hint="Pick an arm the report ran.")
        return out

    sa, sb = scores(a, arm_a), scores(b, arm_b)
    shared = [q for q in sa if q in sb]
    if not shared:
        raise ReportPairError("The two reports share no question.", hint="Evaluate both on the same eval set.")
    result = {"n": len(shared), "a": {"report": a.get("id"), "arm": arm_a, "title": report_arm_title(a, arm_a)},
              "b": {"report": b.get("id"), "arm": arm_b, "title": report_arm_title(b, arm_b)}, "metrics": {}}
    for m in metrics:
        xa = [sa[q].get(m) for q in shared]
        xb = [sb[q].get(m) for q in shared]
        if any(v is None for v in xa + xb):
            continue
        low, diff, high = paired_bootstrap_ci(xa, xb, n_resamples=n_resamples, seed=seed)
        result["metrics"][m] = {"a": sum(xa) / len(xa), "b": sum(xb) / len(xb),
                                "diff": diff, "low": low, "high": high}
    return result
