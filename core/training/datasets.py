"""Labeled data: read CSV / JSONL / JSON, detect the schema, validate, format for the model, split.

One normalized row type for every schema (`Row`: the prompt side and the target), and one
formatting function used for training *and* inference, so a fine-tuned arm is prompted exactly
as it was trained:

    messages = chat_messages(row, labels)          # [system?] + user turn(s): the prompt
    target   = row.target                          # the assistant answer (the trained part)

`chat_messages` is what the evaluation and compare arms must send to the fine-tuned model
(through the tokenizer's chat template with `add_generation_prompt=True`); training appends
`{"role": "assistant", "content": row.target}` and computes the loss on the assistant tokens only.

Supported schemas (column names are matched case-insensitively, with a few aliases):

    qa                 question, answer
    instruction        instruction, [input], output
    prompt_completion  prompt, completion
    chat               messages  (a list of {"role", "content"}; the last assistant turn is the target)
    classification     text, label  (trained as generating the label)

For evaluation: `load_labeled(path)` then `split(data, eval_fraction, seed)` gives the same
held-out rows the fine-tune used (the adapter's meta.json stores `eval_fraction`, `seed` and the
held-out row numbers).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.runtime.errors import CrossroadsError

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_FIELD_CHARS = 20_000
MIN_ROWS = 10
MIN_PER_LABEL = 3
MAX_LABELS = 50
ROW_NUMBERS_SHOWN = 20

KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required roles, optional roles)
    "qa": (("question", "answer"), ()),
    "instruction": (("instruction", "output"), ("input",)),
    "prompt_completion": (("prompt", "completion"), ()),
    "chat": (("messages",), ()),
    "classification": (("text", "label"), ()),
}
KIND_TITLES = {
    "qa": "Question / answer",
    "instruction": "Instruction / input / output",
    "prompt_completion": "Prompt / completion",
    "chat": "Chat messages",
    "classification": "Text / label (classification)",
}
ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "q", "query"),
    "answer": ("answer", "a", "response", "reply"),
    "instruction": ("instruction", "instructions"),
    "input": ("input", "context"),
    "output": ("output",),
    "prompt": ("prompt",),
    "completion": ("completion",),
    "messages": ("messages", "conversation", "conversations"),
    "text": ("text", "sentence", "content", "ticket", "document"),
    "label": ("label", "labels", "category", "class", "intent", "target"),
}
# Detection order: the most specific schema first.
DETECTION_ORDER = ("chat", "instruction", "prompt_completion", "qa", "classification")
CLASSIFY_INSTRUCTION = "Classify the text into one of these labels: {labels}. Answer with the label only."


class DataError(CrossroadsError):
    """Labeled data that cannot be read or used for training."""


# ---------------------------------------------------------------------------------------------
# Types


@dataclass(frozen=True)
class Schema:
    """Which column plays which role. `columns` is a tuple of (role, column) pairs."""

    kind: str
    columns: tuple[tuple[str, str], ...]

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.columns)

    @classmethod
    def of(cls, kind: str, mapping: dict[str, str]) -> Schema:
        if kind not in KINDS:
            raise DataError(f"Unknown data format {kind!r}.", hint=f"Use one of: {', '.join(KINDS)}.")
        return cls(kind, tuple((role, col) for role, col in mapping.items() if col))

    def as_dict(self) -> dict:
        return {"kind": self.kind, "mapping": self.mapping}


@dataclass(frozen=True)
class Row:
    """One usable example, normalized. `number` is the 1-based row (CSV) or line (JSONL) number.

    `prompt` is the user text; `context` holds earlier chat turns (role, content) for the chat
    schema; `target` is what the model is trained to answer; `label` is set for classification.
    """

    number: int
    prompt: str
    target: str
    context: tuple[tuple[str, str], ...] = ()
    system: str | None = None
    label: str | None = None

    def as_dict(self) -> dict:
        out = {"row": self.number, "prompt": self.prompt, "target": self.target}
        if self.label is not None:
            out["label"] = self.label
        return out


@dataclass(frozen=True)
class Issue:
    level: str  # "error" | "warning" | "info"
    message: str
    rows: tuple[int, ...] = ()

    def text(self) -> str:
        if not self.rows:
            return self.message
        shown = ", ".join(map(str, self.rows[:ROW_NUMBERS_SHOWN]))
        more = f" and {len(self.rows) - ROW_NUMBERS_SHOWN} more" if len(self.rows) > ROW_NUMBERS_SHOWN else ""
        return f"{self.message} (rows {shown}{more})"


@dataclass
class ValidationReport:
    issues: list[Issue] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "warning"]

    def add(self, level: str, message: str, rows=()) -> None:
        self.issues.append(Issue(level, message, tuple(rows)))

    def reason(self) -> str:
        """The first error, for messages like "cannot start: <reason>"."""
        return self.errors[0].text() if self.errors else ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "stats": self.stats,
                "issues": [{"level": i.level, "message": i.text(), "rows": list(i.rows)} for i in self.issues]}


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

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def kind(self) -> str | None:
        return self.schema.kind if self.schema else None

    def require_valid(self) -> LabeledData:
        if not self.ok:
            raise DataError(f"{self.name}: {self.report.reason()}",
                            hint="Fix the file (or the column mapping) and upload it again.")
        return self


# ---------------------------------------------------------------------------------------------
# Reading


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
            except ValueError as exc:
                bad.append(i)
                first_error = first_error or f"line {i}: {exc.msg}"
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
        except ValueError as exc:
            raise DataError(f"{name} is not valid JSON (line {exc.lineno}: {exc.msg}).",
                            hint="Upload a JSON array of objects, or JSONL with one object per line.") from exc
        if isinstance(value, dict):  # {"data": [...]} or similar: take the single list inside
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if len(lists) == 1 else None
        if not isinstance(value, list):
            raise DataError(f"{name} must hold a JSON array of objects.",
                            hint='For example [{"question": "...", "answer": "..."}, ...].')
        bad = [i for i, v in enumerate(value, start=1) if not isinstance(v, dict)]
        if bad:
            report.add("error", "Array items that are not JSON objects", bad)
        records = [(i, v) for i, v in enumerate(value[:MAX_ROWS], start=1) if isinstance(v, dict)]
        columns = _columns(records)
    return records, columns, report


def _columns(records: list[tuple[int, dict]]) -> list[str]:
    seen: dict[str, None] = {}
    for _, rec in records[:1000]:
        for key in rec:
            seen.setdefault(str(key), None)
    return list(seen)


def detect_schema(columns: list[str] | tuple[str, ...]) -> Schema | None:
    """The most specific schema whose required roles all have a column (None if none fits)."""
    lower = {c.lower().strip(): c for c in columns}

    def find(role: str) -> str | None:
        for alias in ALIASES[role]:
            if alias in lower:
                return lower[alias]
        return None

    for kind in DETECTION_ORDER:
        required, optional = KINDS[kind]
        found = {role: find(role) for role in required + optional}
        if all(found[r] for r in required):
            return Schema.of(kind, {r: c for r, c in found.items() if c})
    return None


# ---------------------------------------------------------------------------------------------
# Normalizing and validating


def _cell(value) -> str | None:
    """A cell as stripped text; None when empty, NaN or not a scalar."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    if not text or text.lower() in ("nan", "null", "none"):
        return None
    return text


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


