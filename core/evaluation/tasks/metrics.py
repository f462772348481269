"""Metrics for classification and extraction, and paired-bootstrap CIs of corpus-level scores.

Classification. A generation is mapped to the label set by `map_output` (MAPPING_METHOD: the
normalised output equals a label, else the label named earliest in it as whole words; else
"unmapped", counted wrong and listed). Accuracy, macro-F1 (mean F1 over the labels that occur in
the golds or the mapped outputs), per-label precision / recall / F1, and the confusion matrix
(rows: gold labels; columns: predicted labels, then "(unmapped)").

Extraction. The output must be a JSON list of {"text", "type"} objects (`parse_entities`; the
first [...] in the output is read, so a short preamble is tolerated; anything else is invalid
JSON: all its gold entities are missed). Entity-level micro precision / recall / F1 with exact
matching (same type, same span text after lowercasing and trimming spaces and punctuation at the
ends), a lenient variant (same type, the spans share a word), per-type F1, invalid-JSON rate.

CIs. Corpus-level scores (macro-F1, entity F1) are not means of per-row scores, so the bootstrap
resamples rows and recomputes the score from the resampled rows' counts (`count_ci`,
`paired_count_ci`: 2000 resamples, 95%, the same percentile interval as core.evaluation.metrics).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Sequence

import numpy as np

from core.evaluation import metrics
from core.training.tasks import Entity

MAPPING_METHOD = ("mapped: the output (lowercased, punctuation and articles removed) equals a label, else the "
                  "label named earliest in it as whole words; an output naming no label is unmapped and counted "
                  "wrong")
UNMAPPED = "(unmapped)"
N_RESAMPLES = 2000


# ------------------------------------------------------------------------------ classification

def map_output(text: str | None, labels: Sequence[str]) -> str | None:
    """The label an output names (see MAPPING_METHOD), or None."""
    return metrics.map_label(text, labels)


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def classification_metrics(preds: Sequence[str | None], golds: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-label scores, confusion matrix for mapped predictions (None = unmapped)."""
    labels = list(labels)
    n = len(golds)
    used = [lab for lab in labels if lab in set(golds) | {p for p in preds if p is not None}]
    per_label = {}
    for lab in labels:
        tp = sum(p == lab and g == lab for p, g in zip(preds, golds, strict=True))
        fp = sum(p == lab and g != lab for p, g in zip(preds, golds, strict=True))
        fn = sum(p != lab and g == lab for p, g in zip(preds, golds, strict=True))
        per_label[lab] = {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
                          "f1": _f1(tp, fp, fn), "support": tp + fn}
    columns = [*labels, UNMAPPED]
    matrix = [[sum(g == gl and (p if p is not None else UNMAPPED) == pl for p, g in zip(preds, golds, strict=True))
               for pl in columns] for gl in labels]
    return {
        "accuracy": sum(p == g for p, g in zip(preds, golds, strict=True)) / n if n else 0.0,
        "macro_f1": float(np.mean([per_label[lab]["f1"] for lab in used])) if used else 0.0,
        "per_label": per_label,
        "confusion": {"labels": labels, "columns": columns, "matrix": matrix},
        "unmapped": sum(p is None for p in preds),
    }


