"""Task kinds beyond question answering: classification and extraction, read, validated, previewed.

    data = load_task_data(path)             # TaskData: task, rows, labels / entity_types, report
    data.require_valid()                    # TaskDataError with the first error
    preview_row(data.rows[0], data.spec)    # the exact prompt and target of a row

Tasks (detected from the columns, `detect_task`):

    extraction      text + an entities column: a JSON list of {"text": ..., "type": ...} per row
                    (a JSON string in CSV), or a CoNLL file ("token ... tag" per line, BIO/IOB tags,
                    a blank line between sentences)
    classification  text + label (read by core.training.datasets, which already trains labels)
    qa              any other supported labeled format (question/answer, instruction, chat, ...)

Like `datasets.load_labeled`, reading never raises for bad rows: the report lists them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.training.data_files import MAX_FIELD_CHARS, read_records
from core.training.datasets import MIN_ROWS, load_labeled
from core.training.schema import ALIASES, DataError, ValidationReport, detect_schema

TASKS = ("qa", "classification", "extraction")
TASK_TITLES = {"qa": "Question answering", "classification": "Classification",
               "extraction": "Extraction (entities)"}
ENTITY_COLUMNS = ("entities", "entity", "spans", "ner", "annotations")
CONLL_SUFFIXES = (".conll", ".bio", ".iob", ".iob2", ".txt")
MAX_ENTITY_TYPES = 30
_TAG = re.compile(r"^(O|[BIES]-\S+|[BIES]_\S+)$")


class TaskDataError(DataError):
    """A task file that cannot be used (wrong task for its columns, malformed entities, ...)."""


@dataclass(frozen=True)
class Entity:
    text: str
    type: str

    def as_dict(self) -> dict:
        return {"text": self.text, "type": self.type}


def entities_json(entities) -> str:
    """The target an extraction model is trained to write: a compact JSON list."""
    return json.dumps([e.as_dict() for e in entities], ensure_ascii=False)


@dataclass(frozen=True)
class TaskRow:
    """One example: a text and its label (classification), entities (extraction) or answer (qa)."""

    number: int
    text: str
    label: str | None = None
    entities: tuple[Entity, ...] | None = None
    answer: str | None = None

    @property
    def target(self) -> str:
        if self.entities is not None:
            return entities_json(self.entities)
        return self.label if self.label is not None else (self.answer or "")

    def as_dict(self) -> dict:
        out: dict = {"row": self.number, "text": self.text, "target": self.target}
        if self.label is not None:
            out["label"] = self.label
        if self.entities is not None:
            out["entities"] = [e.as_dict() for e in self.entities]
        return out


@dataclass
class TaskData:
    name: str
    sha256: str
    task: str
    rows: list[TaskRow]
    report: ValidationReport
    labels: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def spec(self):
        from core.training.task_prompts import TaskSpec

        return TaskSpec(self.task, self.labels, self.entity_types)

    def require_valid(self) -> TaskData:
        if not self.ok:
            raise TaskDataError(f"{self.name}: {self.report.reason()}", hint="Fix the file and upload it again.")
        return self

    def subset(self, rows: list[TaskRow], name: str | None = None) -> TaskData:
        """The same task and label set / types over other rows (splits, learning-curve fractions)."""
        sha = hashlib.sha256("\n".join(f"{r.number}\t{r.text}\t{r.target}" for r in rows).encode()).hexdigest()
        return TaskData(name or self.name, sha, self.task, list(rows), ValidationReport(stats={"usable": len(rows)}),
                        self.labels, self.entity_types, self.columns)


# ---------------------------------------------------------------------------------------------
# Detection


def _find(columns, names) -> str | None:
    lower = {str(c).lower().strip(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def detect_task(columns) -> str | None:
    """extraction (text + entities column), classification (text + label), qa (another known
    schema), or None."""
    if _find(columns, ALIASES["text"]) and _find(columns, ENTITY_COLUMNS):
        return "extraction"
    schema = detect_schema(list(columns))
    if schema is None:
        return None
    return "classification" if schema.kind == "classification" else "qa"


def looks_like_conll(raw: bytes, name: str) -> bool:
    """A CoNLL / BIO token file: most non-blank lines are `token ... TAG` with a BIO-style last column."""
    suffix = Path(name).suffix.lower()
    if suffix in (".csv", ".tsv", ".json", ".jsonl", ".ndjson"):
        return False
    try:
        text = raw[:20000].decode("utf-8-sig", errors="replace")
    except Exception:  # noqa: BLE001 - undecodable: not CoNLL
        return False
    lines = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("-DOCSTART-")][:200]
    return bool(lines) and _tag_column(lines) is not None


def _tag_column(lines: list[list[str]]) -> int | None:
    """The rightmost column (after the token) holding a BIO tag on at least 90% of the lines: the
    NER tag of `token POS chunk NER` files and of `token TAG feature` ones alike."""
    width = min(len(parts) for parts in lines)
    for col in range(width - 1, 0, -1):
        if sum(1 for parts in lines if _TAG.match(parts[col])) >= 0.9 * len(lines):
            return col
    return None


# ---------------------------------------------------------------------------------------------
# Loading


def load_task_data(source: Path | str | bytes, name: str | None = None, task: str | None = None,
                   min_rows: int = MIN_ROWS, purpose: str = "train") -> TaskData:
    """Read and validate a task file; `task` None = detected. `purpose` "test" relaxes the size
    checks a training file needs (min_rows, examples per label)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TaskDataError(f"Cannot read {name}: {exc.strerror or exc}.", hint="Check the path.") from exc
    else:
        raw, name = source, name or "upload"
    if task is not None and task not in TASKS:
        raise TaskDataError(f"Unknown task {task!r}.", hint=f"Use one of: {', '.join(TASKS)}.")
    sha = hashlib.sha256(raw).hexdigest()
    if looks_like_conll(raw, name):
        if task not in (None, "extraction"):
            raise TaskDataError(f"{name} is a CoNLL token/tag file: it holds an extraction task, not {task}.",
                                hint="Use --task extraction (or leave the task to be detected).")
        return _finish(_from_conll(raw, name, sha), min_rows)
    records, columns, report = read_records(raw, name)
    detected = detect_task(columns)
    task = task or detected
    if task is None:
        report.add("error", f"No supported columns found (the file has: {', '.join(columns) or 'none'}). "
                            "Expected text + label (classification), text + entities (extraction), or "
                            "question/answer-style columns.")
        return TaskData(name, sha, "qa", [], report, columns=tuple(columns))
    if task == "extraction":
        if detected != "extraction":
            report.add("error", f"An extraction file needs a text column and an entities column "
                                f"({', '.join(ENTITY_COLUMNS)}); it has: {', '.join(columns)}.")
            return TaskData(name, sha, task, [], report, columns=tuple(columns))
        return _finish(_from_entity_records(records, columns, report, name, sha), min_rows)
    data = load_labeled(raw, name, min_rows=min_rows)
    if task == "classification" and data.kind != "classification":
        data.report.add("error", f"A classification file needs a text column and a label column; it has: "
                                 f"{', '.join(data.columns)}.")
    if purpose == "test":  # a held-out file may hold few examples of a label
        data.report.issues = [i for i in data.report.issues if not i.message.startswith("Too few examples")]
    if task == "classification":
        rows = [TaskRow(r.number, r.prompt, label=r.label) for r in data.rows]
    else:
        rows = [TaskRow(r.number, r.prompt, answer=r.target) for r in data.rows]
    return TaskData(name, sha, task, rows, data.report, data.labels if task == "classification" else (),
                    columns=data.columns)


