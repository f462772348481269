"""Evaluation sets: the data model (``EvalItem``, ``EvalSet``), its errors and cell cleaning.

An eval set is a tuple of ``EvalItem``s of one kind:

- ``qa``: a question and one or more acceptable answers (scored with EM/F1/contains/ROUGE-L);
- ``label``: a text and its gold label, with the label set on the ``EvalSet``
  (scored with accuracy / macro-F1 after mapping the generation to a label);
- ``cloze``: fill-in-the-blank questions generated offline from a knowledge base's chunks,
  with the source file and chunk id known (so retrieval hit@k / MRR can be measured too).

Where sets come from: ``evalset_files`` (JSONL / JSON / CSV files), ``cloze`` (generated from a
knowledge base), ``heldout`` (an adapter's held-out training rows), ``EvalSet.from_pairs`` /
``from_labels`` (in code).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.runtime.errors import CrossroadsError

__all__ = [
    "EvalItem", "EvalSet", "EvalSetError", "EvalFileEmpty", "EvalFileFormat", "EvalFileColumns",
    "EvalFileValue", "cell_text", "cell_answers", "COLUMNS_HINT",
]

Kind = Literal["qa", "label", "cloze"]
KINDS = ("qa", "label", "cloze")


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------

class EvalSetError(CrossroadsError):
    """An eval set cannot be read or built."""

    def __init__(self, message: str, hint: str = "", *, where: str | None = None):
        super().__init__(message, hint)
        self.where = where


class EvalFileEmpty(EvalSetError):
    """The file holds no items."""


class EvalFileFormat(EvalSetError):
    """The file is not valid JSON / JSONL / CSV (or not UTF-8)."""


class EvalFileColumns(EvalSetError):
    """Required fields are missing."""


class EvalFileValue(EvalSetError):
    """A field is present but unusable (e.g. an empty question or answer)."""


COLUMNS_HINT = ('Give each item "question" and "answer" (or "answers"), optionally "context" '
                 'and "source"; or "text" and "label" for a classification set.')


# --------------------------------------------------------------------------------------
# Cells: what every source of items cleans its values with
# --------------------------------------------------------------------------------------

def cell_text(value: Any) -> str:
    """A cell as clean text: None, NaN and pandas' missing markers become ""."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers, without importing pandas
        return ""
    return str(value).strip()


def cell_answers(value: Any, where: str, *, csv_cell: bool = False) -> tuple[str, ...]:
    """Acceptable answers from a string, a number, a list, a SQuAD {"text": [...]} or a CSV JSON array."""
    if isinstance(value, dict) and "text" in value:
        value = value["text"]
    if csv_cell and isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            value = parsed
    values = value if isinstance(value, (list, tuple)) else [value]
    golds = tuple(dict.fromkeys(t for t in (cell_text(v) for v in values) if t))
    if not golds:
        raise EvalFileValue(f"{where}: the answer is empty.",
                            "Give every question at least one non-empty answer.", where=where)
    return golds


