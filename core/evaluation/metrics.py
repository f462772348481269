"""Answer, label and latency metrics, plus bootstrap confidence intervals.

Pure functions: no I/O, no models, no Streamlit. Every score is a float in 0..1 (latency
helpers return seconds). Where a mean has nothing to average, helpers return ``None``
rather than a made-up number, so reports stay valid JSON (no NaN).

Answer metrics follow the SQuAD conventions: text is normalised (lowercased, punctuation
and the articles a/an/the removed, whitespace collapsed) before it is compared, and a
prediction is scored against every acceptable gold answer, keeping the best score.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "normalize_answer", "tokens", "exact_match", "token_f1", "contains", "rouge_l", "score_answer",
    "map_label", "label_match", "accuracy", "macro_f1",
    "groundedness_proxy", "STOPWORDS",
    "percentile", "p50", "p95", "mean",
    "bootstrap_ci", "paired_bootstrap_ci",
]

# --------------------------------------------------------------------------------------
# Normalisation (SQuAD v1.1 evaluation script, made Unicode-aware)

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def _is_punct(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: Any) -> str:
    """SQuAD normalisation: lowercase, drop punctuation, drop a/an/the, collapse whitespace.

    Punctuation is removed, not replaced by a space (as in the SQuAD script), so
    "SK-7000" and "SK7000" normalise alike. ``None`` normalises to "".
    """
    if text is None:
        return ""
    text = str(text).lower()
    text = "".join(ch for ch in text if not _is_punct(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: Any) -> list[str]:
    """The normalised tokens of ``text``."""
    return normalize_answer(text).split()


def _golds(golds: str | Iterable[str] | None) -> list[str]:
    if golds is None:
        return []
    if isinstance(golds, str):
        return [golds]
    return [str(g) for g in golds if g is not None]


# --------------------------------------------------------------------------------------
# Free-text answers

def exact_match(pred: str, golds: str | Iterable[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0.

    Caveat: strict. A correct answer wrapped in a sentence ("It is 27 days.") scores 0;
    read it together with ``contains`` and ``token_f1`` for generative models.
    """
    p = normalize_answer(pred)
    return float(any(p == normalize_answer(g) for g in _golds(golds)))


def _f1(pred_toks: list[str], gold_toks: list[str]) -> float:
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    common = Counter(pred_toks) & Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_toks)
    recall = same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def token_f1(pred: str, golds: str | Iterable[str]) -> float:
    """SQuAD token-overlap F1 (bag of normalised tokens), best over the gold answers.

    Caveat: verbose answers are penalised through precision even when they are right;
    word order is ignored. Empty prediction and empty gold score 1.0 (SQuAD convention).
    """
    pt = tokens(pred)
    return max((_f1(pt, tokens(g)) for g in _golds(golds)), default=0.0)


def contains(pred: str, golds: str | Iterable[str]) -> float:
    """1.0 when a normalised gold answer appears in the normalised prediction, else 0.0.

    Matching respects token boundaries ("27 days" is not found in "127 days"). Golds that
    normalise to nothing are ignored. Caveat: lenient: a long answer listing several
    candidates also scores 1.0, so read it together with ``token_f1``.
    """
    p = f" {normalize_answer(pred)} "
    for g in _golds(golds):
        ng = normalize_answer(g)
        if ng and f" {ng} " in p:
            return 1.0
    return 0.0


class _WordTokenizer:
    """rouge_score tokenizer: lowercase word characters, Unicode-aware.

    rouge_score's default tokenizer keeps only [a-z0-9], so any non-ASCII word would
    vanish; this one matches it on ASCII text and keeps accented and non-Latin words.
    """

    _word = re.compile(r"[^\W_]+", re.UNICODE)

    def tokenize(self, text: str) -> list[str]:
        return self._word.findall((text or "").lower())


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_WordTokenizer())


def rouge_l(pred: str, golds: str | Iterable[str]) -> float:
    """ROUGE-L F-measure (longest common subsequence of words), best over the gold answers.

    Uses ``rouge_score`` (no stemming, lowercase word tokens). Caveat: rewards word
    overlap in order, not correctness; short gold answers give low scores to long,
    correct predictions.
    """
    scorer = _rouge_scorer()
    pred = "" if pred is None else str(pred)
    return max((scorer.score(g, pred)["rougeL"].fmeasure for g in _golds(golds)), default=0.0)


