"""The verdict an evaluation report opens with: one or two sentences a product person can act on.

The metric is the one that suits the eval set: accuracy for label sets; for answers, "contains
the gold answer" when the gold answers are short facts, token F1 when they are long (a long
gold answer is almost never contained word for word). Every comparison is a paired-bootstrap
95% CI (core.evaluation.metrics) over the same questions: a difference counts only when its
interval excludes zero.
"""

from __future__ import annotations

import statistics

from core.evaluation import metrics
from core.evaluation.arms import ARMS

LONG_GOLD_WORDS = 8  # median gold length above which "contains" is too strict and F1 is used
SMALL_SET = 20  # fewer questions than this: the intervals are rough, say so

ARM_NAMES = {"base": "the base model", "rag": "RAG", "ft": "the fine-tuned arm", "hybrid": "hybrid (FT + RAG)"}
SHORT_NAMES = {"base": "base", "rag": "RAG", "ft": "the fine-tuned arm", "hybrid": "hybrid"}


def _names(report: dict) -> tuple[dict, dict]:
    """The arms' names for this report: the hybrid arm of a RAFT adapter is "hybrid (RAFT)"."""
    title = ((report.get("arms") or {}).get("hybrid") or {}).get("title") or ""
    if "RAFT" not in title and (report.get("meta") or {}).get("adapter_mode") != "raft":
        return ARM_NAMES, SHORT_NAMES
    raft = {"hybrid": "hybrid (RAFT)", "ft": "the RAFT adapter without context"}
    return {**ARM_NAMES, **raft}, {**SHORT_NAMES, **raft}
METRIC_PHRASES = {
    "contains": "Scored by whether the answer contains the gold answer",
    "f1": "Scored by token F1 (word overlap with the gold answers, which are long here)",
    "accuracy": "Scored by accuracy (the predicted label is the gold label)",
}


def verdict_metric(report: dict) -> str:
    """accuracy for labels; contains for short gold answers; F1 for long ones."""
    if report.get("kind") == "label":
        return "accuracy"
    golds = [q["gold"][0] for q in report.get("questions") or [] if q.get("gold")]
    if golds and statistics.median(len(str(g).split()) for g in golds) > LONG_GOLD_WORDS:
        return "f1"
    return "contains"


def _pair(report: dict, a: str, b: str, metric: str) -> tuple[float, float, float] | None:
    """(low, mean, high) of a − b: the report's own delta when stored, else bootstrapped from its rows."""
    stored = (report.get("deltas") or {}).get(f"{a}-{b}", {}).get(metric)
    if stored:
        return tuple(stored)
    flipped = (report.get("deltas") or {}).get(f"{b}-{a}", {}).get(metric)
    if flipped:
        low, mean, high = flipped
        return (-high, -mean, -low)
    rows = [q.get("scores") or {} for q in report.get("questions") or []]
    pairs = [(r[a].get(metric), r[b].get(metric)) for r in rows if a in r and b in r]
    if not pairs:
        return None
    try:
        return metrics.paired_bootstrap_ci([p[0] for p in pairs], [p[1] for p in pairs])
    except ValueError:
        return None


def _points(value: float) -> str:
    return f"{value * 100:+.0f}".replace("-", "−")


def _ci(interval: tuple[float, float, float]) -> str:
    return f"95% CI {_points(interval[0])} to {_points(interval[2])}"


def _more(metric: str, diff: float, n: int, kind: str) -> str:
    size = abs(diff) * 100
    word = "more" if diff >= 0 else "fewer"
    if metric == "f1":
        return f"scores {size:.0f} F1 points {'higher' if diff >= 0 else 'lower'}"
    things = "texts" if kind == "label" else "questions"
    verb = "labels" if kind == "label" else "answers"
    return f"{verb} {size:.0f} points {word} of the {n} {things} correctly"


def _relation(interval: tuple[float, float, float] | None, other: str) -> str:
    if interval is None:
        return f"cannot be compared with {other}"
    if interval[0] > 0:
        return f"is better than {other}"
    if interval[2] < 0:
        return f"is worse than {other}"
    return f"is no better than {other}" if interval[1] >= 0 else f"is no worse than {other}"


def build_verdict(report: dict) -> dict:
    """{"verdict": text, "verdict_metric": key} for a report (stored reports keep theirs)."""
    metric = verdict_metric(report)
    arms = [a for a in ARMS if a in (report.get("arms") or {})]
    n = int(report.get("n") or 0)
    kind = report.get("kind") or "qa"
    prefix = ""
    if report.get("partial") or report.get("complete") is False:
        size = (report.get("eval_set") or {}).get("size")
        prefix = f"Partial run (stopped after {n}{f' of {size}' if size else ''} questions): "
    means = {a: report["arms"][a].get(metric) for a in arms}
    names, short = _names(report)  # this report's names (a RAFT hybrid is named so)
    scored = [a for a in arms if isinstance(means[a], int | float)]
    phrase = METRIC_PHRASES[metric]
    if not scored:
        return {"verdict": prefix + "No arm could be scored.", "verdict_metric": metric}
    if len(scored) == 1:
        arm = scored[0]
        text = (f"Only {names[arm]} was run: {means[arm] * 100:.0f}% on {n} questions; add the base arm to "
                f"see what it changes. {phrase}.")
        return {"verdict": prefix + text[0].upper() + text[1:], "verdict_metric": metric}
    best = max(scored, key=lambda a: (means[a], -ARMS.index(a)))  # ties go to the simpler arm
    ref = "base" if "base" in scored else min(scored, key=lambda a: (means[a], ARMS.index(a)))
    others = [a for a in scored if a not in (best, ref)]
    if best == ref:
        lead = f"no arm beats {names[ref]} on {n} questions"
        tail = [f"{short[a]} {_relation(_pair(report, a, ref, metric), short[ref])}" for a in others]
        sentence = lead + ("; " + "; ".join(tail) if tail else "") + "."
    else:
        d = _pair(report, best, ref, metric)
        if d is not None and d[0] > 0:
            lead = f"{names[best]} {_more(metric, d[1], n, kind)} than {names[ref]} ({_ci(d)})"
        elif d is not None:
            lead = (f"{names[best]} scores highest but is not clearly better than {names[ref]} "
                    f"on {n} questions ({_points(d[1])} points, {_ci(d)})")
        else:
            lead = f"{names[best]} scores highest on {n} questions"
        tail = []
        for a in others:
            vs_ref = _pair(report, a, ref, metric)
            if vs_ref is None or vs_ref[0] <= 0:
                tail.append(f"{short[a]} {_relation(vs_ref, short[ref])}")
            else:
                vs_best = _pair(report, a, best, metric)
                if vs_best is not None and vs_best[2] < 0:
                    tail.append(f"{short[a]} beats {short[ref]} but is worse than {short[best]}")
                else:
                    tail.append(f"{short[a]} is about as good as {short[best]}")
        sentence = lead + ("; " + "; ".join(tail) if tail else "") + "."
    sentence = sentence[0].upper() + sentence[1:] + f" {phrase}"
    sentence += f"; with only {n} questions the intervals are wide, run more before deciding." if n < SMALL_SET else "."
    text = prefix + sentence
    return {"verdict": text, "verdict_metric": metric}


def verdict_of(report: dict) -> dict:
    """The report's stored verdict, or one built now (reports saved before verdicts existed)."""
    if report.get("verdict") and report.get("verdict_metric"):
        return {"verdict": report["verdict"], "verdict_metric": report["verdict_metric"]}
    return build_verdict(report)
