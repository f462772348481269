"""The arms of a classification or extraction task: one base model, one engine, one decoding.

    base      the base model, zero-shot: the label set / entity types named in the prompt
    examples  the base model with the k most similar TRAINING rows as few-shot demonstrations
              (hybrid search over the training rows, core.training.example_index; the test text
              itself and exact duplicates of it are never among them)
    ft        the LoRA adapter trained on the training rows, zero-shot prompt (its training format)
    hybrid    the adapter with the same demonstrations as `examples`

Per pair only one thing differs: base/ft and examples/hybrid read identical messages; base/examples
and ft/hybrid run identical weights. Every row of a batch is generated together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.evaluation.tasks.metrics import map_output, parse_entities
from core.runtime.errors import CrossroadsError
from core.runtime.generation import ChatRow, Decoding, chat_input_ids
from core.runtime.settings import Settings, get_settings
from core.training.task_prompts import TaskSpec, task_messages

TASK_ARMS = ("base", "examples", "ft", "hybrid")
TASK_ARM_TITLES = {"base": "Base (zero-shot)", "examples": "Retrieved examples", "ft": "Fine-tuned",
                   "hybrid": "Hybrid (FT + retrieved examples)"}
TASK_ARM_HELP = {
    "base": "The base model alone, zero-shot: the prompt names the labels or entity types.",
    "examples": "The base model with the most similar training rows (and their answers) as examples in the prompt.",
    "ft": "The LoRA adapter trained on the training rows, with the zero-shot prompt it was trained on.",
    "hybrid": "The LoRA adapter with the same retrieved examples as the retrieved-examples arm.",
}
EXAMPLE_ARMS = frozenset({"examples", "hybrid"})
ADAPTER_ARMS = frozenset({"ft", "hybrid"})
DEFAULT_K = 4
MAX_NEW_TOKENS = {"classification": 16, "extraction": 160}


class TaskArmsError(CrossroadsError):
    """The chosen task arms cannot run with this setup."""


def parse_task_arms(text: str | Sequence[str]) -> tuple[str, ...]:
    """`all` or a comma-separated list, in canonical order."""
    names = [a.strip() for a in (text.split(",") if isinstance(text, str) else text) if a.strip()]
    if names == ["all"]:
        return TASK_ARMS
    unknown = [a for a in names if a not in TASK_ARMS]
    if unknown or not names:
        raise TaskArmsError(f"Arm(s) not available for this task: {', '.join(unknown) or '(none given)'}.",
                            hint=f"Choose from {', '.join(TASK_ARMS)}, or all.")
    return tuple(a for a in TASK_ARMS if a in names)


def task_decoding(task: str) -> Decoding:
    """Greedy decoding with room for a label or an entity list (the same for every arm)."""
    return Decoding(max_new_tokens=MAX_NEW_TOKENS.get(task, Decoding().max_new_tokens))


@dataclass
class TaskAnswer:
    arm: str
    messages: list[dict]
    demos: list = field(default_factory=list)  # TaskRows shown as examples (most similar last)
    text: str = ""
    total_ms: float = 0.0
    prompt_tokens: int = 0
    answer_tokens: int = 0
    prediction: object = None  # the label (None: unmapped) or a list of Entity (None: invalid JSON)

    @property
    def title(self) -> str:
        return TASK_ARM_TITLES[self.arm]

    def record(self) -> dict:
        pred = self.prediction
        return {"title": self.title, "answer": self.text.strip(),
                "prediction": [e.as_dict() for e in pred] if isinstance(pred, list) else pred,
                "demos": [d.number for d in self.demos], "total_ms": round(self.total_ms, 2),
                "prompt_tokens": self.prompt_tokens, "tokens": self.answer_tokens}


def adapter_task(meta: dict) -> TaskSpec | None:
    """The task an adapter was trained for (from its meta.json), when it was trained on one."""
    mode = meta.get("mode") or {}
    if isinstance(mode, dict) and mode.get("task") in ("classification", "extraction"):
        return TaskSpec(mode["task"], tuple(mode.get("labels") or ()), tuple(mode.get("entity_types") or ()))
    labels = tuple((meta.get("data") or {}).get("labels") or ())
    return TaskSpec("classification", labels) if labels else None


class TaskArms:
    """Answers texts with the chosen task arms."""

    def __init__(self, spec: TaskSpec, arms: Sequence[str] = TASK_ARMS, *, adapter: str | None = None,
                 train_rows: Sequence = (), k: int = DEFAULT_K, decoding: Decoding | None = None,
                 settings: Settings | None = None, embedder=None, progress: Callable[[str], None] | None = None):
        from core.runtime.engines import get_engine

        self.spec, self.arms, self.adapter, self.k = spec, tuple(arms), adapter, int(k)
        self.settings = settings or get_settings()
        self.decoding = decoding or task_decoding(spec.task)
        if spec.task not in ("classification", "extraction"):
            raise TaskArmsError(f"Task arms are for classification and extraction, not {spec.task}.",
                                hint="Question answering uses the base / rag / ft / hybrid arms.")
        if needs := [a for a in self.arms if a in ADAPTER_ARMS] if not adapter else []:
            raise TaskArmsError(f"The {', '.join(needs)} arm(s) need a fine-tuned adapter.",
                                hint="Train one on the training rows (finetune --task ...), or leave those arms out.")
        if needs := [a for a in self.arms if a in EXAMPLE_ARMS] if not train_rows else []:
            raise TaskArmsError(f"The {', '.join(needs)} arm(s) need labeled training rows to retrieve examples from.",
                                hint="Give the training file (evaluate --train-data FILE), or leave those arms out.")
        self.index = None
        if EXAMPLE_ARMS & set(self.arms):
            from core.training.example_index import example_index

            self.index = example_index(list(train_rows), self.settings, embedder)
        self.engine = get_engine(self.settings, progress)
        self.adapter_meta: dict = {}
        if adapter:
            from core.training.adapter_checks import check_adapter_folder
            from core.training.adapters import get_adapter

            record = get_adapter(adapter, self.settings)
            self.adapter_meta = record.meta
            trained = adapter_task(record.meta)
            if trained is not None and (trained.task != spec.task or (
                    spec.task == "classification" and trained.labels and trained.labels != spec.labels) or (
                    spec.task == "extraction" and trained.entity_types and trained.entity_types != spec.entity_types)):
                what = trained.labels or trained.entity_types
                raise TaskArmsError(f"Adapter {adapter!r} was trained for {trained.task} with "
                                    f"{', '.join(what) or 'another format'}; this evaluation is {spec.task} with "
                                    f"{', '.join(spec.labels or spec.entity_types)}.",
                                    hint="Use the adapter trained on this task's training file.")
            check_adapter_folder(record.path, self.settings)
            self.engine.load_adapters({adapter: record.path}, progress)
        self.tokenizer = self.engine.tokenizer

    def demos(self, text: str, k: int | None = None) -> list:
        """The retrieved examples for `text`, most similar LAST (nearest the question)."""
        hits = self.index.search(text, self.k if k is None else k, exclude_text=text) if self.index else []
        return list(reversed(hits))

    def _fitted(self, text: str, demos: list) -> list:
        from core.runtime.limits import context_window

        window = context_window(self.settings, self.tokenizer) - self.decoding.max_new_tokens
        while demos and len(chat_input_ids(self.tokenizer, task_messages(text, self.spec, demos))) > window:
            demos = demos[1:]  # the least similar first
        return demos

    def prepare(self, text: str, k: int | None = None) -> dict[str, TaskAnswer]:
        text = text.strip()
        if not text:
            raise TaskArmsError("The text is empty.", hint="Paste a text to classify or extract from.")
        demos = self._fitted(text, self.demos(text, k)) if EXAMPLE_ARMS & set(self.arms) else []
        out = {}
        for arm in self.arms:
            shown = demos if arm in EXAMPLE_ARMS else []
            out[arm] = TaskAnswer(arm, task_messages(text, self.spec, shown), list(shown))
        return out

    def _predict(self, answer: TaskAnswer) -> None:
        if self.spec.task == "classification":
            answer.prediction = map_output(answer.text, self.spec.labels)
        else:
            answer.prediction = parse_entities(answer.text)

    def generate(self, answers: Sequence[TaskAnswer], should_stop: Callable[[], bool] | None = None) -> None:
        """Generate every answer in one batch (adapter rows name the adapter)."""
        if not answers:
            return
        rows = [ChatRow(a.messages, self.adapter if a.arm in ADAPTER_ARMS else None) for a in answers]
        start = time.perf_counter()
        texts, stats = self.engine.generate(rows, self.decoding, should_stop)
        elapsed = (time.perf_counter() - start) * 1000
        for answer, text, stat in zip(answers, texts, stats, strict=True):
            answer.text = text
            answer.total_ms = stat.total_ms or elapsed / len(answers)
            answer.prompt_tokens, answer.answer_tokens = stat.prompt_tokens, stat.answer_tokens
            self._predict(answer)

    def answer_many(self, texts: Sequence[str], k: int | None = None,
                    should_stop: Callable[[], bool] | None = None) -> list[dict[str, TaskAnswer]]:
        prepared = [self.prepare(t, k) for t in texts]
        groups = (("base", "ft"), ("examples", "hybrid")) if self.engine.pads_rows else (self.arms,)
        for group in groups:
            self.generate([p[a] for p in prepared for a in group if a in p], should_stop)
        return prepared

    def answer(self, text: str) -> dict[str, TaskAnswer]:
        """Every arm on one pasted text (Compare)."""
        return self.answer_many([text])[0]

    def provenance(self) -> dict:
        return {"task": self.spec.task, "arms": list(self.arms), "adapter": self.adapter, "k": self.k,
                "engine": self.engine.describe(), "model": self.settings.generator,
                "decoding": vars(self.decoding).copy()}