def score_answer(pred: str, golds: str | Iterable[str]) -> dict[str, float]:
    """All free-text answer metrics for one prediction: exact_match, f1, contains, rougeL."""
    return {
        "exact_match": exact_match(pred, golds),
        "f1": token_f1(pred, golds),
        "contains": contains(pred, golds),
        "rougeL": rouge_l(pred, golds),
    }


# --------------------------------------------------------------------------------------
# Label sets (classification by a generative model)
# --------------------------------------------------------------------------------------

def map_label(pred: str | None, labels: Iterable[str]) -> str | None:
    """Map a free-text generation to one of ``labels`` (returned as given), or None.

    1. the normalised prediction equals a normalised label;
    2. else the label whose normalised form appears earliest in the normalised prediction
       (whole tokens; on a tie, the longer label);
    3. else None (counted as wrong by ``accuracy`` and ``macro_f1``).
    """
    if pred is None:
        return None
    p = normalize_answer(pred)
    norm = [(lab, normalize_answer(lab)) for lab in labels]
    norm = [(lab, n) for lab, n in norm if n]
    for lab, n in norm:
        if p == n:
            return lab
    padded = f" {p} "
    best: tuple[int, int, str] | None = None
    for lab, n in norm:
        pos = padded.find(f" {n} ")
        if pos >= 0:
            key = (pos, -len(n), lab)
            if best is None or key < best:
                best = key
    return best[2] if best else None


def label_match(pred: str | None, gold: str, labels: Iterable[str]) -> float:
    """1.0 when ``pred`` maps (see ``map_label``) to the gold label, else 0.0."""
    mapped = map_label(pred, labels)
    return float(mapped is not None and normalize_answer(mapped) == normalize_answer(gold))


def accuracy(preds: Sequence[str | None], golds: Sequence[str],
             labels: Iterable[str] | None = None) -> float:
    """Share of predictions equal to their gold label (normalised comparison).

    With ``labels`` given, free-text predictions are mapped first (``map_label``).
    None predictions count as wrong. Returns 0.0 for no items.
    """
    _same_length(preds, golds)
    if labels is not None:
        labels = list(labels)
        preds = [map_label(p, labels) for p in preds]
    if not golds:
        return 0.0
    right = sum(p is not None and normalize_answer(p) == normalize_answer(g) for p, g in zip(preds, golds, strict=True))
    return right / len(golds)


