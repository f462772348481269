"""A strict-but-fair answer metric for short-answer QA, and the arms' answer lengths.

``contains`` gives credit to any answer that mentions the gold answer, so a 31-word answer
listing several candidates scores like a 2-word exact one; exact match gives none to a correct
answer in a sentence. ``contains_concise`` sits between them: the answer must contain the gold
answer AND be at most ``CONCISE_FACTOR`` times the gold answer's length (in SQuAD-normalised
words), with a floor of ``CONCISE_FLOOR`` words so one short sentence always fits.

Why 5: for an answer that holds the gold answer once, SQuAD token F1 = 2g / (L + g) (recall 1,
precision g / L), so L <= 5g is exactly "F1 >= 1/3": at least a fifth of the answer is the answer.
Why 10: a plain one-sentence answer restates a few words of the question ("The CEO is Marisol
Quennell" is 5 words); the demo questions have a median of 12 words, so 10 answer words allow a
sentence and rule out lists of candidates.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.evaluation.metrics import contains, mean, tokens

CONCISE_FACTOR = 5
CONCISE_FLOOR = 10
LENGTH_RATIO = 2.0  # one arm's answers this many times longer than another's: "contains" is unfair between them


def concise_limit(gold: str) -> int:
    """The most words an answer may have to count as concise for this gold answer."""
    return max(CONCISE_FACTOR * len(tokens(gold)), CONCISE_FLOOR)


def contains_concise(pred: str, golds: str | Iterable[str]) -> float:
    """1.0 when the answer contains a gold answer and is at most 5x its length (>= 10 words allowed)."""
    n = len(tokens(pred))
    golds = [golds] if isinstance(golds, str) else [str(g) for g in golds or () if g is not None]
    return float(any(contains(pred, g) and n <= concise_limit(g) for g in golds))


def answer_lengths(report: dict) -> dict[str, float]:
    """Each arm's mean answer length: generated tokens when the report holds them, else words."""
    out = {}
    for arm, values in (report.get("arms") or {}).items():
        stored = (values or {}).get("answer_tokens_mean")
        if isinstance(stored, int | float):
            out[arm] = float(stored)
            continue
        words = mean(len(str(a).split()) for q in report.get("questions") or []
                     for name, a in (q.get("answers") or {}).items() if name == arm)
        if words is not None:
            out[arm] = words
    return out


def lengths_differ(lengths: dict[str, float], a: str, b: str) -> bool:
    """Whether one arm's answers are LENGTH_RATIO times as long as the other's (or more)."""
    if a not in lengths or b not in lengths:
        return False
    short, long = sorted((max(lengths[a], 1.0), max(lengths[b], 1.0)))
    return long / short >= LENGTH_RATIO


def any_lengths_differ(lengths: dict[str, float]) -> bool:
    return any(lengths_differ(lengths, a, b) for a in lengths for b in lengths if a < b)
