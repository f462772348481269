"""The four arms behind one interface: base, rag, ft (LoRA adapter), hybrid (adapter + RAG).

Fairness by construction:
- one engine (`core.runtime.engines`) for every arm: each row names its model, the base or the
  adapter (hf: routed per row on the one base model; ct2: the adapter merged into a CTranslate2 copy of the same quantization),
  so base and fine-tuned arms always run with the same engine and quantization;
- base and ft receive the very same messages (the adapter's training format); rag and hybrid
  receive the very same retrieved context and messages: per pair, only the weights differ;
- one `Decoding` for every arm;
- all arms of a question are generated in one batch, so no arm is favoured by a warm cache or
  a quiet moment on the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from core.knowledge.rag import dont_know_message, rag_messages
from core.knowledge.retrieval import RetrievalConfig, Retrieved, kb_retrieval, retrieve
from core.knowledge.retrieval_setting import kb_setting_origin, setting_record
from core.knowledge.sanitize import sanitize_answer
from core.runtime.errors import CrossroadsError
from core.runtime.generation import ChatRow, Decoding, chat_input_ids, chat_text
from core.runtime.limits import check_question, context_window
from core.runtime.settings import Settings, get_settings
from core.training.raft import adapter_mode, training_retrieval

ARMS = ("base", "rag", "ft", "hybrid")
ARM_TITLES = {"base": "Base", "rag": "RAG", "ft": "Fine-tuned", "hybrid": "Hybrid (FT + RAG)"}
ARM_HELP = {
    "base": "The base model alone, no context.",
    "rag": "The base model with retrieved context from the knowledge base.",
    "ft": "The base model with the LoRA adapter, no context.",
    "hybrid": "The LoRA adapter and the same retrieved context as RAG.",
}
RAFT_HYBRID_TITLE = "Hybrid (RAFT)"  # the hybrid arm with an adapter trained to read context (core/training/raft.py)
# A RAFT adapter was trained to read passages; its "fine-tuned" arm gets none, which must show.
RAFT_FT_TITLE = "Fine-tuned (RAFT, no context)"
RAFT_TITLES = {"ft": RAFT_FT_TITLE, "hybrid": RAFT_HYBRID_TITLE}
RAFT_HELP = {
    "ft": "The RAFT adapter answering without any context: it was trained to read retrieved passages, "
          "so this arm shows only what its weights hold.",
    "hybrid": "The RAFT adapter reading the same retrieved context as RAG (what it was trained for).",
}
RETRIEVAL_ARMS = frozenset({"rag", "hybrid"})
ADAPTER_ARMS = frozenset({"ft", "hybrid"})


def arm_title(arm: str, adapter_mode: str | None = None) -> str:
    """The arm's display title everywhere (forms, answers, reports, exports); `adapter_mode` is the
    adapter's (`raft` or `closed_book`)."""
    if adapter_mode == "raft" and arm in RAFT_TITLES:
        return RAFT_TITLES[arm]
    return ARM_TITLES.get(arm, arm)


def adapter_mode_of(adapter: str | None) -> str | None:
    """`raft` / `closed_book` for a saved adapter's name (None without one, or when unreadable)."""
    from core.training.adapters import get_adapter

    try:
        return adapter_mode(get_adapter(adapter).meta) if adapter else None
    except CrossroadsError:
        return None


def arm_help(arm: str, adapter_mode: str | None = None) -> str:
    return (RAFT_HELP if adapter_mode == "raft" else ARM_HELP).get(arm, ARM_HELP.get(arm, ""))


class ArmsError(CrossroadsError):
    """The chosen arms cannot run with this setup."""


def starting_retrieval(kb: str | None, adapter: str | None = None,
                       settings: Settings | None = None) -> tuple[RetrievalConfig, str]:
    """The retrieval setting a comparison or evaluation starts from, and what it is in words.

    A RAFT adapter trained on this kb learned to read the context of one setting: its arms start
    from that setting, so it is measured as it was trained. Otherwise the kb's own setting.
    """
    if not kb:
        return RetrievalConfig(), "the default"
    if adapter:
        from core.training.adapters import get_adapter

        try:
            trained = training_retrieval(get_adapter(adapter, settings).meta, kb)
        except CrossroadsError:
            trained = None  # a missing adapter is reported where it is opened
        if trained is not None:
            return trained, f"the setting adapter {adapter} was trained with"
    try:
        return kb_retrieval(kb, settings), f"the kb's setting, {kb_setting_origin(kb, settings)}"
    except CrossroadsError:
        return RetrievalConfig(), "the default"