def _finish(data: TaskData, min_rows: int) -> TaskData:
    report = data.report
    types = Counter(e.type for r in data.rows for e in r.entities or ())
    data.entity_types = tuple(sorted(types))
    report.stats.update({"usable": len(data.rows), "entity_counts": dict(types.most_common()),
                         "rows_without_entities": sum(1 for r in data.rows if not r.entities)})
    if data.rows and not types:
        report.add("error", "No row has an entity: there is nothing to extract.")
    if len(types) > MAX_ENTITY_TYPES:
        report.add("error", f"{len(types)} different entity types (at most {MAX_ENTITY_TYPES}); is the type "
                            "column free text?")
    if len(data.rows) < min_rows:
        report.add("error", f"Only {len(data.rows)} usable row(s); at least {min_rows} are needed.")
    return data


def _parse_entities(value) -> tuple[Entity, ...] | str:
    """The entities of one cell, or why they are malformed."""
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            value = json.loads(value)
        except ValueError:
            return 'the entities cell is not JSON (expected a list like [{"text": "...", "type": "..."}])'
    if value is None:
        return ()
    if not isinstance(value, list):
        return 'the entities are not a list of {"text", "type"} objects'
    out = []
    for item in value:
        if not isinstance(item, dict):
            return 'an entity is not an object with "text" and "type"'
        text, kind = item.get("text"), item.get("type", item.get("label"))
        if not isinstance(text, str) or not text.strip() or not isinstance(kind, str) or not kind.strip():
            return 'an entity lacks a non-empty "text" or "type"'
        out.append(Entity(text.strip(), kind.strip()))
    return tuple(out)


