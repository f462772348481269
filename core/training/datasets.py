"""Labeled data: read a file, normalize its rows for a schema, validate them, split train / held-out.

    data = load_labeled(path)            # LabeledData: rows, labels, schema, report (never raises for bad rows)
    train, held = split(data, eval_fraction, seed)

For evaluation: `load_labeled(path)` then `split(data, eval_fraction, seed)` gives the same
held-out rows the fine-tune used (the adapter's meta.json stores `eval_fraction`, `seed` and the
held-out row numbers). Reading lives in core/training/data_files.py, the schema and row types in
core/training/schema.py, the prompt format in core/training/chat_format.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.training.chat_format import sequence_lengths
from core.training.data_files import MAX_FIELD_CHARS, read_records
from core.training.schema import (
    KINDS,
    DataError,
    Row,
    Schema,
    ValidationReport,
    detect_schema,
    mapping_problem,
)

MIN_ROWS = 10
MIN_PER_LABEL = 3
MAX_LABELS = 50


GENERATED_HINT = ("These rows were generated from the knowledge base's documents: generate more rows, or add "
                  "documents with factual sentences (dates, numbers, names) to the knowledge base first.")


def generated_note(path: Path) -> Path:
    """Beside a file `generate_qa_file` made: what it was made from (core.training.raft)."""
    return Path(path).with_name(Path(path).name + ".generated.json")


@dataclass
class LabeledData:
    """A labeled file, read and validated. `rows` are the usable, de-duplicated examples."""

    name: str
    sha256: str
    schema: Schema | None
    columns: tuple[str, ...]
    rows: list[Row]
    report: ValidationReport
    labels: tuple[str, ...] = ()
    generated: bool = False  # rows made from a knowledge base's documents (no file was uploaded)

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def kind(self) -> str | None:
        return self.schema.kind if self.schema else None

    def require_valid(self) -> LabeledData:
        if not self.ok:
            raise DataError(f"{self.name}: {self.report.reason()}",
                            hint=GENERATED_HINT if self.generated else "Fix the file (or the column mapping) and upload it again.")
        return self


# ---------------------------------------------------------------------------------------------
# Normalizing and validating


def _cell(value) -> str | None:
    """A cell as stripped text; None when truly empty (blank, JSON null, NaN) or not a scalar.

    The words "None", "null", "nan" are values (a label class may be called None): only an empty
    cell is missing."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _normalize(number: int, rec: dict, schema: Schema) -> Row | str:
    """A Row, or a short reason why the record is unusable."""
    m = schema.mapping
    kind = schema.kind
    if kind == "chat":
        msgs = rec.get(m["messages"])
        if isinstance(msgs, str):
            try:
                msgs = json.loads(msgs)
            except ValueError:
                return "messages is not a list"
        if not isinstance(msgs, list) or not msgs:
            return "messages is empty or not a list"
        turns = []
        for msg in msgs:
            if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
                return "a message lacks a system/user/assistant role"
            content = _cell(msg.get("content"))
            if content is None:
                return "a message has empty content"
            turns.append((msg["role"], content))
        if turns[-1][0] != "assistant":
            return "the last message is not from the assistant"
        system = turns[0][1] if turns[0][0] == "system" else None
        body = turns[1:] if system is not None else turns
        body, target = body[:-1], body[-1][1]
        if not body or body[-1][0] != "user":
            return "no user message before the last assistant message"
        return Row(number, prompt=body[-1][1], target=target, context=tuple(body[:-1]), system=system)
    values = {role: _cell(rec.get(col)) for role, col in m.items()}
    required = KINDS[kind][0]
    missing = [role for role in required if values.get(role) is None]
    if missing:
        return "empty " + " and ".join(m[r] for r in missing)
    if kind == "qa":
        return Row(number, prompt=values["question"], target=values["answer"])
    if kind == "prompt_completion":
        return Row(number, prompt=values["prompt"], target=values["completion"])
    if kind == "instruction":
        prompt = values["instruction"] + (f"\n\n{values['input']}" if values.get("input") else "")
        return Row(number, prompt=prompt, target=values["output"])
    return Row(number, prompt=values["text"], target=values["label"], label=values["label"])


