"""Training rows for use with retrieval (RAFT, Zhang et al. 2024, arXiv 2403.10131).

A closed-book adapter handed retrieved context at inference can do worse than RAG alone: it
never saw passages while training. RAFT trains it on the very prompt the rag/hybrid arms send
(`core.knowledge.rag.rag_messages`), so it learns to read the context and answer briefly.

For each Q&A row:
- the top chunks are retrieved from the knowledge base with its own retrieval setting;
- the *oracle* is the chunk of the row's `source` that contains the answer (SQuAD-normalised),
  else that source's best-ranked chunk, else any chunk containing the answer;
- with probability `p` the context is the oracle plus `distractors` hard negatives (the
  retriever's other top chunks), otherwise `distractors + 1` negatives only, so the context is
  always the arms' k passages and the model also learns the fact itself (as in the paper);
- the passage order is shuffled (seeded); the target is the short answer.

Rows whose oracle cannot be found are reported (`RaftBuild.missing`) and either train
closed-book (question and answer, no context) or are dropped: the caller chooses.

The rows are built before the training job starts and written as ordinary chat rows
(`{"messages": [...]}`), so the worker trains them like any chat file; `RaftBuild.mode_meta()`
goes into the adapter's meta (`mode`), which names the hybrid arm "Hybrid (RAFT)".
"""

from __future__ import annotations

import json
import random
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.knowledge.rag import rag_messages
from core.knowledge.retrieval import RetrievalConfig, Retrieved, kb_retrieval, retrieve
from core.runtime.errors import CrossroadsError
from core.runtime.generation import chat_input_ids
from core.runtime.settings import Settings, get_settings
from core.training.datasets import generated_note

DEFAULT_P = 0.8  # the paper's and gorilla raft.py's value
MISSING_POLICIES = ("closed_book", "drop")
MODE_RAFT, MODE_CLOSED_BOOK = "raft", "closed_book"
MAX_LENGTH_STEP = 64  # the fitted max length is rounded up to this
MAX_FITTED_LENGTH = 2048


class RaftError(CrossroadsError):
    """RAFT rows cannot be built with these inputs."""


@dataclass(frozen=True)
class RaftOptions:
    """How RAFT rows are built; each field's help text is reused as the widget tooltip."""

    kb: str = field(metadata={"help": "The knowledge base the adapter will read from (the hybrid arm's)."})
    p: float = field(default=DEFAULT_P, metadata={
        "help": "Share of rows whose context holds the passage with the answer (the rest get distractors only)."})
    distractors: int | None = field(default=None, metadata={
        "help": "Other retrieved passages beside the answer's (default: the arms' k − 1)."})
    missing: str = field(default="closed_book", metadata={
        "help": "Rows whose answer passage is not found: train them closed-book or drop them."})
    seed: int = 42
    retrieval: RetrievalConfig | None = None  # None: the knowledge base's own setting

    def __post_init__(self):
        if not 0.0 <= self.p <= 1.0:
            raise RaftError(f"P must be between 0 and 1, got {self.p}.", hint="e.g. --raft-p 0.8")
        if self.distractors is not None and not 0 <= self.distractors <= 20:
            raise RaftError(f"Distractors must be between 0 and 20, got {self.distractors}.")
        if self.missing not in MISSING_POLICIES:
            raise RaftError(f"Unknown policy {self.missing!r} for rows without an oracle.",
                            hint=f"Use one of {', '.join(MISSING_POLICIES)}.")

    def resolved(self, settings: Settings | None = None) -> RaftOptions:
        """The kb's retrieval setting and the default distractor count filled in."""
        retrieval = self.retrieval or kb_retrieval(self.kb, settings)
        distractors = self.distractors if self.distractors is not None else max(0, retrieval.k - 1)
        return replace(self, retrieval=retrieval, distractors=distractors)


@dataclass(frozen=True)
class QARow:
    number: int
    question: str
    answer: str
    source: str | None = None
    chunk_id: str | None = None  # generated rows: the chunk the question was made from


@dataclass(frozen=True)
class RaftRow:
    """One built row: its passages in prompt order and the chat messages (prompt + target)."""

    number: int
    question: str
    answer: str
    oracle: Retrieved | None
    passages: tuple[Retrieved, ...]
    oracle_in_context: bool
    messages: tuple[dict, ...]

    @property
    def closed_book(self) -> bool:
        return self.oracle is None