def _from_entity_records(records, columns, report: ValidationReport, name: str, sha: str) -> TaskData:
    text_col, ent_col = _find(columns, ALIASES["text"]), _find(columns, ENTITY_COLUMNS)
    rows: list[TaskRow] = []
    malformed: dict[str, list[int]] = {}
    not_found: list[int] = []
    empty: list[int] = []
    long: list[int] = []
    seen: set[str] = set()
    duplicates: list[int] = []
    for number, rec in records:
        text = rec.get(text_col)
        text = str(text).strip() if text is not None else ""
        if not text:
            empty.append(number)
            continue
        if len(text) > MAX_FIELD_CHARS:
            long.append(number)
            continue
        entities = _parse_entities(rec.get(ent_col))
        if isinstance(entities, str):
            malformed.setdefault(entities, []).append(number)
            continue
        if any(e.text not in text for e in entities):
            not_found.append(number)
            continue
        if text in seen:
            duplicates.append(number)
            continue
        seen.add(text)
        rows.append(TaskRow(number, text, entities=entities))
    for reason, numbers in malformed.items():
        report.add("error", f"Malformed {ent_col} column in {len(numbers)} row(s): {reason}", numbers)
    if not_found:
        report.add("error", f"{len(not_found)} row(s) name an entity whose text is not in the row's text "
                            "(copy the exact words, same case)", not_found)
    if empty:
        report.add("warning", f"{len(empty)} row(s) skipped: empty {text_col}", empty)
    if long:
        report.add("warning", f"{len(long)} row(s) skipped: longer than {MAX_FIELD_CHARS} characters", long)
    if duplicates:
        report.add("info", f"{len(duplicates)} duplicate text(s) removed", duplicates)
    report.stats.update({"rows_read": len(records), "columns": list(columns)})
    return TaskData(name, sha, "extraction", rows, report, columns=tuple(columns))


def bio_entities(tokens: list[str], tags: list[str]) -> tuple[Entity, ...]:
    """Entities of a BIO / IOB1 / BIOES tagged sentence (tokens joined by single spaces)."""
    out: list[Entity] = []
    current: list[str] = []
    kind = None
    for token, tag in [*zip(tokens, tags, strict=True), ("", "O")]:
        tag = tag.replace("_", "-", 1)
        prefix, _, label = tag.partition("-")
        starts = prefix in ("B", "S") or (prefix in ("I", "E") and label != kind)
        if current and (prefix == "O" or starts):
            out.append(Entity(" ".join(current), kind))
            current, kind = [], None
        if prefix != "O":
            current.append(token)
            kind = label
            if prefix in ("E", "S"):
                out.append(Entity(" ".join(current), kind))
                current, kind = [], None
    return tuple(out)


def _from_conll(raw: bytes, name: str, sha: str) -> TaskData:
    report = ValidationReport()
    text = raw.decode("utf-8-sig", errors="replace")
    rows: list[TaskRow] = []
    tokens: list[str] = []
    tags: list[str] = []
    bad: list[int] = []
    seen: set[str] = set()
    duplicates = 0
    sample = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("-DOCSTART-")][:2000]
    col = _tag_column(sample) if sample else None
    col = -1 if col is None else col

    def close() -> None:
        nonlocal duplicates
        if tokens:
            sentence = " ".join(tokens)
            if sentence in seen:
                duplicates += 1
            else:
                seen.add(sentence)
                rows.append(TaskRow(len(rows) + 1 + duplicates, sentence, entities=bio_entities(tokens, tags)))
        tokens.clear()
        tags.clear()

    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            close()
            continue
        if line.startswith("-DOCSTART-"):
            continue
        parts = line.split()
        if len(parts) < 2 or len(parts) <= col or not _TAG.match(parts[col]):
            bad.append(lineno)
            continue
        tokens.append(parts[0])
        tags.append(parts[col])
    close()
    if bad:
        report.add("warning", f"{len(bad)} line(s) skipped: not `token ... TAG` with a BIO tag", bad)
    if duplicates:
        report.add("info", f"{duplicates} duplicate sentence(s) removed")
    report.stats.update({"rows_read": len(rows) + duplicates, "columns": ["token", "tag"], "format": "conll"})
    return TaskData(name, sha, "extraction", rows, report, columns=("token", "tag"))


# ---------------------------------------------------------------------------------------------
# Preview


def preview_row(row: TaskRow, spec, tokenizer=None) -> dict:
    """The exact prompt a row becomes (chat template applied when a tokenizer is given) and its target."""
    from core.training.task_prompts import task_messages

    messages = task_messages(row.text, spec)
    if tokenizer is not None:
        from core.runtime.generation import chat_text

        prompt = chat_text(tokenizer, messages)
    else:
        prompt = messages[-1]["content"]
    return {"task": spec.task, "row": row.number, "messages": messages, "prompt": prompt, "target": row.target}
