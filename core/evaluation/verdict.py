"""The verdict an evaluation report opens with: a few sentences a product person can act on.

The metric is the one that suits the eval set: accuracy for label sets; for answers, "contains
the gold answer" when the gold answers are short facts, token F1 when they are long (a long
gold answer is almost never contained word for word). When the arms' answers differ a lot in
length (core.evaluation.concise), plain "contains" is unfair to the terse arm, so short answers
are scored by contains-concise instead. Every comparison is a paired-bootstrap 95% CI
(core.evaluation.metrics) over the same questions: a difference counts only when its interval
excludes zero. The other metrics are read too (core.evaluation.disagreement): any whose CI
disagrees is named, with the usual cause. Counts are said as counts ("12 of 28 vs 7 of 28"),
differences as points; a comparison without a winner says what sample would settle it
(core.evaluation.power).
"""

from __future__ import annotations

import statistics

from core.evaluation import disagreement, metrics, power, seeds
from core.evaluation.arms import ARMS
from core.evaluation.concise import (
    CONCISE_FACTOR,
    CONCISE_FLOOR,
    answer_lengths,
    any_lengths_differ,
)

LONG_GOLD_WORDS = 8  # median gold length above which "contains" is too strict and F1 is used
SMALL_SET = 20  # fewer questions than this: the intervals are rough, say so
BINARY = {"contains", "contains_concise", "exact_match", "accuracy"}  # 0/1 per question: said as counts
SCORE_WORDS = {"f1": "F1", "human": "grade", "rougeL": "ROUGE-L"}  # metrics said as means, not counts
OTHER_METRICS = ("contains", "contains_concise", "exact_match", "f1", "rougeL")

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
    "human": ("Scored by your own blind-review grades (correct 1, partly ½, wrong 0), which take the place of "
              "the automatic metrics"),
    "contains_concise": (f"Scored by contains-concise (the answer contains the gold answer and is at most "
                         f"{CONCISE_FACTOR}× its length, {CONCISE_FLOOR} words always allowed)"),
}


def _has(report: dict, metric: str) -> bool:
    return any(metric in (v or {}) for v in (report.get("arms") or {}).values())


def verdict_metric(report: dict) -> str:
    """accuracy for labels; F1 for long gold answers; for short ones contains, or contains-concise
    when the arms' answers differ a lot in length (F1 for reports saved before that metric)."""
    arms = (report.get("arms") or {}).values()
    if arms and all(isinstance((v or {}).get("human"), int | float) for v in arms):
        return "human"  # a finished blind review (core/evaluation/review.py): the user's grades decide
    if report.get("kind") == "label":
        return "accuracy"
    golds = [q["gold"][0] for q in report.get("questions") or [] if q.get("gold")]
    if golds and statistics.median(len(str(g).split()) for g in golds) > LONG_GOLD_WORDS:
        return "f1"
    if any_lengths_differ(answer_lengths(report)):
        return "contains_concise" if _has(report, "contains_concise") else "f1"
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


def _count(mean: float, n: int) -> str:
    return f"{round(mean * n)} of {n}"


def _figures(metric: str, means: tuple[float, float], n: int, interval: tuple[float, float, float]) -> str:
    """e.g. "12 of 28 vs 7 of 28, +18 points, 95% CI −4 to +39" (counts for 0/1 metrics, means for F1)."""
    if metric in BINARY:
        return f"{_count(means[0], n)} vs {_count(means[1], n)}, {_points(interval[1])} points, {_ci(interval)}"
    return (f"mean {SCORE_WORDS.get(metric, metric)} {means[0]:.2f} vs {means[1]:.2f}, {_points(interval[1])} points, "
            f"{_ci(interval)}")


def _compare(metric: str, a_name: str, b_name: str, means: tuple[float, float], n: int, kind: str,
             interval: tuple[float, float, float]) -> str:
    """e.g. "RAG answers 23 of 40 questions correctly, the base model 0 of 40 (+58 points, 95% CI …)"."""
    if metric in BINARY:
        things = "texts" if kind == "label" else "questions"
        verb = "labels" if kind == "label" else "answers"
        return (f"{a_name} {verb} {_count(means[0], n)} {things} correctly, {b_name} {_count(means[1], n)} "
                f"({_points(interval[1])} points, {_ci(interval)})")
    if metric == "human":
        return (f"{a_name}'s answers get a mean grade of {means[0]:.2f} from you, {b_name}'s {means[1]:.2f} "
                f"({_points(interval[1])} points, {_ci(interval)})")
    word, unit = "higher" if interval[1] >= 0 else "lower", SCORE_WORDS.get(metric, metric)
    return (f"{a_name} scores {abs(interval[1]) * 100:.0f} {unit} points {word} than {b_name} "
            f"(mean {unit} {means[0]:.2f} vs {means[1]:.2f}, {_ci(interval)})")