def label_counts(preds: Sequence[str | None], golds: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Per row: [1, correct, then tp, fp, fn of each label]: what accuracy and macro-F1 are summed from."""
    out = np.zeros((len(golds), 2 + 3 * len(labels)))
    for i, (p, g) in enumerate(zip(preds, golds, strict=True)):
        out[i, 0], out[i, 1] = 1.0, float(p == g)
        for j, lab in enumerate(labels):
            out[i, 2 + 3 * j : 5 + 3 * j] = (p == lab and g == lab, p == lab and g != lab, p != lab and g == lab)
    return out


def accuracy_of(sums: np.ndarray) -> np.ndarray:
    return sums[:, 1] / np.maximum(sums[:, 0], 1)


def macro_f1_of(sums: np.ndarray) -> np.ndarray:
    """Macro-F1 of summed `label_counts` (one row per resample): labels nobody used and nobody needed
    are left out, as in `classification_metrics`."""
    tp, fp, fn = sums[:, 2::3], sums[:, 3::3], sums[:, 4::3]
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    used = denom > 0
    return (f1 * used).sum(axis=1) / np.maximum(used.sum(axis=1), 1)


CLASSIFICATION_STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"accuracy": accuracy_of,
                                                                        "macro_f1": macro_f1_of}


# ------------------------------------------------------------------------------ extraction

_JSON_LIST = re.compile(r"\[.*\]", re.S)
_EDGE = string.punctuation + " \t\n“”‘’"


def parse_entities(text: str | None) -> list[Entity] | None:
    """The entities of an output, or None when it holds no JSON list of {"text", "type"} objects."""
    if text is None:
        return None
    candidates = [text.strip()]
    if match := _JSON_LIST.search(text):
        candidates.append(match.group(0))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            value = value.get("entities", [value])
        if not isinstance(value, list):
            continue
        out = []
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not isinstance(
                    item.get("type", item.get("label")), str):
                return None
            out.append(Entity(item["text"].strip(), str(item.get("type", item.get("label"))).strip()))
        return [e for e in out if e.text]
    return None


def _span(text: str) -> str:
    return " ".join(text.lower().split()).strip(_EDGE)


def _words(text: str) -> set[str]:
    return {w.strip(_EDGE) for w in text.lower().split()} - {""}


def _match(pred: list[Entity], gold: Sequence[Entity], same: Callable[[Entity, Entity], bool]) -> int:
    """Matched pairs, one-to-one, greedy in gold order."""
    free = list(pred)
    hits = 0
    for g in gold:
        for i, p in enumerate(free):
            if p.type.lower() == g.type.lower() and same(p, g):
                hits += 1
                del free[i]
                break
    return hits


def entity_counts(pred: list[Entity] | None, gold: Sequence[Entity]) -> dict:
    """Per row: exact and lenient true positives, predicted and gold entity counts, invalid output."""
    invalid = pred is None
    pred = pred or []
    exact = _match(pred, gold, lambda p, g: _span(p.text) == _span(g.text))
    lenient = _match(pred, gold, lambda p, g: bool(_words(p.text) & _words(g.text)))
    return {"tp": exact, "lenient_tp": lenient, "pred": len(pred), "gold": len(gold), "invalid": int(invalid)}


COUNT_KEYS = ("tp", "lenient_tp", "pred", "gold", "invalid")


def prf(tp: float, n_pred: float, n_gold: float) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def extraction_metrics(preds: Sequence[list[Entity] | None], golds: Sequence[Sequence[Entity]]) -> dict:
    rows = [entity_counts(p, g) for p, g in zip(preds, golds, strict=True)]
    total = {k: sum(r[k] for r in rows) for k in COUNT_KEYS}
    p, r, f = prf(total["tp"], total["pred"], total["gold"])
    lp, lr, lf = prf(total["lenient_tp"], total["pred"], total["gold"])
    types = sorted({e.type for g in golds for e in g})
    per_type = {}
    for t in types:
        tp = sum(_match([e for e in (pr or []) if e.type.lower() == t.lower()], [e for e in g if e.type == t],
                        lambda a, b: _span(a.text) == _span(b.text)) for pr, g in zip(preds, golds, strict=True))
        n_pred = sum(1 for pr in preds for e in pr or [] if e.type.lower() == t.lower())
        n_gold = sum(1 for g in golds for e in g if e.type == t)
        tp_p, tp_r, tp_f = prf(tp, n_pred, n_gold)
        per_type[t] = {"precision": tp_p, "recall": tp_r, "f1": tp_f, "support": n_gold}
    return {"entity_precision": p, "entity_recall": r, "entity_f1": f, "lenient_precision": lp,
            "lenient_recall": lr, "lenient_f1": lf, "invalid_json_rate": total["invalid"] / len(rows) if rows else 0.0,
            "invalid_json": total["invalid"], "per_type": per_type}


def extraction_count_matrix(preds, golds) -> np.ndarray:
    return np.asarray([[entity_counts(p, g)[k] for k in COUNT_KEYS] for p, g in zip(preds, golds, strict=True)],
                      dtype=float)


def _prf_vec(tp, n_pred, n_gold):
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    recall = np.divide(tp, n_gold, out=np.zeros_like(tp), where=n_gold > 0)
    s = precision + recall
    return precision, recall, np.divide(2 * precision * recall, s, out=np.zeros_like(tp), where=s > 0)


EXTRACTION_STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "entity_f1": lambda s: _prf_vec(s[:, 0], s[:, 2], s[:, 3])[2],
    "entity_precision": lambda s: _prf_vec(s[:, 0], s[:, 2], s[:, 3])[0],
    "entity_recall": lambda s: _prf_vec(s[:, 0], s[:, 2], s[:, 3])[1],
    "lenient_f1": lambda s: _prf_vec(s[:, 1], s[:, 2], s[:, 3])[2],
}


# ------------------------------------------------------------------------------ bootstrap

def _resampled_sums(counts: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return counts[idx].sum(axis=1)  # (resamples, columns)


def _indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def count_ci(counts: np.ndarray, stat: Callable[[np.ndarray], np.ndarray], n_resamples: int = N_RESAMPLES,
             confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(low, observed, high) of a corpus-level statistic of per-row `counts` (rows resampled)."""
    observed = float(stat(counts.sum(axis=0, keepdims=True))[0])
    values = stat(_resampled_sums(counts, _indices(len(counts), n_resamples, seed)))
    return metrics._interval(values, observed, confidence)


def paired_count_ci(a: np.ndarray, b: np.ndarray, stat: Callable[[np.ndarray], np.ndarray],
                    n_resamples: int = N_RESAMPLES, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(low, observed a − b, high): the same resampled rows for both arms (paired)."""
    if len(a) != len(b):
        raise ValueError(f"paired counts differ in length ({len(a)} vs {len(b)})")
    observed = float(stat(a.sum(axis=0, keepdims=True))[0] - stat(b.sum(axis=0, keepdims=True))[0])
    idx = _indices(len(a), n_resamples, seed)
    return metrics._interval(stat(_resampled_sums(a, idx)) - stat(_resampled_sums(b, idx)), observed, confidence)
