"""Retrieval metrics: hit@k, MRR, which chunk is gold, and the retrieval-miss / generation-error split.

A retrieved chunk is gold by the first rule that applies to the eval item:
1. ``chunk id`` / ``source`` (either may match when both are given): the item names the gold
   chunk or the gold file (matched by file name; a hit by file says the right document was
   found, not that the passage holds the answer);
2. ``answer``: neither is given, so a chunk is gold when its text contains a gold answer,
   both normalised as for SQuAD matching (whole tokens). Any Q&A file whose answers occur in
   the documents can then be scored without labels.
Reports name the rule (``gold_rule``) so a reader knows what a hit means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from core.evaluation.metrics import mean, normalize_answer

__all__ = [
    "GOLD_BY_CHUNK", "GOLD_BY_SOURCE", "GOLD_BY_SOURCE_OR_CHUNK", "GOLD_BY_ANSWER", "RETRIEVAL_MISS", "GENERATION_ERROR",
    "gold_rule", "contains_answer", "gold_rank", "hit_at_k", "reciprocal_rank",
    "mean_hit_at_k", "mean_reciprocal_rank", "failure_kind",
]

GOLD_BY_CHUNK, GOLD_BY_SOURCE, GOLD_BY_ANSWER = "chunk id", "source", "answer"
GOLD_BY_SOURCE_OR_CHUNK = "source or chunk id"
RETRIEVAL_MISS, GENERATION_ERROR = "retrieval miss", "generation error"


def _file_name(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return PurePath(s.replace("\\", "/")).name if s else None


def _field(item: Any, *names: str) -> Any:
    for name in names:
        value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def _ids_of(item: Any) -> tuple[str | None, str | None]:
    """(file name, chunk id) of a retrieved item: a string, a dict or an object."""
    if isinstance(item, str):
        return _file_name(item), item
    cid = _field(item, "chunk_id", "id")
    return _file_name(_field(item, "source", "file")), (None if cid is None else str(cid))


def _text_of(item: Any) -> str:
    if isinstance(item, str):
        return ""
    return str(_field(item, "text") or "")


def gold_rule(gold_source: str | None = None, gold_chunk_id: str | None = None,
              golds: Iterable[str] | None = None) -> str | None:
    """Which rule decides gold chunks for an item (see the module doc); None when none can."""
    by_chunk, by_source = gold_chunk_id is not None and bool(str(gold_chunk_id).strip()), bool(_file_name(gold_source))
    if by_chunk or by_source:
        return GOLD_BY_SOURCE_OR_CHUNK if by_chunk and by_source else GOLD_BY_CHUNK if by_chunk else GOLD_BY_SOURCE
    if any(normalize_answer(g) for g in golds or ()):
        return GOLD_BY_ANSWER
    return None


def contains_answer(text: str, golds: Iterable[str]) -> bool:
    """True when the SQuAD-normalised text holds a normalised gold answer as whole tokens."""
    padded = f" {normalize_answer(text)} "
    return any(n and f" {n} " in padded for n in (normalize_answer(g) for g in golds))


def gold_rank(retrieved: Iterable[Any] | None, gold_source: str | None = None, gold_chunk_id: str | None = None,
              golds: Iterable[str] | None = None) -> tuple[int | None, str]:
    """(1-based rank of the first gold item or None, the rule used). Raises when no rule applies."""
    golds = [g for g in golds or () if normalize_answer(g)]
    rule = gold_rule(gold_source, gold_chunk_id, golds)
    if rule is None:
        raise ValueError("give a gold source, a gold chunk id or gold answers")
    gold_name, gold_cid = _file_name(gold_source), None if gold_chunk_id is None else str(gold_chunk_id)
    for i, item in enumerate(() if retrieved is None else retrieved, start=1):
        name, cid = _ids_of(item)
        if rule == GOLD_BY_ANSWER:
            if contains_answer(_text_of(item), golds):
                return i, rule
        elif (gold_cid is not None and cid == gold_cid) or (gold_name is not None and name == gold_name):
            return i, rule
    return None, rule


def hit_at_k(retrieved_sources: Iterable[Any], gold_source: str | None, k: int = 5, *,
             gold_chunk_id: str | None = None, golds: Iterable[str] | None = None) -> float:
    """1.0 when a gold item is among the first ``k`` retrieved items, else 0.0.

    Items may be strings (a file name/path or a chunk id), dicts with ``source``/``file``,
    ``chunk_id``/``id`` and ``text``, or objects with those attributes (e.g.
    ``core.knowledge.retrieval.Retrieved``). Which items are gold: see the module doc (a chunk id
    wins over a source, which wins over the answer text).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    items = list(() if retrieved_sources is None else retrieved_sources)[:k]
    return float(gold_rank(items, gold_source, gold_chunk_id, golds)[0] is not None)


def reciprocal_rank(retrieved_sources: Iterable[Any], gold_source: str | None, *,
                    gold_chunk_id: str | None = None, golds: Iterable[str] | None = None) -> float:
    """1/rank of the first retrieved item that is gold (see ``hit_at_k``); 0.0 if none."""
    rank, _ = gold_rank(retrieved_sources, gold_source, gold_chunk_id, golds)
    return 1.0 / rank if rank else 0.0


def _same_length(*seqs: Sequence) -> None:
    if len({len(s) for s in seqs}) > 1:
        raise ValueError(f"sequences differ in length ({', '.join(str(len(s)) for s in seqs)})")


def mean_hit_at_k(retrieved_lists: Sequence[Iterable[Any]], gold_sources: Sequence[str | None], k: int = 5,
                  gold_chunk_ids: Sequence[str | None] | None = None,
                  golds: Sequence[Iterable[str]] | None = None) -> float | None:
    """Mean hit@k over questions (None for no questions)."""
    chunk_ids = gold_chunk_ids if gold_chunk_ids is not None else [None] * len(gold_sources)
    answers = golds if golds is not None else [()] * len(gold_sources)
    _same_length(retrieved_lists, gold_sources, chunk_ids, answers)
    return mean(hit_at_k(r, s, k, gold_chunk_id=c, golds=g)
                for r, s, c, g in zip(retrieved_lists, gold_sources, chunk_ids, answers, strict=True))


def mean_reciprocal_rank(retrieved_lists: Sequence[Iterable[Any]], gold_sources: Sequence[str | None],
                         gold_chunk_ids: Sequence[str | None] | None = None,
                         golds: Sequence[Iterable[str]] | None = None) -> float | None:
    """MRR over questions (None for no questions)."""
    chunk_ids = gold_chunk_ids if gold_chunk_ids is not None else [None] * len(gold_sources)
    answers = golds if golds is not None else [()] * len(gold_sources)
    _same_length(retrieved_lists, gold_sources, chunk_ids, answers)
    return mean(reciprocal_rank(r, s, gold_chunk_id=c, golds=g)
                for r, s, c, g in zip(retrieved_lists, gold_sources, chunk_ids, answers, strict=True))


def failure_kind(correct: bool, hit: float | None) -> str | None:
    """Why a retrieval arm's answer is wrong: the gold chunk was not retrieved, or it was and the
    model still answered wrongly. None for a right answer or when no gold rule applies."""
    if correct or hit is None:
        return None
    return RETRIEVAL_MISS if hit == 0 else GENERATION_ERROR
