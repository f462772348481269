"""The labeled-data schema: which column plays which role, the normalized row, the validation report.

Supported schemas (column names are matched case-insensitively, with a few aliases):

    qa                 question, answer
    instruction        instruction, [input], output
    prompt_completion  prompt, completion
    chat               messages  (a list of {"role", "content"}; the last assistant turn is the target)
    classification     text, label  (trained as generating the label)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.runtime.errors import CrossroadsError

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


def mapping_problem(schema: Schema) -> str:
    """Why a column mapping cannot be trained on ("" when it can): a required role without a column,
    or one column in two roles (the model would learn to copy its input: nothing to learn)."""
    required, _ = KINDS[schema.kind]
    mapping = schema.mapping
    unmapped = [role for role in required if not mapping.get(role)]
    if unmapped:
        return (f"No column chosen for {' and '.join(unmapped)}: choose which column holds each "
                f"({KIND_TITLES[schema.kind]}).")
    by_column: dict[str, list[str]] = {}
    for role, column in schema.columns:
        by_column.setdefault(column, []).append(role)
    shared = {column: roles for column, roles in by_column.items() if len(roles) > 1}
    if shared:
        column, roles = next(iter(shared.items()))
        return (f"The {' and the '.join(roles)} are the same column ({column!r}): the model would only learn "
                "to repeat its input. Map each role to a different column.")
    return ""