def load_labeled(
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
# Formatting (shared by training and inference)


def chat_messages(row: Row, labels: tuple[str, ...] | list[str] = (), system: str | None = None) -> list[dict]:
    """The prompt side of `row` as chat messages: [system] + earlier turns + the user turn.

    This is the ONE formatting function: training appends the assistant turn
    `{"role": "assistant", "content": row.target}` and learns only that turn; inference sends
    exactly these messages with `add_generation_prompt=True`. For classification the user turn
    names the allowed labels (`labels`, stored in the adapter's meta.json), so pass the same
    labels at inference. Without a system message the model's chat template adds its default one.
    """
    messages: list[dict] = []
    system = system if system is not None else row.system
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend({"role": role, "content": content} for role, content in row.context)
    user = row.prompt
    if row.label is not None:
        user = CLASSIFY_INSTRUCTION.format(labels=", ".join(labels)) + f"\n\nText: {row.prompt}"
    messages.append({"role": "user", "content": user})
    return messages


def classification_row(text: str, number: int = 0) -> Row:
    """A Row for classifying `text` at inference (label unknown); use with `chat_messages(row, labels)`."""
    return Row(number, prompt=text, target="", label="")


def training_messages(row: Row, labels=(), system: str | None = None) -> list[dict]:
    return chat_messages(row, labels, system) + [{"role": "assistant", "content": row.target}]


def _ids(tokenizer, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=True)
    if hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    return list(encoded)


def sequence_lengths(tokenizer, row: Row, labels=()) -> tuple[int, int]:
    """(prompt tokens, prompt + answer tokens) with the chat template applied."""
    prompt = _ids(tokenizer, chat_messages(row, labels), True)
    full = _ids(tokenizer, training_messages(row, labels), False)
    return len(prompt), len(full)


def tokenize_row(tokenizer, row: Row, labels=(), max_length: int = 256) -> dict:
    """input_ids / attention_mask / labels for one row; labels are -100 on the prompt (loss on the answer only)."""
    prompt = _ids(tokenizer, chat_messages(row, labels), True)
    full = _ids(tokenizer, training_messages(row, labels), False)
    if full[: len(prompt)] != prompt:  # templates that re-render earlier turns differently
        full = prompt + full[len(prompt):]
    # The template ends the assistant turn with end-of-turn + newline: train up to end-of-turn.
    end = len(full)
    while end > len(prompt) + 1 and tokenizer.decode(full[end - 1 : end]).strip() == "":
        end -= 1
    full = full[:end][:max_length]
    n_prompt = min(len(prompt), len(full))
    return {
        "input_ids": full,
        "attention_mask": [1] * len(full),
        "labels": [-100] * n_prompt + full[n_prompt:],
    }


@dataclass(frozen=True)
class PromptPreview:
    number: int
    prompt_text: str  # rendered template, not trained on
    trained_text: str  # the part the loss is computed on
    cut_text: str  # beyond max_length (dropped)
    tokens: int
    trained_tokens: int


def preview(data: LabeledData, tokenizer, max_length: int, n: int = 3) -> list[PromptPreview]:
    """The exact training text of the first `n` rows, split into prompt / trained / truncated parts."""
    out = []
    for row in data.rows[:n]:
        full = tokenize_row(tokenizer, row, data.labels, max_length=10**9)["input_ids"]
        encoded = tokenize_row(tokenizer, row, data.labels, max_length)
        ids, labels = encoded["input_ids"], encoded["labels"]
        n_prompt = sum(1 for x in labels if x == -100)
        out.append(PromptPreview(
            number=row.number,
            prompt_text=tokenizer.decode(ids[:n_prompt]),
            trained_text=tokenizer.decode(ids[n_prompt:]),
            cut_text=tokenizer.decode(full[len(ids):]) if len(full) > len(ids) else "",
            tokens=len(ids),
            trained_tokens=len(ids) - n_prompt,
        ))
    return out


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


def to_dataset(rows: list[Row], tokenizer, labels=(), max_length: int = 256):
    """A tokenized `datasets.Dataset` (input_ids, attention_mask, labels, length)."""
    from datasets import Dataset

    encoded = [tokenize_row(tokenizer, r, labels, max_length) for r in rows]
    return Dataset.from_dict({
        "input_ids": [e["input_ids"] for e in encoded],
        "attention_mask": [e["attention_mask"] for e in encoded],
        "labels": [e["labels"] for e in encoded],
        "length": [len(e["input_ids"]) for e in encoded],
    })


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