# --------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalItem:
    """One question with its acceptable answers and, where known, where the answer lives.

    ``golds`` holds every acceptable answer (a label set item has exactly one, its label).
    ``source`` is the file name and ``chunk_id`` the chunk holding the answer (for retrieval
    metrics); ``context`` is a gold passage when the file gives one (for cloze items: the
    original, un-blanked sentence).
    """

    question: str
    golds: tuple[str, ...]
    source: str | None = None
    chunk_id: str | None = None
    context: str | None = None
    label: str | None = None
    kind: Kind = "qa"

    def __post_init__(self) -> None:
        if isinstance(self.golds, str):
            object.__setattr__(self, "golds", (self.golds,))
        elif not isinstance(self.golds, tuple):
            object.__setattr__(self, "golds", tuple(self.golds))
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if not str(self.question).strip():
            raise ValueError("question is empty")
        if not self.golds or not all(str(g).strip() for g in self.golds):
            raise ValueError("golds must hold at least one non-empty answer")

    @property
    def answer(self) -> str:
        """The first (preferred) gold answer."""
        return self.golds[0]

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready dict that ``load_eval_file`` reads back (None fields left out)."""
        if self.kind == "label":
            rec: dict[str, Any] = {"text": self.question, "label": self.label or self.golds[0]}
        else:
            rec = {"question": self.question,
                   "answer": self.golds[0] if len(self.golds) == 1 else list(self.golds)}
        for key in ("context", "source", "chunk_id"):
            value = getattr(self, key)
            if value is not None:
                rec[key] = value
        return rec


@dataclass(frozen=True)
class EvalSet:
    """A named, ordered set of items of one kind (``labels`` for label sets, sorted)."""

    name: str
    items: tuple[EvalItem, ...]
    kind: Kind = "qa"
    labels: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.items, tuple):
            object.__setattr__(self, "items", tuple(self.items))
        if self.labels is not None and not isinstance(self.labels, tuple):
            object.__setattr__(self, "labels", tuple(self.labels))
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[EvalItem]:
        return iter(self.items)

    def __getitem__(self, i: int) -> EvalItem:
        return self.items[i]

    @property
    def questions(self) -> list[str]:
        return [it.question for it in self.items]

    @property
    def has_sources(self) -> bool:
        """True when every item says where its answer lives (retrieval metrics possible)."""
        return bool(self.items) and all(it.source or it.chunk_id for it in self.items)

    def duplicates(self) -> int:
        """Items that repeat an earlier question (case and spacing ignored). Repeats count as
        separate observations in the bootstrap, so they make confidence intervals too narrow."""
        seen = {" ".join(it.question.lower().split()) for it in self.items}
        return len(self.items) - len(seen)

    def deduplicated(self) -> EvalSet:
        """The set with each question once (its first occurrence)."""
        kept: dict[str, EvalItem] = {}
        for it in self.items:
            kept.setdefault(" ".join(it.question.lower().split()), it)
        return EvalSet(self.name, tuple(kept.values()), self.kind, self.labels)

    def to_records(self) -> list[dict[str, Any]]:
        return [it.as_record() for it in self.items]

    def to_jsonl(self) -> str:
        """The set as JSONL text (reads back with ``load_eval_bytes(..., "x.jsonl")``)."""
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.to_records())

    @classmethod
    def from_pairs(cls, name: str, pairs: Iterable[tuple[str, str | Sequence[str]]]) -> EvalSet:
        """A QA set from (question, answer) pairs; an answer may be a list of acceptable answers."""
        items = []
        for i, (q, a) in enumerate(pairs, start=1):
            golds = cell_answers(a, f"pair {i}")
            q = cell_text(q)
            if not q:
                raise EvalFileValue(f"pair {i}: the question is empty.", "Give every pair a question.",
                                    where=f"pair {i}")
            items.append(EvalItem(question=q, golds=golds, kind="qa"))
        return cls(name=name, items=tuple(items), kind="qa")

    @classmethod
    def from_labels(cls, name: str, pairs: Iterable[tuple[str, str]],
                    labels: Iterable[str] | None = None) -> EvalSet:
        """A label set from (text, label) pairs; labels default to the sorted unique gold labels."""
        items = []
        for i, (t, lab) in enumerate(pairs, start=1):
            t, lab = cell_text(t), cell_text(lab)
            if not t or not lab:
                what = "text" if not t else "label"
                raise EvalFileValue(f"pair {i}: the {what} is empty.", "Give every pair a text and a label.",
                                    where=f"pair {i}")
            items.append(EvalItem(question=t, golds=(lab,), label=lab, kind="label"))
        all_labels = tuple(sorted(set(labels) if labels is not None else {it.label for it in items}))
        return cls(name=name, items=tuple(items), kind="label", labels=all_labels)