def parse_arms(text: str | Sequence[str]) -> tuple[str, ...]:
    names = [a.strip() for a in (text.split(",") if isinstance(text, str) else text) if a.strip()]
    unknown = [a for a in names if a not in ARMS]
    if unknown or not names:
        raise ArmsError(f"Arm(s) not available: {', '.join(unknown) or '(none given)'}.",
                        hint=f"Choose from {', '.join(ARMS)}.")
    return tuple(a for a in ARMS if a in names)  # canonical order, no duplicates


@dataclass(frozen=True)
class ArmSetup:
    """What every arm shares for one comparison or evaluation."""

    arms: tuple[str, ...] = ARMS
    kb: str | None = None
    adapter: str | None = None
    # None: where the arms start (`starting_retrieval`): a RAFT adapter's training setting, else the kb's own
    retrieval: RetrievalConfig | None = None
    decoding: Decoding = field(default_factory=Decoding)

    def __post_init__(self):
        if self.retrieval is None:
            object.__setattr__(self, "retrieval", starting_retrieval(self.kb, self.adapter)[0])
        if needs := [a for a in self.arms if a in RETRIEVAL_ARMS] if not self.kb else []:
            raise ArmsError(f"The {', '.join(needs)} arm(s) need a knowledge base.",
                            hint="Choose a knowledge base (Knowledge page), or leave those arms out.")
        if needs := [a for a in self.arms if a in ADAPTER_ARMS] if not self.adapter else []:
            raise ArmsError(f"The {', '.join(needs)} arm(s) need a fine-tuned adapter.",
                            hint="Train one on the Fine-tune page, or leave those arms out.")

    def describe(self) -> dict:
        return {"arms": list(self.arms), "kb": self.kb, "adapter": self.adapter,
                "retrieval": self.retrieval_record(), "decoding": vars(self.decoding).copy()}

    def retrieval_record(self) -> dict:
        """The retrieval setting with where it came from and what this screen overrode."""
        base, base_from = starting_retrieval(self.kb, self.adapter)
        return setting_record(self.retrieval, self.kb, base=base, base_from=base_from)


@dataclass
class ArmAnswer:
    """One arm's answer to one question, with its figures."""

    arm: str
    messages: list[dict]
    sources: list[Retrieved] = field(default_factory=list)
    retrieval_ms: float | None = None
    text: str = ""
    fixed: bool = False  # answered without generation (nothing relevant retrieved)
    first_token_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0
    answer_tokens: int = 0
    engine: dict = field(default_factory=dict)  # {"engine": "ct2", "quantization": "float32", "fidelity": {...}}
    load_ms: float | None = None  # model conversion/loading this answer waited for (first answer only)
    title: str = ""  # the arm's display title for this setup ("Hybrid (RAFT)" with a RAFT adapter)
    note: str = ""  # e.g. passages left out so the prompt fits the model's context window

    @property
    def answer(self) -> str:
        return sanitize_answer(self.text).strip()

    @property
    def tokens_per_s(self) -> float:
        return self.answer_tokens / (self.total_ms / 1000) if self.total_ms > 0 and self.answer_tokens else 0.0

    def record(self, with_text: bool = True) -> dict:
        """The JSON record of the CLI, the exports and the reports."""
        round2 = lambda v: None if v is None else round(v, 2)  # noqa: E731
        return {
            "title": self.title or arm_title(self.arm),
            "answer": self.answer,
            "sources": [s.as_source() if with_text else {**s.as_source(), "text": s.text[:300]} for s in self.sources],
            "retrieval_ms": round2(self.retrieval_ms),
            "first_token_ms": round2(self.first_token_ms),
            "total_ms": round2(self.total_ms + (self.retrieval_ms or 0)),
            "generation_ms": round2(self.total_ms),
            "prompt_tokens": self.prompt_tokens,
            "tokens": self.answer_tokens,
            "tokens_per_s": round(self.tokens_per_s, 2),
            "answered_without_generation": self.fixed,
            "engine": self.engine.get("engine"),
            "quantization": self.engine.get("quantization"),
            # how far this engine's answers are from the fp32 reference ("fast, approximate" for int8)
            "fidelity": (self.engine.get("fidelity") or {}).get("label"),
            # Loading is never inside the timings above; when this answer waited for it, load_ms says how long.
            "load_ms": round2(self.load_ms),
            **({"note": self.note} if self.note else {}),
        }


@dataclass(frozen=True)
class Turn:
    """An earlier exchange of one arm's own conversation."""

    question: str
    answer: str


