"""When the metrics disagree: which ones, on which comparison, and the usual cause.

The verdict reads one primary metric; this module reads every other answer metric's paired CI on
the same comparisons. A metric disagrees when its CI reads differently from the primary's: clear
(excluding 0) the other way, clear where the primary is not, or not clear where the primary is. The usual cause is answer length: "contains" is lenient (a
long answer that mentions the gold answer among others counts), exact match and F1 penalise the
extra words, so between a verbose and a terse arm they can point opposite ways.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.evaluation.concise import answer_lengths, lengths_differ

METRIC_WORDS = {"contains": "contains", "contains_concise": "contains-concise", "exact_match": "exact match",
                "f1": "token F1", "rougeL": "ROUGE-L", "accuracy": "accuracy",
                "human": "your grades"}
LENIENT = {"contains"}
STRICT = {"exact_match", "f1", "contains_concise"}


def _points(value: float) -> str:
    return f"{value * 100:+.0f}".replace("-", "−")


def _sign(interval) -> int:
    """+1 / -1 when the CI excludes 0 above / below, 0 when it spans 0."""
    return 1 if interval[0] > 0 else -1 if interval[2] < 0 else 0


def find(report: dict, pairs: Sequence[tuple[str, str]], primary: str, metrics: Sequence[str],
         pair_ci: Callable[[dict, str, str, str], tuple | None]) -> list[dict]:
    """[{a, b, primary, others: [{metric, interval}]}] for the pairs where another metric disagrees."""
    out = []
    for a, b in pairs:
        main = pair_ci(report, a, b, primary)
        if main is None:
            continue
        others = []
        for m in metrics:
            if m == primary:
                continue
            ci = pair_ci(report, a, b, m)
            if ci is not None and _sign(ci) != _sign(main):  # opposite, or unclear where the primary is clear
                others.append({"metric": m, "interval": tuple(ci)})
        if others:
            out.append({"a": a, "b": b, "primary": tuple(main), "others": others})
    return out


def describe(report: dict, found: list[dict], primary: str, names: dict) -> str:
    """One sentence per disagreeing comparison, naming the metrics, their CIs and the likely cause."""
    lengths = answer_lengths(report)
    sentences = []
    for item in found:
        a, b, main = item["a"], item["b"], item["primary"]
        for direction in (1, -1, 0):
            group = [o for o in item["others"] if _sign(o["interval"]) == direction]
            if not group:
                continue
            listed = ", ".join(f"{METRIC_WORDS.get(o['metric'], o['metric'])} {_points(o['interval'][1])} points "
                               f"(95% CI {_points(o['interval'][0])} to {_points(o['interval'][2])})" for o in group)
            one = len(group) == 1
            primary_word = METRIC_WORDS.get(primary, primary)
            if direction == 0:
                found = "better" if main[1] > 0 else "worse"
                sentences.append(f"Not every metric agrees: {listed} {'shows' if one else 'show'} no clear "
                                 f"difference between {names[a]} and {names[b]}, where {primary_word} finds "
                                 f"{names[a]} {found} ({_points(main[1])} points).")
                continue
            better = "better" if direction > 0 else "worse"
            how = ("shows no clear difference" if _sign(main) == 0
                   else f"finds the opposite ({_points(main[1])} points)")
            sentences.append(f"Other metrics disagree: {listed} {'finds' if one else 'find'} {names[a]} {better} "
                             f"than {names[b]}, where {primary_word} {how}.")
        cause = _cause(item, primary, lengths, names)
        if cause:
            sentences.append(cause)
    return " ".join(sentences)


def _cause(item: dict, primary: str, lengths: dict, names: dict) -> str:
    a, b = item["a"], item["b"]
    metrics = {primary} | {o["metric"] for o in item["others"]}
    if lengths_differ(lengths, a, b) and metrics & LENIENT and metrics & STRICT:
        return (f"The usual cause is answer length: {names[a]}'s answers average {lengths[a]:.1f} tokens, "
                f"{names[b]}'s {lengths[b]:.1f}; contains counts a long answer that mentions the gold answer "
                f"among other words, while exact match, F1 and contains-concise penalise the extra words.")
    if metrics & LENIENT and metrics & STRICT:
        return ("Lenient and strict metrics measure different things here (contains forgives extra words, "
                "exact match does not): read the per-question answers before deciding.")
    return ""
