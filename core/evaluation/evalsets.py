"""Evaluation sets: load them from files, build them from pairs, or generate cloze questions.

An eval set is a tuple of ``EvalItem``s of one kind:

- ``qa``: a question and one or more acceptable answers (scored with EM/F1/contains/ROUGE-L);
- ``label``: a text and its gold label, with the label set on the ``EvalSet``
  (scored with accuracy / macro-F1 after mapping the generation to a label);
- ``cloze``: fill-in-the-blank questions generated offline from a knowledge base's chunks,
  with the source file and chunk id known (so retrieval hit@k / MRR can be measured too).

File formats accepted by ``load_eval_file``:

- JSONL (``.jsonl``/``.ndjson``): one JSON object per line; blank lines are skipped.
- JSON (``.json``): a list of objects (a JSONL file named ``.json`` is accepted too).
- CSV (``.csv``): a header row, then one row per item.

Columns (names are case-insensitive): ``question`` + ``answer`` (or ``answers``), with
optional ``context``, ``source`` and ``chunk_id``; or ``text`` + ``label`` for classification.
An answer may be a list of acceptable answers: a JSON list in JSON/JSONL, and in CSV a cell
holding a JSON array such as ``["27 days", "twenty-seven days"]``. A plain CSV cell is one
answer, even if it contains ``|`` or commas. SQuAD's ``{"text": [...]}`` answer objects work too.

Errors name the place: ``line N`` for JSONL, ``item N`` for a JSON list, and ``row N`` for
CSV, numbered as in a spreadsheet (the header is row 1, the first item row 2).
"""

from __future__ import annotations

import io
import json
import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.runtime.errors import CrossroadsError

__all__ = [
    "EvalItem", "EvalSet", "EvalSetError", "EvalFileEmpty", "EvalFileFormat", "EvalFileColumns",
    "EvalFileValue", "load_eval_file", "load_eval_bytes", "parse_records", "cloze_from_chunks",
    "BLANK",
]

Kind = Literal["qa", "label", "cloze"]
KINDS = ("qa", "label", "cloze")
BLANK = "____"
CLOZE_PREFIX = "Fill in the blank: "
MAX_CLOZE_SENTENCE = 200


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


_COLUMNS_HINT = ('Give each item "question" and "answer" (or "answers"), optionally "context" '
                 'and "source"; or "text" and "label" for a classification set.')


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
            golds = _answers(a, f"pair {i}")
            q = _text(q)
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
            t, lab = _text(t), _text(lab)
            if not t or not lab:
                what = "text" if not t else "label"
                raise EvalFileValue(f"pair {i}: the {what} is empty.", "Give every pair a text and a label.",
                                    where=f"pair {i}")
            items.append(EvalItem(question=t, golds=(lab,), label=lab, kind="label"))
        all_labels = tuple(sorted(set(labels) if labels is not None else {it.label for it in items}))
        return cls(name=name, items=tuple(items), kind="label", labels=all_labels)


# --------------------------------------------------------------------------------------
# Loading files
# --------------------------------------------------------------------------------------

def _text(value: Any) -> str:
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


def _answers(value: Any, where: str, *, csv_cell: bool = False) -> tuple[str, ...]:
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
    golds = tuple(dict.fromkeys(t for t in (_text(v) for v in values) if t))
    if not golds:
        raise EvalFileValue(f"{where}: the answer is empty.",
                            "Give every question at least one non-empty answer.", where=where)
    return golds


_ALIASES = {"answers": "answer", "chunk id": "chunk_id", "chunkid": "chunk_id"}


