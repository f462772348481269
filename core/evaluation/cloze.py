"""Fill-in-the-blank eval sets: the offline generator's items (core.knowledge.cloze) as an EvalSet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.evaluation.evalsets import EvalItem, EvalSet, EvalSetError
from core.knowledge.cloze import BLANK, CLOZE_PREFIX, ClozeItem, cloze_items, kb_cloze_items
from core.knowledge.manifest import KnowledgeError
from core.runtime.settings import Settings

__all__ = ["BLANK", "CLOZE_PREFIX", "cloze_from_chunks", "cloze_set"]


def _as_set(items: list[ClozeItem], name: str) -> EvalSet:
    return EvalSet(name=name, kind="cloze", items=tuple(
        EvalItem(question=i.question, golds=(i.answer,), source=i.source, chunk_id=i.chunk_id, context=i.context,
                 kind="cloze") for i in items))


def cloze_from_chunks(chunks: Iterable[Any], n: int = 30, seed: int = 0, *, name: str = "cloze",
                      exclude_chunk_ids: Iterable[str] = ()) -> EvalSet:
    """See core.knowledge.cloze.cloze_items (the rules); an EvalSet of kind "cloze"."""
    try:
        return _as_set(cloze_items(chunks, n=n, seed=seed, exclude_chunk_ids=exclude_chunk_ids), name)
    except KnowledgeError as exc:
        raise EvalSetError(exc.message, exc.hint) from exc


def held_apart(kb: str, adapter: str | None, settings: Settings | None = None) -> list[str]:
    """The chunks `adapter` was trained on when its rows were generated from `kb` (else none):
    a cloze evaluation leaves them out, so it does not test the adapter on its own training rows."""
    if not adapter:
        return []
    from core.training.adapters import get_adapter
    from core.training.raft import trained_chunk_ids

    return trained_chunk_ids(get_adapter(adapter, settings=settings).meta, kb)


def cloze_set(kb: str, n: int = 30, seed: int = 0, *, adapter: str | None = None,
              settings: Settings | None = None) -> EvalSet:
    """Fill-in-the-blank questions generated offline from a knowledge base's chunks; the chunks
    behind `adapter`'s generated training rows give none (`held_apart`)."""
    exclude = held_apart(kb, adapter, settings)
    return _as_set(kb_cloze_items(kb, n=n, seed=seed, exclude_chunk_ids=exclude, settings=settings), "cloze")
