"""The verdict of a task report, in words, in the style of core.evaluation.verdict.

Every arm is read against the base model on the verdict metric (accuracy for classification,
exact entity F1 for extraction), then fine-tuned against retrieved examples (the question a team
with a few hundred labeled rows asks). A difference counts only when its paired 95% CI excludes
zero; otherwise it is "no evidence of a difference", never "equal".
"""

from __future__ import annotations

from core.evaluation.verdict import SMALL_SET, _ci, _points

NAMES = {"base": "the base model (zero-shot)", "examples": "retrieved examples", "ft": "the fine-tuned arm",
         "hybrid": "hybrid (fine-tuned + retrieved examples)"}
METRIC_PHRASES = {
    "accuracy": "Scored by accuracy: each output is mapped to the label set (exact match after normalising, else "
                "the first label it names); outputs naming no label count as wrong",
    "entity_f1": "Scored by entity-level F1 (same type and same span text); invalid JSON counts as no entities",
}
ORDER = ("base", "examples", "ft", "hybrid")


def _interval(report: dict, a: str, b: str, metric: str):
    stored = (report.get("deltas") or {}).get(f"{a}-{b}", {}).get(metric)
    if stored:
        return tuple(stored)
    flipped = (report.get("deltas") or {}).get(f"{b}-{a}", {}).get(metric)
    if flipped:
        return (-flipped[2], -flipped[1], -flipped[0])
    return None


def _value(metric: str, value: float, n: int) -> str:
    return f"{round(value * n)} of {n} correct" if metric == "accuracy" else f"F1 {value:.2f}"


def compare_sentence(report: dict, a: str, b: str, metric: str) -> str | None:
    """e.g. "Retrieved examples beat the base model: 41 of 50 correct vs 20 of 50 (+42 points, 95% CI +28 to +56)"."""
    arms = report.get("arms") or {}
    d = _interval(report, a, b, metric)
    if d is None or a not in arms or b not in arms:
        return None
    n = int(report.get("n") or 0)
    figures = (f"{_value(metric, arms[a][metric], n)} vs {_value(metric, arms[b][metric], n)}, "
               f"{_points(d[1])} points, {_ci(d)}")
    if d[0] > 0:
        return f"{NAMES[a]} beats {NAMES[b]} ({figures})"
    if d[2] < 0:
        return f"{NAMES[a]} is worse than {NAMES[b]} ({figures})"
    return f"no evidence of a difference between {NAMES[a]} and {NAMES[b]} ({figures}; the interval spans zero)"


def task_verdict(report: dict) -> dict:
    task = report.get("task") or report.get("kind")
    metric = "accuracy" if task == "classification" else "entity_f1"
    arms = [a for a in ORDER if a in (report.get("arms") or {})]
    n = int(report.get("n") or 0)
    if not arms or not n:
        return {"verdict": "No arm could be scored.", "verdict_metric": metric}
    values = {a: report["arms"][a][metric] for a in arms}
    if len(arms) == 1:
        text = (f"Only {NAMES[arms[0]]} was run: {_value(metric, values[arms[0]], n)} on {n} texts; add the other "
                f"arms to compare.")
    else:
        best = max(arms, key=lambda a: (values[a], -ORDER.index(a)))  # ties go to the simpler arm
        parts = [f"Best on {n} texts: {NAMES[best]} ({_value(metric, values[best], n)})."]
        ref = "base" if "base" in arms else arms[0]
        for a in arms:
            if a != ref and (s := compare_sentence(report, a, ref, metric)):
                parts.append(s[0].upper() + s[1:] + ".")
        if "ft" in arms and "examples" in arms and (s := compare_sentence(report, "ft", "examples", metric)):
            parts.append("Few-shot vs fine-tune: " + s + ".")
        text = " ".join(parts)
    text += f" {METRIC_PHRASES[metric]}"
    text += f"; with only {n} texts the intervals are wide, run more before deciding." if n < SMALL_SET else "."
    if report.get("partial"):
        text = f"Partial run (stopped after {n} texts): " + text
    return {"verdict": text, "verdict_metric": metric}