def _relation(interval: tuple[float, float, float] | None, other: str) -> str:
    if interval is None:
        return f"cannot be compared with {other}"
    if interval[0] > 0:
        return f"is better than {other}"
    if interval[2] < 0:
        return f"is worse than {other}"
    return f"is no better than {other}" if interval[1] >= 0 else f"is no worse than {other}"


def _single(report: dict, arm: str, mean: float, n: int, metric: str, names: dict) -> str:
    """A one-arm report: its score, and the arm to add (the base model's own report suggests another arm)."""
    score = f"{_count(mean, n)} correct" if metric in BINARY else f"mean {SCORE_WORDS.get(metric, metric)} {mean:.2f}"
    add = ("add RAG or a fine-tuned arm to see what they change" if arm == "base"
           else "add the base arm to see what it changes")
    return f"Only {names[arm]} was run: {mean * 100:.0f}% on {n} questions ({score}); {add}."


def _settle(report: dict, a: str, b: str, metric: str, interval, n: int) -> str:
    """For a comparison without a clear winner: the sample that would settle it, or equivalence."""
    sd = (power.observed(report, metric, [(a, b)]).get(f"{a}-{b}") or {}).get("sd")
    text = power.settle_sentence(interval, sd, n)
    return text[0].upper() + text[1:] + "." if text else ""


def _phrase(report: dict, metric: str, names: dict) -> str:
    phrase = METRIC_PHRASES[metric]
    if metric in ("contains_concise", "f1") and verdict_metric(report) == metric and report.get("kind") != "label":
        lengths = answer_lengths(report)
        if any_lengths_differ(lengths):
            listed = ", ".join(f"{names[a]} {lengths[a]:.1f}" for a in ARMS if a in lengths)
            phrase = (phrase.replace(", which are long here", "") + ", because the arms' answers differ a lot in "
                      f"length (mean tokens: {listed}) and plain contains would credit long answers that only "
                      "mention the gold answer")
    return phrase


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
    phrase = _phrase(report, metric, names)
    if not scored:
        return {"verdict": prefix + "No arm could be scored.", "verdict_metric": metric}
    if len(scored) == 1:
        text = _single(report, scored[0], means[scored[0]], n, metric, names) + f" {phrase}."
        return {"verdict": prefix + text[0].upper() + text[1:], "verdict_metric": metric}
    best = max(scored, key=lambda a: (means[a], -ARMS.index(a)))  # ties go to the simpler arm
    ref = "base" if "base" in scored else min(scored, key=lambda a: (means[a], ARMS.index(a)))
    others = [a for a in scored if a not in (best, ref)]
    settle = ""
    if best == ref:
        lead = f"no arm beats {names[ref]} on {n} questions"
        tail = [f"{short[a]} {_relation(_pair(report, a, ref, metric), short[ref])}" for a in others]
        sentence = lead + ("; " + "; ".join(tail) if tail else "") + "."
        runner = max(others or [a for a in scored if a != ref], key=lambda a: (means[a], -ARMS.index(a)))
        if (d := _pair(report, runner, ref, metric)) is not None:
            settle = _settle(report, runner, ref, metric, d, n)
    else:
        d = _pair(report, best, ref, metric)
        if d is not None and d[0] > 0:
            lead = _compare(metric, names[best], names[ref], (means[best], means[ref]), n, kind, d)
        elif d is not None:
            lead = (f"{names[best]} scores highest but is not clearly better than {names[ref]} on {n} questions "
                    f"({_figures(metric, (means[best], means[ref]), n, d)})")
            settle = _settle(report, best, ref, metric, d, n)
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
    parts = [sentence[0].upper() + sentence[1:]]
    if settle:
        parts.append(settle)
    if kind != "label":
        pairs = list(dict.fromkeys([(best, ref)] + [(a, ref) for a in others] + [(a, best) for a in others]))
        pairs = [p for p in pairs if p[0] != p[1]]
        found = disagreement.find(report, pairs, metric, OTHER_METRICS, _pair)
        if found:
            parts.append(disagreement.describe(report, found, metric, names))
    if agreed := ((report.get("review") or {}).get("agreement") or {}):
        best_m = max(agreed, key=lambda m: agreed[m]["agreement"])
        listed = ", ".join(f"{disagreement.METRIC_WORDS.get(m, m)} {v['agreement']:.0%}" for m, v in agreed.items())
        parts.append(f"Your grades agree best with {disagreement.METRIC_WORDS.get(best_m, best_m)} "
                     f"(agreement per answer: {listed}).")
    if seed_text := seeds.verdict_sentence(report, metric, names):
        parts.append(seed_text)
    tail_text = f" {phrase}"
    tail_text += (f"; with only {n} questions the intervals are wide, run more before deciding."
                  if n < SMALL_SET else ".")
    text = prefix + " ".join(parts) + tail_text
    return {"verdict": text, "verdict_metric": metric}


def verdict_of(report: dict) -> dict:
    """The report's stored verdict, or one built now (reports saved before verdicts existed)."""
    if report.get("verdict") and report.get("verdict_metric"):
        return {"verdict": report["verdict"], "verdict_metric": report["verdict_metric"]}
    return build_verdict(report)