@dataclass
class RaftBuild:
    options: RaftOptions
    rows: list[RaftRow]
    missing: list[QARow]  # rows whose oracle was not found (trained closed-book or dropped, per options)
    generated: bool = False

    @property
    def oracle_share(self) -> float:
        with_oracle = [r for r in self.rows if r.oracle is not None]
        return sum(r.oracle_in_context for r in with_oracle) / len(with_oracle) if with_oracle else 0.0

    def mode_meta(self) -> dict:
        """What the adapter's meta records as its mode."""
        o = self.options
        return {"mode": MODE_RAFT, "kb": o.kb, "p": o.p, "distractors": o.distractors, "seed": o.seed,
                "retrieval": o.retrieval.as_dict() if o.retrieval else None, "missing": o.missing,
                "generated": self.generated, "rows": len(self.rows),
                "rows_without_oracle": len(self.missing),
                "rows_with_oracle_in_context": sum(r.oracle_in_context for r in self.rows)}

    def write_jsonl(self, path: Path) -> Path:
        """The training file: one `{"messages": [...]}` per row (an ordinary chat file)."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as fh:
            for row in self.rows:
                fh.write(json.dumps({"messages": list(row.messages)}, ensure_ascii=False) + "\n")
        return path


def closed_book_mode() -> dict:
    return {"mode": MODE_CLOSED_BOOK}


def adapter_mode(meta: dict | None) -> str:
    """`raft` or `closed_book` for an adapter's meta (adapters trained before modes are closed-book)."""
    mode = (meta or {}).get("mode")
    return MODE_RAFT if isinstance(mode, dict) and mode.get("mode") == MODE_RAFT else MODE_CLOSED_BOOK


# ------------------------------------------------------------------------------ matching

def _normalise(text: str) -> str:
    """SQuAD normalisation, the rule of core.evaluation.metrics.normalize_answer (training may not
    import evaluation; tests/unit/test_raft.py checks both agree)."""
    text = "".join(ch for ch in str(text).lower()
                   if not (ch in string.punctuation or unicodedata.category(ch).startswith("P")))
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def contains_answer(text: str, answer: str) -> bool:
    gold = _normalise(answer)
    return bool(gold) and f" {gold} " in f" {_normalise(text)} "


def _file_name(value: str | None) -> str | None:
    return Path(str(value).replace("\\", "/")).name if value and str(value).strip() else None


def find_oracle(row: QARow, ranked: Sequence[Retrieved], all_chunks: Callable[[], Sequence[Retrieved]]) -> Retrieved | None:
    """The chunk holding the row's answer (see the module doc; a generated row's own chunk first);
    `all_chunks` is called only when the ranked candidates have none."""
    if row.chunk_id:  # a generated row names the very chunk its question was made from
        by_id = next((c for c in ranked if c.id == row.chunk_id), None)
        by_id = by_id or next((c for c in all_chunks() if c.id == row.chunk_id), None)
        if by_id is not None:
            return by_id
    source = _file_name(row.source)

    def pick(chunks: Sequence[Retrieved]) -> Retrieved | None:
        if source:
            own = [c for c in chunks if _file_name(c.source) == source]
            return next((c for c in own if contains_answer(c.text, row.answer)), None)
        return next((c for c in chunks if contains_answer(c.text, row.answer)), None)

    found = pick(ranked) or pick(all_chunks())
    if found is None and source:  # the source's best-ranked chunk, then any chunk with the answer
        found = next((c for c in ranked if _file_name(c.source) == source), None)
        found = found or next((c for c in all_chunks() if contains_answer(c.text, row.answer)), None)
    return found


# ------------------------------------------------------------------------------ building

def build_row(row: QARow, oracle: Retrieved | None, ranked: Sequence[Retrieved], options: RaftOptions,
              rng: random.Random) -> RaftRow:
    """One RAFT row from the ranked candidates (`options` resolved). Closed-book when no oracle."""
    if oracle is None:
        messages = ({"role": "user", "content": row.question}, {"role": "assistant", "content": row.answer})
        return RaftRow(row.number, row.question, row.answer, None, (), False, messages)
    negatives = [c for c in ranked if c.id != oracle.id and c.text.strip() != oracle.text.strip()]
    with_oracle = rng.random() < options.p
    n = options.distractors
    passages = [oracle, *negatives[:n]] if with_oracle else negatives[:n + 1]
    rng.shuffle(passages)
    messages = (*rag_messages(row.question, passages), {"role": "assistant", "content": row.answer})
    return RaftRow(row.number, row.question, row.answer, oracle, tuple(passages), with_oracle, messages)


def _kb_chunks(kb: str, settings: Settings) -> list[Retrieved]:
    from core.knowledge.store import open_store

    vs, _ = open_store(kb, settings=settings)
    got = vs._collection.get(include=["documents", "metadatas"])
    return [Retrieved(text=d or "", source=str((m or {}).get("source", "?")), chunk=int((m or {}).get("chunk", 0)),
                      score=0.0, page=(m or {}).get("page"), file_id=(m or {}).get("file_id"), id=i)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]


