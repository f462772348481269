"""Eval sets from files: JSONL, JSON and CSV, read and validated with errors that name the place.

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
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.evaluation.evalsets import (
    COLUMNS_HINT,
    EvalFileColumns,
    EvalFileEmpty,
    EvalFileFormat,
    EvalFileValue,
    EvalItem,
    EvalSet,
    EvalSetError,
    Kind,
    cell_answers,
    cell_text,
)
from core.runtime.limits import QuestionTooLong, check_question
from core.runtime.text import nesting_depth

__all__ = ["load_eval_file", "load_eval_bytes", "parse_records"]


_ALIASES = {"answers": "answer", "chunk id": "chunk_id", "chunkid": "chunk_id"}
# An item holds text, numbers or a list of answers (SQuAD: {"text": [...]}): a few levels at most.
MAX_DEPTH = 4
_BOUND_HINT = "An item holds text, numbers or a list of answers; fix or remove that item."


def _first_line(text: str, bad) -> int:
    """The 1-based line of `text` where `bad(line, depth so far)` first holds (error path only)."""
    depth = 0
    for n, line in enumerate(text.splitlines(), start=1):
        depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
        if bad(line, depth):
            return n
    return 1


def _loads(text: str, name: str, where: str | None = None) -> Any:
    """json.loads with the two ways a hostile file breaks it bounded: nesting deep enough to hit
    the recursion limit, and integers longer than Python converts (4,300 digits)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        place = where or f"line {_first_line(text, lambda _l, d: d > 500)}"
        raise EvalFileFormat(f"{name}: {place} is nested too deeply to read.", _BOUND_HINT, where=place) from None
    except ValueError:
        place = where or f"line {_first_line(text, lambda ln, _d: re.search(r'[0-9]{4000}', ln))}"
        raise EvalFileFormat(f"{name}: {place} holds a number too long to read (thousands of digits).",
                             _BOUND_HINT, where=place) from None


def _keys(rec: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in rec.items():
        key = str(k).strip().lower()
        key = _ALIASES.get(key, key)
        if key not in out or not cell_text(out[key]):
            out[key] = v
    return out


def parse_records(records: Sequence[tuple[str, Any]], name: str = "eval", *, csv_cells: bool = False) -> EvalSet:
    """An eval set from (place, record) pairs, e.g. ("line 3", {...}). Used by the loaders."""
    if not records:
        raise EvalFileEmpty(f"{name}: the file holds no items.", COLUMNS_HINT)
    first_where, first = records[0]
    if not isinstance(first, dict):
        raise EvalFileFormat(f"{first_where}: expected an object with named fields, found {type(first).__name__}.",
                             COLUMNS_HINT, where=first_where)
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
                              COLUMNS_HINT, where=first_where)
    items = []
    for where, rec in records:
        if not isinstance(rec, dict):
            raise EvalFileFormat(f"{where}: expected an object with named fields, found {type(rec).__name__}.",
                                 COLUMNS_HINT, where=where)
        if nesting_depth(rec, MAX_DEPTH) > MAX_DEPTH:
            raise EvalFileValue(f"{where}: a field is nested more than {MAX_DEPTH - 1} levels deep.", _BOUND_HINT,
                                where=where)
        rec = _keys(rec)
        missing = [c for c in required if c not in rec]
        if missing:
            found = ", ".join(rec) or "none"
            raise EvalFileColumns(f"{where}: missing {' and '.join(repr(m) for m in missing)} (found: {found}).",
                                  COLUMNS_HINT, where=where)
        if kind == "qa":
            question = cell_text(rec["question"])
            if not question:
                raise EvalFileValue(f"{where}: the question is empty.", "Give every item a question.", where=where)
            _check_length(question, where, "question")
            golds = cell_answers(rec["answer"], where, csv_cell=csv_cells)
            items.append(EvalItem(question=question, golds=golds, source=cell_text(rec.get("source")) or None,
                                  chunk_id=cell_text(rec.get("chunk_id")) or None,
                                  context=cell_text(rec.get("context")) or None, kind="qa"))
        else:
            text, label = cell_text(rec["text"]), cell_text(rec["label"])
            if not text:
                raise EvalFileValue(f"{where}: the text is empty.", "Give every item a text.", where=where)
            if not label:
                raise EvalFileValue(f"{where}: the label is empty.", "Give every item a label.", where=where)
            _check_length(text, where, "text")
            items.append(EvalItem(question=text, golds=(label,), label=label,
                                  source=cell_text(rec.get("source")) or None, kind="label"))
    labels = tuple(sorted({it.label for it in items})) if kind == "label" else None
    return EvalSet(name=name, items=tuple(items), kind=kind, labels=labels)


def _check_length(question: str, where: str, what: str) -> None:
    """Every question is bounded where it enters (core.runtime.limits), with its place named."""
    try:
        check_question(question, what=f"The {what} of {where}")
    except QuestionTooLong as exc:
        raise EvalFileValue(exc.message, exc.hint, where=where) from None


def _jsonl_records(text: str, name: str) -> list[tuple[str, Any]]:
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {n}", _loads(line, name, f"line {n}")))
        except json.JSONDecodeError as exc:
            raise EvalFileFormat(f"{name}: line {n} is not valid JSON ({exc.msg}, column {exc.colno}).",
                                 "Each line of a JSONL file must be one complete JSON object.",
                                 where=f"line {n}") from None
    return records


def _json_records(text: str, name: str) -> list[tuple[str, Any]]:
    try:
        data = _loads(text, name)
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
        raise EvalFileEmpty(f"{name}: the file is empty.", COLUMNS_HINT) from None
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
        if not any(cell_text(v) for v in clean.values()):
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
        raise EvalFileEmpty(f"{filename}: the file is empty.", COLUMNS_HINT)
    reader = {"jsonl": _jsonl_records, "json": _json_records, "csv": _csv_records}[fmt]
    records = reader(text, filename)
    if not records:
        raise EvalFileEmpty(f"{filename}: the file holds no items.", COLUMNS_HINT)
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
