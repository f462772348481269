"""An engine's fidelity to the fp32 reference on the same prompts: the share of greedy answers
identical to the reference, and the paired difference of `contains` and token F1 against gold
answers with paired-bootstrap 95% CIs (in points). `bench/fidelity.py` runs it on >= 200
prompts; `core.runtime.engines.fidelity` reads its results for reports, Compare and `core info`.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.evaluation import metrics
from core.knowledge.rag import rag_messages
from core.knowledge.retrieval import Retrieved
from core.knowledge.sanitize import sanitize_answer
from core.runtime.engines.fidelity import is_faithful


def passage_messages(question: str, passages: Sequence[str], source: str = "") -> list[dict]:
    """The RAG arm's own prompt with these passages as the retrieved context (best first)."""
    retrieved = [Retrieved(text=text, source=source, chunk=i, score=1.0) for i, text in enumerate(passages)]
    return rag_messages(question, retrieved)


def _points(ci: tuple[float, float, float]) -> dict:
    low, mean, high = ci
    return {"low": round(100 * low, 2), "mean": round(100 * mean, 2), "high": round(100 * high, 2)}


def compare(reference: Sequence[str], candidate: Sequence[str], golds: Sequence[Sequence[str]],
            n_resamples: int = 2000) -> dict:
    """Fidelity figures of `candidate` against `reference` (raw generated texts, same prompts)."""
    if not (len(reference) == len(candidate) == len(golds)) or not reference:
        raise ValueError("reference, candidate and golds must be equally long and not empty")
    identical = sum(a == b for a, b in zip(reference, candidate, strict=True)) / len(reference)
    scores = {}
    for name, texts in (("reference", reference), ("candidate", candidate)):
        answers = [sanitize_answer(t).strip() for t in texts]
        scores[name] = {"contains": [metrics.contains(a, g) for a, g in zip(answers, golds, strict=True)],
                        "f1": [metrics.token_f1(a, g) for a, g in zip(answers, golds, strict=True)]}
    out: dict = {"prompts": len(reference), "identical": round(identical, 4)}
    for metric in ("contains", "f1"):
        out[metric] = {"reference": round(metrics.mean(scores["reference"][metric]), 4),
                       "engine": round(metrics.mean(scores["candidate"][metric]), 4)}
        out[f"{metric}_diff"] = _points(metrics.paired_bootstrap_ci(
            scores["candidate"][metric], scores["reference"][metric], n_resamples=n_resamples))
    out["faithful"] = is_faithful(identical, (out["contains_diff"]["low"], out["contains_diff"]["high"]),
                                  (out["f1_diff"]["low"], out["f1_diff"]["high"]), len(reference))
    return out