def _keys(rec: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in rec.items():
        key = str(k).strip().lower()
        key = _ALIASES.get(key, key)
        if key not in out or not _text(out[key]):
            out[key] = v
    return out


def parse_records(records: Sequence[tuple[str, Any]], name: str = "eval", *, csv_cells: bool = False) -> EvalSet:
    """An eval set from (place, record) pairs, e.g. ("line 3", {...}). Used by the loaders."""
    if not records:
        raise EvalFileEmpty(f"{name}: the file holds no items.", _COLUMNS_HINT)
    first_where, first = records[0]
    if not isinstance(first, dict):
        raise EvalFileFormat(f"{first_where}: expected an object with named fields, found {type(first).__name__}.",
                             _COLUMNS_HINT, where=first_where)
    first_keys = _keys(first)
    if "question" in first_keys or "answer" in first_keys:
        kind: Kind = "qa"
        required = ("question", "answer")
    elif "text" in first_keys or "label" in first_keys:
        kind = "label"
        required = ("text", "label")
    else:
        found = ", ".join(str(k) for k in first) or "none"
        raise EvalFileColumns(f"{first_where}: no question/answer or text/label fields (found: {found}).",
                              _COLUMNS_HINT, where=first_where)
    items = []
    for where, rec in records:
        if not isinstance(rec, dict):
            raise EvalFileFormat(f"{where}: expected an object with named fields, found {type(rec).__name__}.",
                                 _COLUMNS_HINT, where=where)
        rec = _keys(rec)
        missing = [c for c in required if c not in rec]
        if missing:
            found = ", ".join(rec) or "none"
            raise EvalFileColumns(f"{where}: missing {' and '.join(repr(m) for m in missing)} (found: {found}).",
                                  _COLUMNS_HINT, where=where)
        if kind == "qa":
            question = _text(rec["question"])
            if not question:
                raise EvalFileValue(f"{where}: the question is empty.", "Give every item a question.", where=where)
            golds = _answers(rec["answer"], where, csv_cell=csv_cells)
            items.append(EvalItem(question=question, golds=golds, source=_text(rec.get("source")) or None,
                                  chunk_id=_text(rec.get("chunk_id")) or None,
                                  context=_text(rec.get("context")) or None, kind="qa"))
        else:
            text, label = _text(rec["text"]), _text(rec["label"])
            if not text:
                raise EvalFileValue(f"{where}: the text is empty.", "Give every item a text.", where=where)
            if not label:
                raise EvalFileValue(f"{where}: the label is empty.", "Give every item a label.", where=where)
            items.append(EvalItem(question=text, golds=(label,), label=label,
                                  source=_text(rec.get("source")) or None, kind="label"))
    labels = tuple(sorted({it.label for it in items})) if kind == "label" else None
    return EvalSet(name=name, items=tuple(items), kind=kind, labels=labels)


def _jsonl_records(text: str, name: str) -> list[tuple[str, Any]]:
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise EvalFileFormat(f"{name}: line {n} is not valid JSON ({exc.msg}, column {exc.colno}).",
                                 "Each line of a JSONL file must be one complete JSON object.",
                                 where=f"line {n}") from None
    return records


def _json_records(text: str, name: str) -> list[tuple[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith("{"):
            return _jsonl_records(text, name)  # JSONL saved as .json
        raise EvalFileFormat(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
                             "A .json eval file must be a list of objects.", where=f"line {exc.lineno}") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
        else:
            raise EvalFileFormat(f"{name}: expected a list of objects, found an object.",
                                 "Wrap the items in [ ... ], or save them as JSONL (one object per line).")
    if not isinstance(data, list):
        raise EvalFileFormat(f"{name}: expected a list of objects, found {type(data).__name__}.",
                             "A .json eval file must be a list of objects.")
    return [(f"item {i}", rec) for i, rec in enumerate(data, start=1)]


def _csv_records(text: str, name: str) -> list[tuple[str, Any]]:
    import pandas as pd

    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise EvalFileEmpty(f"{name}: the file is empty.", _COLUMNS_HINT) from None
    except (pd.errors.ParserError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        where = f"row {m.group(2)}" if m else None
        if m:
            msg = f"{where} has {m.group(3)} cells but the header has {m.group(1)} columns"
        raise EvalFileFormat(f"{name}: not a readable CSV ({msg}).",
                             "Save it as comma-separated values with one header row; quote cells that hold commas.",
                             where=where) from None
    records = []
    for i, row in enumerate(df.to_dict(orient="records"), start=2):
        clean = {str(k): v for k, v in row.items() if not str(k).startswith("Unnamed:")}
        if not any(_text(v) for v in clean.values()):
            continue
        records.append((f"row {i}", clean))
    return records


def _format_of(filename: str, fmt: str | None) -> str:
    fmt = (fmt or Path(filename).suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson"):
        return "jsonl"
    if fmt in ("json", "csv"):
        return fmt
    raise EvalFileFormat(f"{filename}: unsupported eval file type {('.' + fmt) if fmt else '(no extension)'}.",
                         "Use .jsonl, .json or .csv.")


def load_eval_bytes(data: bytes | str, filename: str, *, name: str | None = None, fmt: str | None = None) -> EvalSet:
    """Parse an eval set from bytes (e.g. an uploaded file); the format comes from ``filename``'s extension."""
    fmt = _format_of(filename, fmt)
    name = name or Path(filename).stem or "eval"
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EvalFileFormat(f"{filename}: not UTF-8 text (byte {exc.start}).",
                                 "Save the file with UTF-8 encoding.") from None
    else:
        text = data.lstrip("\ufeff")
    if not text.strip():
        raise EvalFileEmpty(f"{filename}: the file is empty.", _COLUMNS_HINT)
    reader = {"jsonl": _jsonl_records, "json": _json_records, "csv": _csv_records}[fmt]
    records = reader(text, filename)
    if not records:
        raise EvalFileEmpty(f"{filename}: the file holds no items.", _COLUMNS_HINT)
    return parse_records(records, name, csv_cells=(fmt == "csv"))


def load_eval_file(path: str | Path, *, name: str | None = None, fmt: str | None = None) -> EvalSet:
    """Read an eval set from a JSONL, JSON or CSV file (see the module docstring for the columns).

    Raises an ``EvalSetError`` subclass naming the line/row at fault.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvalSetError(f"{path}: file not found.", "Check the path.") from None
    except IsADirectoryError:
        raise EvalSetError(f"{path}: is a folder, not a file.", "Give the path of a .jsonl, .json or .csv file.") from None
    return load_eval_bytes(data, path.name, name=name or path.stem, fmt=fmt)


# --------------------------------------------------------------------------------------
# Cloze questions from knowledge-base chunks
# --------------------------------------------------------------------------------------

_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTHS})\.?,? \d{{4}}"          # 17 June 2024
    rf"|(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}"               # June 17, 2024
    rf"|(?:{_MONTHS}) \d{{4}}"                                             # June 2024
    r"|\d{4}-\d{2}-\d{2})\b")                                              # 2024-06-17
_TIME = re.compile(r"(?<![\w:.])\d{1,2}:\d{2}(?![\w:])")
_CODE = re.compile(r"(?<![\w.-])(?:[A-Z][A-Z0-9]*-[A-Z0-9]+(?:-[A-Z0-9]+)*|\d+(?:\.\d+){2,})(?![\w-]|\.\d)")
_UNITS = ("%|percent|per cent|°C|°F|degrees?|seconds?|secs?|minutes?|mins?|hours?|hrs?|business days|working days|calendar days|days?|"
          "weeks?|months?|years?|km|kilometres?|kilometers?|metres?|meters?|m|cm|mm|kg|g|grams?|mg|"
          "litres?|liters?|ml|V|mV|W|kW|kWh|mA|mAh|Hz|kHz|MHz|GHz|KB|MB|GB|TB|bits?|bytes?|"
          "characters?|digits?|people|employees|staff|sensors?|channels?|points?|nights?|"
          "EUR|USD|GBP|euros?|dollars?|pounds?|times")
_NUMBER = re.compile(
    rf"(?:(?:€|\$|£|EUR|USD|GBP) ?)?(?<![\w.,\-/:+])(?<!\d )\d+(?:[.,]\d+)*(?![\w\-/:]|[.,]\d| \d)"
    rf"(?: ?(?:{_UNITS})(?![\w]))?")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?: (?:[A-Z][a-z]+(?:-[A-Z][a-z]+)?))+\b")
_LEAD_WORDS = frozenset("The A An This That These Those Our Your Their Its In On At For From By With "
                        "To Of And Or But If When Where Every Each All Any Some No Yes".split())

_BULLET = re.compile(r"^\s*(?:[-*+•]\s+|\d+[.)]\s+|>\s*)")
_KEY_VALUE = re.compile(r"^[\w ()/-]{1,40}:\s")
_SENT_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")
_EMPHASIS = re.compile(r"\*\*|__|`|<[^<>]{1,200}>")
MIN_SENTENCE_CHARS = 40
MIN_SENTENCE_WORDS = 6


def _chunk_field(chunk: Any, *names: str) -> Any:
    for n in names:
        value = chunk.get(n) if isinstance(chunk, dict) else getattr(chunk, n, None)
        if value is not None:
            return value
    meta = chunk.get("metadata") if isinstance(chunk, dict) else getattr(chunk, "metadata", None)
    if isinstance(meta, dict):
        for n in names:
            if meta.get(n) is not None:
                return meta[n]
    return None


def _blocks(text: str) -> list[str]:
    """Lines joined into blocks: wrapped continuation lines are glued back together."""
    blocks: list[list[str]] = []
    prev_open = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "|", "```")) or set(line) <= set("-=*_ "):
            prev_open = False
            continue
        is_new = bool(_BULLET.match(line)) or bool(_KEY_VALUE.match(line)) or not line[0].islower()
        if prev_open and not is_new and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([_BULLET.sub("", line)])
        prev_open = not line.endswith((".", "!", "?", ":", ";"))
    return [" ".join(b) for b in blocks]


def _sentences(text: str) -> list[str]:
    out = []
    for block in _blocks(text):
        block = _EMPHASIS.sub("", block)
        for s in _SENT_SPLIT.split(block):
            s = s.strip()
            if s:
                out.append(s)
    return out


def _candidates(sentence: str) -> list[tuple[int, int, str]]:
    """Key spans (start, end, type) in a sentence, non-overlapping, higher-priority types first."""
    taken: list[tuple[int, int, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _ in taken)

    for kind, rx in (("date", _DATE), ("code", _CODE), ("time", _TIME), ("number", _NUMBER), ("name", _NAME)):
        for m in rx.finditer(sentence):
            a, b = m.span()
            if kind == "name":
                words = m.group(0).split(" ")
                while words and words[0] in _LEAD_WORDS:
                    a += len(words[0]) + 1
                    words = words[1:]
                if len(words) < 2:
                    continue
            span = sentence[a:b].strip()
            if span and free(a, b):
                taken.append((a, b, kind))
    return taken


def _trim(before: str, after: str, limit: int = MAX_CLOZE_SENTENCE) -> str:
    """The blanked sentence, cut at word boundaries to at most ``limit`` chars around the blank."""
    full = f"{before}{BLANK}{after}"
    if len(full) <= limit:
        return full
    room = limit - len(BLANK) - 6  # two "..." markers
    left_room = min(len(before), room // 2)
    right_room = room - left_room
    if len(after) < right_room:
        left_room += right_room - len(after)
        right_room = len(after)
    left, right = before, after
    if left_room < len(before):
        left = before[len(before) - left_room:]
        left = "..." + (left.split(" ", 1)[-1] if " " in left else left)
    if right_room < len(after):
        right = after[:right_room]
        right = (right.rsplit(" ", 1)[0] if " " in right else right) + "..."
    out = f"{left}{BLANK}{right}"
    return out[:limit]


def cloze_from_chunks(chunks: Iterable[Any], n: int = 30, seed: int = 0, *, name: str = "cloze") -> EvalSet:
    """Fill-in-the-blank questions generated from knowledge-base chunks, offline (regex, no model).

    Each chunk is a dict or object with ``text``, ``source`` (file name), ``chunk_id`` (or
    ``id``) and optionally ``page``; LangChain Documents work through their ``metadata``.
    From each sentence one key span is blanked: a date, a code ("SK-7000", "4.2.0"), a time,
    a number (with its unit when adjacent) or a capitalised multi-word name. The question is
    ``"Fill in the blank: <sentence with ____>"`` (sentence trimmed to 200 chars around the
    blank); ``golds`` is the span exactly as it appears in the chunk text.

    Rules: at most one question per sentence (repeated sentences, e.g. in overlapping
    chunks, count once); sentences shorter than 40 chars / 6 words, questions, and spans
    that occur twice in their sentence are skipped; sources take turns so the set covers
    as many files as possible. Deterministic for a given seed and chunk order. Returns
    fewer than ``n`` items when the text does not have enough candidates.

    Caveat: a cloze item tests recall of a specific fact; some blanks are ambiguous out of
    context (several answers fit). Use it as a relative measure between arms.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = random.Random(seed)
    by_source: dict[str, list[EvalItem]] = {}
    seen_sentences: set[str] = set()
    for chunk in chunks:
        text = _chunk_field(chunk, "text", "page_content")
        if not text:
            continue
        text = str(text)
        source = _text(_chunk_field(chunk, "source", "file")) or None
        if source:
            source = Path(source.replace("\\", "/")).name
        cid = _chunk_field(chunk, "chunk_id", "id")
        cid = None if cid is None else str(cid)
        for sentence in _sentences(text):
            key = " ".join(sentence.lower().split())
            if key in seen_sentences:
                continue
            if (len(sentence) < MIN_SENTENCE_CHARS or len(sentence.split()) < MIN_SENTENCE_WORDS
                    or sentence.endswith("?")):
                continue
            options = []
            for a, b, _kind in _candidates(sentence):
                span = sentence[a:b]
                if sentence.count(span) != 1 or span not in text or len(span) > 0.6 * len(sentence):
                    continue
                options.append((a, b, span))
            if not options:
                continue
            seen_sentences.add(key)
            a, b, span = rng.choice(options)
            question = CLOZE_PREFIX + _trim(sentence[:a], sentence[b:])
            by_source.setdefault(source or "", []).append(
                EvalItem(question=question, golds=(span,), source=source, chunk_id=cid,
                         context=sentence, kind="cloze"))
    if not by_source:
        raise EvalSetError("No sentence with a date, number, code or name to turn into a question.",
                           "Add documents with factual sentences to the knowledge base, or upload an eval file.")
    sources = list(by_source)
    rng.shuffle(sources)
    for s in sources:
        rng.shuffle(by_source[s])
    picked: list[EvalItem] = []
    depth = 0
    while len(picked) < n:
        added = False
        for s in sources:
            pool = by_source[s]
            if depth < len(pool):
                picked.append(pool[depth])
                added = True
                if len(picked) == n:
                    break
        if not added:
            break
        depth += 1
    return EvalSet(name=name, items=tuple(picked), kind="cloze")