def _too_long(row: Row) -> bool:
    return max(len(row.prompt), len(row.target), *(len(c) for _, c in row.context), 0) > MAX_FIELD_CHARS


def load_labeled(source: Path | str | bytes, name: str | None = None, schema: Schema | None = None, tokenizer=None,
                 max_length: int | None = None, min_rows: int = MIN_ROWS) -> LabeledData:
    """Read, normalize and validate a labeled file. Never raises for bad rows: see `.report`.

    `source` is a path or the raw bytes of an upload (then `name` gives the format). With a
    tokenizer and `max_length`, token statistics and truncation are reported too.
    """
    data = _load_labeled(source, name, schema, tokenizer, max_length, min_rows)
    data.generated = isinstance(source, str | Path) and generated_note(Path(source)).is_file()
    return data


def _load_labeled(
    source: Path | str | bytes,
    name: str | None = None,
    schema: Schema | None = None,
    tokenizer=None,
    max_length: int | None = None,
    min_rows: int = MIN_ROWS,
) -> LabeledData:
    """Read, normalize and validate a labeled file. Never raises for bad rows: see `.report`.

    `source` is a path or the raw bytes of an upload (then `name` gives the format). With a
    tokenizer and `max_length`, token statistics and truncation are reported too.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"Cannot read {name}: {exc.strerror or exc}.", hint="Check the path.") from exc
    else:
        raw = source
        name = name or "upload"
    records, columns, report = read_records(raw, name)
    sha = hashlib.sha256(raw).hexdigest()
    report.stats.update({"rows_read": len(records), "columns": list(columns)})
    schema = schema or detect_schema(columns)
    if schema is None:
        report.add("error", f"No supported columns found (the file has: {', '.join(columns) or 'none'}). "
                            "Expected question/answer, instruction/input/output, prompt/completion, "
                            "messages, or text/label.")
        return LabeledData(name, sha, None, tuple(columns), [], report)
    absent = [col for role, col in schema.columns if col not in columns]
    if absent:
        report.add("error", f"Column(s) {', '.join(absent)} not in the file (it has: {', '.join(columns)}).")
        return LabeledData(name, sha, schema, tuple(columns), [], report)
    problem = mapping_problem(schema)
    if problem:
        report.add("error", problem)
        return LabeledData(name, sha, schema, tuple(columns), [], report)

    rows: list[Row] = []
    unusable: dict[str, list[int]] = {}
    oversize: list[int] = []
    seen: dict[tuple, int] = {}
    duplicates: list[int] = []
    targets_by_prompt: dict[tuple, set[str]] = {}
    for number, rec in records:
        row = _normalize(number, rec, schema)
        if isinstance(row, str):
            unusable.setdefault(row, []).append(number)
            continue
        if _too_long(row):
            oversize.append(number)
            continue
        key = (row.system, row.context, row.prompt, row.target)
        if key in seen:
            duplicates.append(number)
            continue
        seen[key] = number
        targets_by_prompt.setdefault((row.system, row.context, row.prompt), set()).add(row.target)
        rows.append(row)
    for reason, numbers in unusable.items():
        report.add("warning", f"{len(numbers)} row(s) skipped: {reason}", numbers)
    if oversize:
        report.add("warning", f"{len(oversize)} row(s) skipped: a field is longer than {MAX_FIELD_CHARS} characters",
                   oversize)
    if duplicates:
        report.add("info", f"{len(duplicates)} duplicate row(s) removed", duplicates)
    conflicts = [seen[(k[0], k[1], k[2], t)] for k, ts in targets_by_prompt.items() if len(ts) > 1 for t in ts]
    if conflicts:
        report.add("warning", "The same prompt has different answers", sorted(conflicts))
    report.stats.update({
        "usable": len(rows),
        "skipped_empty": sum(len(v) for v in unusable.values()),
        "skipped_oversize": len(oversize),
        "duplicates_removed": len(duplicates),
    })

    labels: tuple[str, ...] = ()
    if schema.kind == "classification" and rows:
        counts = Counter(r.label for r in rows)
        labels = tuple(sorted(counts))
        report.stats["label_counts"] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        if len(counts) > MAX_LABELS:
            report.add("error", f"The label column has {len(counts)} different values (at most {MAX_LABELS}); "
                                "is it free text rather than a label?")
        elif len(counts) < 2:
            report.add("error", f"Only one label ({next(iter(counts))!r}); classification needs at least two.")
        few = {label: n for label, n in counts.items() if n < MIN_PER_LABEL}
        if few and len(counts) <= MAX_LABELS:
            listing = ", ".join(f"{label!r}: {n}" for label, n in sorted(few.items()))
            report.add("error", f"Too few examples for label(s) {listing}; each label needs at least {MIN_PER_LABEL}.",
                       [r.number for r in rows if r.label in few])

    data = LabeledData(name, sha, schema, tuple(columns), rows, report, labels)
    if tokenizer is not None and max_length and rows:
        _token_checks(data, tokenizer, max_length)
    if len(data.rows) < min_rows:
        report.add("error", f"Only {len(data.rows)} usable row(s); at least {min_rows} are needed to fine-tune.")
    return data


def _token_checks(data: LabeledData, tokenizer, max_length: int) -> None:
    lengths, over, answer_cut = [], [], []
    kept = []
    for row in data.rows:
        n_prompt, n_total = sequence_lengths(tokenizer, row, data.labels)
        lengths.append(n_total)
        if n_prompt >= max_length:
            answer_cut.append(row.number)
            continue
        if n_total > max_length:
            over.append(row.number)
        kept.append(row)
    report = data.report
    if answer_cut:
        report.add("warning", f"{len(answer_cut)} row(s) skipped: the prompt alone is longer than the max length "
                              f"({max_length} tokens), nothing of the answer would be trained", answer_cut)
    if over:
        report.add("warning", f"{len(over)} row(s) ({len(over) / len(data.rows):.0%}) are longer than the max length "
                              f"({max_length} tokens) and will be truncated", over)
    data.rows = kept
    report.stats["usable"] = len(kept)
    report.stats["tokens"] = {
        "min": min(lengths), "median": int(statistics.median(lengths)), "mean": round(statistics.fmean(lengths), 1),
        "max": max(lengths), "total": sum(lengths), "max_length": max_length,
        "truncated_rows": len(over), "truncation_share": round(len(over) / len(lengths), 4),
        "prompt_too_long_rows": len(answer_cut),
    }


# ---------------------------------------------------------------------------------------------
# Splitting


def split(data: LabeledData | list[Row], eval_fraction: float = 0.1, seed: int = 42) -> tuple[list[Row], list[Row]]:
    """A seeded train / held-out split (stratified by label for classification).

    Deterministic for a given file, fraction and seed: the evaluation of a fine-tuned adapter
    calls this with the adapter's `eval_fraction` and `seed` to get the rows it never saw.
    """
    rows = data.rows if isinstance(data, LabeledData) else list(data)
    if eval_fraction <= 0 or len(rows) < 2:
        return list(rows), []
    from datasets import ClassLabel, Dataset

    index = list(range(len(rows)))
    ds = Dataset.from_dict({"i": index, "label": [r.label or "" for r in rows]})
    n_eval = max(1, round(len(rows) * eval_fraction))
    stratify = None
    labels = sorted(set(ds["label"]))
    if len(labels) > 1 and n_eval >= len(labels) and len(rows) - n_eval >= len(labels):
        ds = ds.cast_column("label", ClassLabel(names=labels))
        stratify = "label"
    parts = ds.train_test_split(test_size=n_eval, seed=seed, stratify_by_column=stratify)
    train = [rows[i] for i in sorted(parts["train"]["i"])]
    held = [rows[i] for i in sorted(parts["test"]["i"])]
    return train, held