def macro_f1(preds: Sequence[str | None], golds: Sequence[str], labels: Iterable[str]) -> float:
    """Unweighted mean of per-label F1, after mapping predictions with ``map_label``.

    Averaged over the labels that occur in the golds or in the mapped predictions
    (a label nobody used and nobody needed is not counted as 0). Predictions that map to
    no label are wrong: a false negative for the gold label, no false positive anywhere.
    Caveat: with few items per label the value moves a lot; look at its confidence interval.
    """
    _same_length(preds, golds)
    labels = list(labels)
    canon = {normalize_answer(lab): lab for lab in labels}
    mapped = [map_label(p, labels) for p in preds]
    gold_c = [canon.get(normalize_answer(g), g) for g in golds]
    used = [lab for lab in dict.fromkeys([*gold_c, *[m for m in mapped if m is not None]])]
    if not used:
        return 0.0
    scores = []
    for lab in used:
        tp = sum(m == lab and g == lab for m, g in zip(mapped, gold_c, strict=True))
        fp = sum(m == lab and g != lab for m, g in zip(mapped, gold_c, strict=True))
        fn = sum(m != lab and g == lab for m, g in zip(mapped, gold_c, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(sum(scores) / len(scores))


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"predictions and golds differ in length ({len(a)} vs {len(b)})")


# --------------------------------------------------------------------------------------
# Groundedness (a lexical proxy)
# --------------------------------------------------------------------------------------

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that thats the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves also may might must shall yes dont doesnt didnt isnt
arent wasnt werent cant cannot wont im ive youre its theyre per via
""".split())


def groundedness_proxy(answer: str, context: str | Iterable[Any]) -> float:
    """Share of the answer's content tokens that occur in the retrieved context (0..1).

    Content tokens are normalised tokens minus a small built-in stopword list. ``context``
    is a string or an iterable of strings / chunks (anything with a ``text`` attribute or
    key). An answer with no content tokens scores 0.0.

    This is a lexical PROXY, not a judgement of faithfulness: copying words from the
    context scores high even when the claim is wrong, and a correct paraphrase scores low.
    """
    content = [t for t in tokens(answer) if t not in STOPWORDS]
    if not content:
        return 0.0
    if isinstance(context, str):
        ctx_text = context
    else:
        parts = []
        for c in () if context is None else context:
            if isinstance(c, str):
                parts.append(c)
            elif isinstance(c, dict):
                parts.append(str(c.get("text", "")))
            else:
                parts.append(str(getattr(c, "text", "")))
        ctx_text = "\n".join(parts)
    ctx = set(tokens(ctx_text))
    return sum(t in ctx for t in content) / len(content)


# --------------------------------------------------------------------------------------
# Latency and means
# --------------------------------------------------------------------------------------

def _finite(values: Iterable[Any]) -> list[float]:
    out = []
    for v in () if values is None else values:
        if v is None:
            continue
        f = float(v)
        if math.isfinite(f):
            out.append(f)
    return out


def mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite values (None and NaN skipped); None when nothing is left."""
    vals = _finite(values)
    return float(sum(vals) / len(vals)) if vals else None


def percentile(values: Iterable[Any], q: float) -> float | None:
    """The q-th percentile (q in 0..100, linear interpolation) of the finite values; None if empty."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    vals = _finite(values)
    return float(np.percentile(vals, q)) if vals else None


def p50(values: Iterable[Any]) -> float | None:
    """Median (e.g. of latencies in seconds)."""
    return percentile(values, 50)


def p95(values: Iterable[Any]) -> float | None:
    """95th percentile (e.g. of latencies). Caveat: with fewer than ~20 values it is close to the max."""
    return percentile(values, 95)


# --------------------------------------------------------------------------------------
# Bootstrap confidence intervals
# --------------------------------------------------------------------------------------

_BLOCK = 2_000_000  # resample indices drawn per block (bounds memory for large sets)


def _check_ci_args(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1 (e.g. 0.95)")


def _bootstrap_means(x: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(x)
    rows = max(1, _BLOCK // n)
    out = np.empty(n_resamples, dtype=float)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = x[idx].mean(axis=1)
    return out


def _interval(means: np.ndarray, observed: float, confidence: float) -> tuple[float, float, float]:
    """Percentile interval of the resampled means, widened if needed to contain the observed mean."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(min(low, observed)), float(observed), float(max(high, observed))


def bootstrap_ci(scores: Iterable[Any], n_resamples: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Percentile-bootstrap CI of one arm's mean score: (low, mean, high).

    None/NaN scores are dropped. Deterministic for a given seed. Caveat: with very few
    questions (< ~20) the interval is too narrow; treat it as a rough guide.
    """
    _check_ci_args(n_resamples, confidence)
    x = np.asarray(_finite(scores), dtype=float)
    if x.size == 0:
        raise ValueError("no scores to bootstrap")
    return _interval(_bootstrap_means(x, n_resamples, seed), float(x.mean()), confidence)


def paired_bootstrap_ci(a_scores: Sequence[Any], b_scores: Sequence[Any], n_resamples: int = 2000,
                        confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Paired percentile-bootstrap CI of mean(a - b) over the SAME questions: (low, mean_diff, high).

    Questions (index positions) are resampled with replacement, keeping each a/b pair
    together, so the interval reflects the per-question difference, not two independent
    noisy means. Pairs where either score is None/NaN are dropped. If the interval
    excludes 0, arm a beats (low > 0) or trails (high < 0) arm b at that confidence.
    Deterministic for a given seed.
    """
    _check_ci_args(n_resamples, confidence)
    if len(a_scores) != len(b_scores):
        raise ValueError(f"paired scores differ in length ({len(a_scores)} vs {len(b_scores)})")
    diffs = []
    for a, b in zip(a_scores, b_scores, strict=True):
        if a is None or b is None:
            continue
        fa, fb = float(a), float(b)
        if math.isfinite(fa) and math.isfinite(fb):
            diffs.append(fa - fb)
    if not diffs:
        raise ValueError("no complete pairs to bootstrap")
    d = np.asarray(diffs, dtype=float)
    return _interval(_bootstrap_means(d, n_resamples, seed), float(d.mean()), confidence)