def build_raft_rows(rows: Sequence[QARow], options: RaftOptions, *, settings: Settings | None = None,
                    embedder=None, generated: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> RaftBuild:
    """RAFT rows for `rows` from `options.kb` (see the module doc). Deterministic for a seed."""
    settings = settings or get_settings()
    options = options.resolved(settings)
    if not rows:
        raise RaftError("No Q&A rows to build training rows from.", hint="Upload a Q&A file or generate rows from the documents.")
    # The arms' ranking, without its score gate (distractors are hard negatives, relevant or not),
    # deep enough to leave `distractors + 1` negatives after the oracle is taken out.
    pool = replace(options.retrieval, k=min(50, max(options.retrieval.k, options.distractors + 2)), min_score=None)
    cache: list[list[Retrieved]] = []

    def all_chunks() -> list[Retrieved]:
        if not cache:
            cache.append(_kb_chunks(options.kb, settings))
        return cache[0]

    rng = random.Random(options.seed)
    built, missing = [], []
    for i, row in enumerate(rows):
        ranked = retrieve(options.kb, row.question, pool, embedder=embedder, settings=settings)
        oracle = find_oracle(row, ranked, all_chunks)
        if oracle is None:
            missing.append(row)
            if options.missing == "drop":
                continue
        built.append(build_row(row, oracle, ranked, options, rng))
        if progress:
            progress(i + 1, len(rows))
    if not built:
        raise RaftError("No row is left: the answer passage was found for none of them.",
                        hint="Check that the knowledge base holds the documents the answers come from.")
    return RaftBuild(options, built, missing, generated)


def qa_rows_from_file(path: Path, schema=None) -> list[QARow]:
    """The Q&A rows of a labeled file (question/answer columns, detected or as `schema` maps them;
    a `source` column when present)."""
    from core.training.data_files import read_records
    from core.training.datasets import load_labeled

    path = Path(path)
    data = load_labeled(path, schema=schema).require_valid()
    if data.kind != "qa":
        raise RaftError(f"{path.name} is {data.kind!r} data; RAFT needs question/answer rows.",
                        hint="Use a file with question and answer columns (and a source column if you have one).")
    records = dict(read_records(path.read_bytes(), path.name)[0])
    out = []
    for row in data.rows:
        record = records.get(row.number) or {}
        source, chunk = record.get("source"), record.get("chunk_id")
        out.append(QARow(row.number, row.prompt, row.target, str(source) if source else None,
                         str(chunk) if chunk else None))
    return out


# ------------------------------------------------------------------------------ Q&A from the documents

GENERATED_METHOD = "cloze (fill-in-the-blank from the knowledge base's sentences, offline)"


def generate_qa_file(kb: str, n: int, path: Path, *, seed: int = 0, settings: Settings | None = None) -> Path:
    """Q&A rows made offline from a knowledge base when the user has none: each is a
    fill-in-the-blank question on one sentence of a chunk (core.knowledge.cloze), with its file
    as `source` and its `chunk_id`, so RAFT finds the oracle and an evaluation can leave those
    chunks out. Written as an ordinary Q&A JSONL (question, answer, source, chunk_id)."""
    from core.knowledge.cloze import kb_cloze_items

    items = kb_cloze_items(kb, n=n, seed=seed, settings=settings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps({"question": item.question, "answer": item.answer, "source": item.source,
                                 "chunk_id": item.chunk_id}, ensure_ascii=False) + "\n")
    generated_note(path).write_text(json.dumps({"kb": kb, "method": GENERATED_METHOD}), encoding="utf-8")
    return path


def generated_mode(path: Path) -> dict | None:
    """What an adapter trained on a generated file records (its meta's `mode.generated`): the
    chunks behind its rows, which a cloze evaluation then leaves out (`trained_chunk_ids`).
    None for a file `generate_qa_file` did not make."""
    try:
        note = json.loads(generated_note(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rows = qa_rows_from_file(Path(path))
    return {"method": note.get("method", GENERATED_METHOD), "kb": note.get("kb"), "rows": len(rows),
            "chunk_ids": sorted({r.chunk_id for r in rows if r.chunk_id})}


def trained_chunk_ids(meta: dict | None, kb: str | None = None) -> list[str]:
    """The chunks an adapter's generated training rows came from (none for a user's own file)."""
    generated = ((meta or {}).get("mode") or {}).get("generated") or {}
    if not isinstance(generated, dict) or (kb and generated.get("kb") != kb):
        return []
    return [str(i) for i in generated.get("chunk_ids", [])]


def fitted_max_length(build: RaftBuild, tokenizer, current: int = 0) -> int:
    """A max length that fits the longest row (prompt with context + answer), rounded up."""
    def n_tokens(messages) -> int:
        return len(chat_input_ids(tokenizer, list(messages), add_generation_prompt=False))

    longest = max(n_tokens(r.messages) for r in build.rows)
    fitted = -(-longest // MAX_LENGTH_STEP) * MAX_LENGTH_STEP
    return min(MAX_FITTED_LENGTH, max(current, fitted))


def training_retrieval(meta: dict | None, kb: str | None) -> RetrievalConfig | None:
    """The retrieval setting a RAFT adapter was trained with on `kb` (None: closed-book, another kb,
    or an adapter trained before the setting was recorded)."""
    mode = (meta or {}).get("mode")
    if adapter_mode(meta) != MODE_RAFT or not kb or mode.get("kb") != kb or not isinstance(mode.get("retrieval"), dict):
        return None
    return RetrievalConfig.from_dict(mode["retrieval"])
