"""Reading labeled files: decode, tell CSV / JSONL / JSON apart, parse into records; keep uploads.

Every cell is read as text exactly as written: "None", "null" or "nan" are values, not missing
(only an empty cell is missing, see core/training/datasets.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

from core.runtime.text import nesting_depth
from core.training.schema import DataError, ValidationReport

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_DEPTH = 6  # a row holds text, numbers, labels or chat messages (objects whose content may be a list of parts)
MAX_FIELD_CHARS = 20_000


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{name} looks like a binary file, not CSV / JSONL / JSON.",
                        hint="Upload a UTF-8 text file with one example per row or line.")
    for encoding in ("utf-8-sig", "utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(f"{name} is not UTF-8 text.", hint="Save the file as UTF-8 and upload it again.")


def file_format(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        return "jsonl"
    return "csv"


def read_records(raw: bytes, name: str) -> tuple[list[tuple[int, dict]], list[str], ValidationReport]:
    """(records as (row number, dict), column names, report with reading problems)."""
    report = ValidationReport()
    if len(raw) > MAX_FILE_BYTES:
        raise DataError(f"{name} is {len(raw) / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES // 1_000_000} MB.",
                        hint="Split the file or sample it down.")
    if not raw.strip():
        raise DataError(f"{name} is empty.", hint="Upload a file with at least 10 examples.")
    text = _decode(raw, name)
    fmt = file_format(name, text)
    records: list[tuple[int, dict]] = []
    if fmt == "csv":
        csv.field_size_limit(10 * MAX_FIELD_CHARS)
        dialect = "excel-tab" if Path(name).suffix.lower() == ".tsv" else "excel"
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
            columns = [c.strip() for c in (reader.fieldnames or []) if c is not None]
            for i, rec in enumerate(reader, start=2):  # row 1 is the header
                if len(records) >= MAX_ROWS:
                    report.add("warning", f"Only the first {MAX_ROWS} rows were read.")
                    break
                extra = rec.pop(None, None)
                if extra:
                    report.add("warning", "Row has more cells than the header; extra cells ignored", [i])
                records.append((i, {(k or "").strip(): v for k, v in rec.items()}))
        except csv.Error as exc:
            raise DataError(f"{name} is not a readable CSV file: {exc}.",
                            hint="Check quoting: fields with commas or line breaks must be in double quotes.") from exc
        if not columns:
            raise DataError(f"{name} has no header row.", hint="The first line must name the columns, e.g. text,label.")
    elif fmt == "jsonl":
        bad: list[int] = []
        first_error = ""
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError) as exc:  # also 100k-deep nesting, 5,000-digit numbers
                bad.append(i)
                first_error = first_error or f"line {i}: {_json_problem(exc)}"
                continue
            if isinstance(value, dict) and nesting_depth(value, MAX_DEPTH) > MAX_DEPTH:
                bad.append(i)
                first_error = first_error or f"line {i}: a field is nested more than {MAX_DEPTH - 1} levels deep"
                continue
            if not isinstance(value, dict):
                bad.append(i)
                first_error = first_error or f"line {i}: expected a JSON object, got {type(value).__name__}"
                continue
            if len(records) >= MAX_ROWS:
                report.add("warning", f"Only the first {MAX_ROWS} lines were read.")
                break
            records.append((i, value))
        if bad:
            report.add("error", f"{len(bad)} line(s) are not valid JSON objects ({first_error})", bad)
        columns = _columns(records)
    else:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            where = f"line {exc.lineno}: " if isinstance(exc, json.JSONDecodeError) else ""
            raise DataError(f"{name} is not valid JSON ({where}{_json_problem(exc)}).",
                            hint="Upload a JSON array of objects, or JSONL with one object per line.") from None
        if isinstance(value, dict):  # {"data": [...]} or similar: take the single list inside
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 else None
        if not isinstance(value, list):
            raise DataError(f"{name} must hold a JSON array of objects.",
                            hint='For example [{"question": "...", "answer": "..."}, ...].')
        bad = [i for i, v in enumerate(value, start=1)
               if not isinstance(v, dict) or nesting_depth(v, MAX_DEPTH) > MAX_DEPTH]
        if bad:
            report.add("error", "Array items that are not JSON objects", bad)
        records = [(i, v) for i, v in enumerate(value[:MAX_ROWS], start=1) if isinstance(v, dict)]
        columns = _columns(records)
    return records, columns, report


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return "a number too long to read (thousands of digits)"


def _columns(records: list[tuple[int, dict]]) -> list[str]:
    seen: dict[str, None] = {}
    for _, rec in records[:1000]:
        for key in rec:
            seen.setdefault(str(key), None)
    return list(seen)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def store_upload(raw: bytes, name: str, settings=None) -> Path:
    """Keep an uploaded labeled file under data/uploads/<sha256[:16]>.<ext> (never its own name).

    Returns the stored path; reading is checked first (a DataError for unreadable content).
    """
    from core.runtime.settings import get_settings

    read_records(raw, name)  # raises DataError for binary / empty / oversize / unparsable files
    fmt = file_format(name, _decode(raw, name))
    settings = settings or get_settings()
    folder = settings.path("uploads")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(raw).hexdigest()[:16]}.{fmt}"
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    return path