class Arms:
    """Answers questions with the chosen arms; one engine, one decoding, batched generation."""

    def __init__(self, setup: ArmSetup, settings: Settings | None = None, *, embedder=None,
                 progress: Callable[[str], None] | None = None):
        from core.runtime.engines import engine_is_loaded, get_engine

        self.setup = setup
        self.settings = settings or get_settings()
        self._embedder = embedder  # None: retrieval uses the configured (cached) embedder
        self.adapter_meta: dict = {}
        self.adapter_mode: str | None = None  # raft or closed_book (core/training/raft.py)
        self.labels: tuple[str, ...] = ()
        start = time.perf_counter()
        warm = engine_is_loaded(self.settings)
        self.engine = get_engine(self.settings, progress)
        if setup.adapter:
            from core.training.adapter_checks import check_adapter_folder
            from core.training.adapters import get_adapter

            record = get_adapter(setup.adapter, self.settings)
            self.adapter_meta = record.meta
            self.adapter_mode = adapter_mode(record.meta)
            self.labels = tuple((record.meta.get("data") or {}).get("labels") or ())
            check_adapter_folder(record.path, self.settings)
            self.engine.load_adapters({setup.adapter: record.path}, progress)
        self.tokenizer = self.engine.tokenizer
        # What the first answer waited for before generating (conversion, loading); None when warm.
        waited_ms = (time.perf_counter() - start) * 1000
        self._pending_load_ms: float | None = None if warm and waited_ms < 1000 else waited_ms

    def title(self, arm: str) -> str:
        return arm_title(arm, self.adapter_mode)

    def provenance(self) -> dict:
        """What produced these answers: kept with each Compare exchange and its exports."""
        setup = self.setup
        return {"arms": list(setup.arms), "kb": setup.kb, "adapter": setup.adapter,
                "adapter_mode": self.adapter_mode if setup.adapter else None,
                "retrieval": setup.retrieval_record() if setup.kb and RETRIEVAL_ARMS & set(setup.arms) else None,
                "engine": self.engine.describe(), "model": self.settings.model_name,
                "generator": self.settings.generator,
                "decoding": vars(setup.decoding).copy()}

    def warm_up(self) -> None:
        """One tiny generation and one query embedding, so the first real answer's timings are not
        inflated by one-time initialisation (lazy kernels, tokenizer caches)."""
        from core.runtime import models

        if RETRIEVAL_ARMS & set(self.setup.arms):
            (self._embedder or models.load_embedder(self.settings)).embed_query("warm-up")
        models_used = {self.setup.adapter if arm in ADAPTER_ARMS else None for arm in self.setup.arms}
        self.engine.generate([ChatRow([{"role": "user", "content": "Hi"}], name) for name in models_used],
                             Decoding(max_new_tokens=2))

    @property
    def is_classifier(self) -> bool:
        return bool(self.labels)

    # ------------------------------------------------------------------ prompts

    def plain_messages(self, question: str, history: Sequence[Turn] = (), labels: Sequence[str] = ()) -> list[dict]:
        """The no-context prompt: exactly the format the adapter was trained on (base gets the same)."""
        from core.training.chat_format import chat_messages
        from core.training.schema import Row

        context = tuple(item for t in history for item in (("user", t.question), ("assistant", t.answer)))
        labels = tuple(labels) or self.labels
        row = Row(0, prompt=question, target="", context=context, label="" if labels else None)
        return chat_messages(row, labels)

    def _retrieve(self, question: str) -> tuple[list[Retrieved], float]:
        start = time.perf_counter()
        hits = retrieve(self.setup.kb, question, self.setup.retrieval, embedder=self._embedder, settings=self.settings)
        return hits, (time.perf_counter() - start) * 1000

    def prepare(self, question: str, histories: dict[str, Sequence[Turn]] | None = None,
                labels: Sequence[str] = ()) -> dict[str, ArmAnswer]:
        """Each arm's messages (and the shared retrieval), before any generation."""
        histories = histories or {}
        question = question.strip()
        if not question:
            raise ArmsError("The question is empty.", hint="Type a question.")
        check_question(question, self.settings, self.tokenizer)
        sources, retrieval_ms = ([], None)
        turns = {arm: [m for t in histories.get(arm, ()) for m in ({"role": "user", "content": t.question},
                                                                   {"role": "assistant", "content": t.answer})]
                 for arm in self.setup.arms if arm in RETRIEVAL_ARMS}
        if turns:
            sources, retrieval_ms = self._retrieve(question)
        kept = self._fitted(question, sources, turns)
        note = (f"{len(sources) - len(kept)} of {len(sources)} retrieved passages left out so the prompt fits the "
                f"model's context window") if len(kept) < len(sources) else ""
        prepared = {}
        for arm in self.setup.arms:
            history = histories.get(arm, ())
            if arm in RETRIEVAL_ARMS:
                answer = ArmAnswer(arm, rag_messages(question, kept, turns[arm]), list(kept), retrieval_ms, note=note)
                if not sources:
                    answer.fixed, answer.text = True, dont_know_message(self.setup.kb)
            else:
                answer = ArmAnswer(arm, self.plain_messages(question, history, labels))
            answer.title = self.title(arm)
            prepared[arm] = answer
        return prepared

    def _fitted(self, question: str, sources: list[Retrieved], turns: dict[str, list[dict]]) -> list[Retrieved]:
        """The most relevant passages that fit every retrieval arm's prompt, with the answer, into
        the model's context window (rag and hybrid keep reading the same passages)."""
        window = context_window(self.settings, self.tokenizer) - self.setup.decoding.max_new_tokens
        kept = list(sources)
        while kept and any(len(chat_input_ids(self.tokenizer, rag_messages(question, kept, t))) > window
                           for t in turns.values()):
            kept.pop()  # the least relevant first
        return kept

    def prompt_text(self, answer: ArmAnswer) -> str:
        """The exact text the model reads (chat template applied): the "what changed" view."""
        return chat_text(self.tokenizer, answer.messages)

    # ------------------------------------------------------------------ generation

    def row(self, answer: ArmAnswer) -> ChatRow:
        """The generation row of an answer: its messages and its model (the adapter for ft/hybrid)."""
        return ChatRow(answer.messages, self.setup.adapter if answer.arm in ADAPTER_ARMS else None)

    def stream(self, prepared: Sequence[ArmAnswer],
               should_stop: Callable[[], bool] | None = None) -> Iterator[tuple[ArmAnswer, str]]:
        """Generate every prepared answer in one batch; yields (answer, text piece) as they come.
        `should_stop` (checked every decode step) cuts the answers short: a prompt cancel."""
        engine_info = self.engine.describe()
        load_ms, self._pending_load_ms = self._pending_load_ms, None
        for answer in prepared:
            answer.engine, answer.load_ms = engine_info, load_ms
            if answer.fixed:
                yield answer, answer.text
        todo = [a for a in prepared if not a.fixed]
        if not todo:
            return
        batch = self.engine.stream([self.row(a) for a in todo], self.setup.decoding, should_stop)
        for row, piece in batch:
            todo[row].text += piece
            yield todo[row], piece
        for answer, stats in zip(todo, batch.stats, strict=True):
            answer.first_token_ms, answer.total_ms = stats.first_token_ms, stats.total_ms
            answer.prompt_tokens, answer.answer_tokens = stats.prompt_tokens, stats.answer_tokens
        self._record_speed(batch.stats)

    def _record_speed(self, stats) -> None:
        """The model's measured speed here (Models page): the median answer's tokens/s and how
        many answers were generated together (one at a time is what the estimate predicts)."""
        from statistics import median

        from core.runtime import model_registry

        rates = [s.tokens_per_s for s in stats if s.answer_tokens >= 8]
        if rates:
            model_registry.record_speed(self.settings.data_dir, self.settings.model_name, self.engine.name,
                                        median(rates), rows=len(stats))

    def answer(self, question: str, histories: dict[str, Sequence[Turn]] | None = None,
               labels: Sequence[str] = ()) -> dict[str, ArmAnswer]:
        prepared = self.prepare(question, histories, labels)
        for _ in self.stream(list(prepared.values())):
            pass
        return prepared

    def answer_many(self, questions: Sequence[str], labels: Sequence[str] = (),
                    should_stop: Callable[[], bool] | None = None) -> list[dict[str, ArmAnswer]]:
        """Several questions at once (evaluation). On an engine that pads a batch to its longest
        prompt (hf) the no-context arms go together and the retrieval arms together, so little is
        padded; the ct2 engine gets every row at once and schedules them over the cores itself.
        When `should_stop` turns true the answers are cut short: the caller discards them."""
        prepared = [self.prepare(q, labels=labels) for q in questions]
        groups = (("base", "ft"), ("rag", "hybrid")) if self.engine.pads_rows else (tuple(self.setup.arms),)
        for group in groups:
            rows = [p[arm] for p in prepared for arm in group if arm in p]
            if rows:
                for _ in self.stream(rows, should_stop):
                    pass
        return prepared
