"""The one generation path: a batch of chat rows, each with its model (the base or an adapter),
streamed per row through an `Engine`, ending with a `GenerationStats` per row.

Every caller (the RAG chain, the four arms, evaluation, freshness, the CLI) goes through
`Engine.stream`, so prompts (the chat template's token ids), decoding, stopping at the end of
the turn, streaming and timing are the same whichever engine computes the tokens. The engines
themselves (transformers + PEFT, CTranslate2) live in `core.runtime.engines`.
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

# One generation at a time per process: models are shared by every session, PEFT's per-row
# adapter routing uses forward hooks, and the CPU cores are already used by one generation.
generation_lock = threading.RLock()
StopCheck = Callable[[], bool]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Decoding:
    """Decoding settings shared by every arm and every engine (shown next to the answers)."""

    max_new_tokens: int = field(default=128, metadata={"help": "Upper bound on answer length, in tokens."})
    do_sample: bool = field(default=False, metadata={"help": "Off = greedy decoding, reproducible answers."})
    temperature: float = field(default=0.7, metadata={"help": "Randomness when sampling is on."})
    # 1.0 on purpose: a penalty also punishes copying tokens from the retrieved context.
    repetition_penalty: float = field(default=1.0, metadata={"help": "Above 1 discourages repeating tokens (also those of the context)."})
    # transformers' default when sampling; CTranslate2 gets the same value.
    top_k: int = field(default=50, metadata={"help": "When sampling: draw from the k most likely tokens."})

    def __post_init__(self):
        from core.runtime.errors import CrossroadsError

        def number(value, low, high) -> bool:  # also refuses NaN, inf and booleans
            return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high

        if not (number(self.max_new_tokens, 1, 4096) and int(self.max_new_tokens) == self.max_new_tokens):
            raise CrossroadsError(f"max_new_tokens must be a whole number from 1 to 4096, got {self.max_new_tokens!r}.")
        if not (number(self.temperature, 1e-3, 10) and number(self.repetition_penalty, 0.1, 10)
                and number(self.top_k, 1, 10_000)):
            raise CrossroadsError("temperature must be 0.001–10, repetition_penalty 0.1–10 and top_k 1–10000.")

    def generate_kwargs(self) -> dict:
        """These settings as transformers `generate` arguments."""
        kwargs = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                  "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_k=self.top_k, top_p=1.0)
        else:  # silence transformers' warnings about sampling-only settings
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    answer_tokens: int = 0
    first_token_ms: float | None = None
    total_ms: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        seconds = self.total_ms / 1000
        return self.answer_tokens / seconds if seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "tokens_per_s": round(self.tokens_per_s, 2)}


@dataclass(frozen=True)
class ChatRow:
    """One conversation to answer, and the model that answers it (None = the base model)."""

    messages: list[dict]
    adapter: str | None = None


def chat_input_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
    """Token ids of `messages` with the model's chat template (and the assistant turn opened).
    Every prompt and every training row is templated here or in `chat_text`: the message texts
    are data, so their special-token strings are neutralised first (`inert_messages`)."""
    require_chat_template(tokenizer)
    encoded = tokenizer.apply_chat_template(inert_messages(tokenizer, messages), add_generation_prompt=add_generation_prompt)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def chat_text(tokenizer, messages: list[dict], add_generation_prompt: bool = True) -> str:
    """The templated prompt as text (what an arm read), with the same neutralised messages."""
    require_chat_template(tokenizer)
    return tokenizer.apply_chat_template(inert_messages(tokenizer, messages),
                                         add_generation_prompt=add_generation_prompt, tokenize=False)


def require_chat_template(tokenizer, path: str = "") -> None:
    """The prompt format is the model's own chat template, never a made-up one: a tokenizer
    without one (a base, non-chat checkpoint) is refused (by the loader, and before templating)."""
    if not getattr(tokenizer, "chat_template", None):
        from core.runtime.errors import NoChatTemplate

        name = str(path or getattr(tokenizer, "name_or_path", "") or "this model")
        raise NoChatTemplate(f"The tokenizer of {Path(name).name or name!r} has no chat template, so prompts and "
                             "training rows cannot be formatted the way the model was trained.",
                             hint="Use the instruct / chat variant of the model, or add `chat_template` to its "
                                  "tokenizer_config.json.")


_ZWSP = "\u200b"


@lru_cache(maxsize=8)
def _special_strings(tokenizer) -> tuple[str, ...]:
    """Every string the tokenizer turns into a special token (longest first)."""
    strings = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(token, "special", False):
            strings.add(str(token.content))
    return tuple(sorted((s for s in strings if len(s) > 1), key=len, reverse=True))


def neutralise_special_tokens(tokenizer, text: str) -> str:
    """`text` with every special-token string broken by a zero-width space after its first
    character: a document, question or training row saying `<|im_start|>system` stays text and
    can never open a chat turn (the tokenizer matches special tokens only as exact strings)."""
    specials = _special_strings(tokenizer)
    if not specials or not isinstance(text, str):
        return text
    previous = None
    while previous != text and any(s in text for s in specials):
        previous = text
        for special in specials:
            text = text.replace(special, special[0] + _ZWSP + special[1:])
    return text


def inert_messages(tokenizer, messages: list[dict]) -> list[dict]:
    """Chat messages whose contents can produce no special token (see neutralise_special_tokens)."""
    return [{**m, "content": neutralise_special_tokens(tokenizer, m.get("content", ""))} for m in messages]


# End-of-turn tokens of the common chat templates (ChatML, Llama 3, Gemma, Phi-3, Mistral/Llama 2).
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>")


def eos_ids(tokenizer) -> set[int]:
    """Where an answer stops: the tokenizer's end-of-sequence token(s), and the end-of-turn token
    its own chat template closes a turn with (a model whose eos differs from its end of turn, e.g.
    Llama 3's <|eot_id|>, would otherwise run on past its answer)."""
    ids = tokenizer.eos_token_id
    found = set(ids) if isinstance(ids, list | tuple) else {ids}
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, str):
        unknown = getattr(tokenizer, "unk_token_id", None)
        for token in END_OF_TURN:
            if token in template:
                token_id = tokenizer.convert_tokens_to_ids(token)
                if isinstance(token_id, int) and token_id != unknown:
                    found.add(token_id)
    return {i for i in found if i is not None}


class TokenSink:
    """What an engine feeds while it generates: a token id per row and step, the end of a row,
    the end of the batch. Thread-safe and cheap (the text is decoded by the consumer), so an
    engine's decode loop never waits on the reader."""

    def __init__(self, rows: int, should_stop: StopCheck | None = None):
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self.ended = [False] * rows
        self._should_stop = should_stop
        self.abandoned = False
        self.stopped = False

    def token(self, row: int, token_id: int) -> None:
        if not self.ended[row]:
            self._events.put((row, token_id))

    def end(self, row: int) -> None:
        if not self.ended[row]:
            self.ended[row] = True
            self._events.put((row, None))

    def finish(self) -> None:
        for row in range(len(self.ended)):
            self.end(row)
        self._events.put((-1, None))

    def stop_requested(self) -> bool:
        """Polled by the engine at every decode step: the reader went away or asked to stop."""
        if self.abandoned or (self._should_stop is not None and self._should_stop()):
            self.stopped = True
        return self.stopped

    def get(self):
        return self._events.get()


class BatchStream:
    """Iterate to receive (row, text piece) as the rows are generated; afterwards `texts[row]`
    and `stats[row]` are final. Per-row timings stay honest: a row's clock stops at its own end
    of turn.

    Stopping: `should_stop` is polled at every decode step (a cancelled evaluation stops within
    one step); a consumer that leaves the loop early (a closed tab, a rerun, Ctrl-C) stops the
    generation too, and `generation_lock` is free again when it has left. `stopped` tells
    whether the answers were cut short.
    """

    def __init__(self, tokenizer, prompts: list[list[int]], run: Callable[[TokenSink], None],
                 should_stop: StopCheck | None = None):
        self._tokenizer, self._run = tokenizer, run
        self._sink = TokenSink(len(prompts), should_stop)
        self.texts = [""] * len(prompts)
        self.stats = [GenerationStats(prompt_tokens=len(ids)) for ids in prompts]
        self._error: BaseException | None = None

    @property
    def stopped(self) -> bool:
        return self._sink.stopped

    def _generate(self) -> None:
        try:
            with generation_lock:
                self._run(self._sink)
        except BaseException as exc:  # surfaced to the consumer after the stream ends
            self._error = exc
        finally:
            self._sink.finish()

    def __iter__(self) -> Iterator[tuple[int, str]]:
        tokens: list[list[int]] = [[] for _ in self.texts]
        start = time.perf_counter()
        worker = threading.Thread(target=self._generate, name="crossroads-generate", daemon=True)
        worker.start()
        try:
            while True:
                row, token = self._sink.get()
                if row < 0:
                    break
                stats = self.stats[row]
                if token is None:
                    stats.total_ms = (time.perf_counter() - start) * 1000
                    continue
                tokens[row].append(token)
                stats.answer_tokens += 1
                text = self._tokenizer.decode(tokens[row], skip_special_tokens=True)
                if text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                    continue
                piece, self.texts[row] = text[len(self.texts[row]):], text
                if piece:
                    if stats.first_token_ms is None:
                        stats.first_token_ms = (time.perf_counter() - start) * 1000
                    yield row, piece
        finally:  # normal end, or the consumer left early (GeneratorExit, KeyboardInterrupt, a rerun)
            self._sink.abandoned = True  # no-op after a full run; stops the engine at its next step
            worker.join()
        if self._error is not None:
            raise self._error


class Engine(ABC):
    """Computes the tokens of a batch of chat rows. Subclasses: `core.runtime.engines`."""

    name: str = ""
    quantization: str = ""
    # True when a batch's rows are padded to its longest prompt: callers then batch rows of
    # similar prompt length together (evaluation: closed-book rows apart from retrieval rows).
    pads_rows: bool = True

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._eos = eos_ids(tokenizer)

    def describe(self) -> dict:
        """What produced an answer (recorded with every answer and report), with the engine's
        measured fidelity to the fp32 reference."""
        from core.runtime.engines.fidelity import engine_fidelity, engine_speed

        settings = getattr(self, "settings", None)
        generator = getattr(settings, "generator", "")
        return {"engine": self.name, "quantization": self.quantization,
                "model": getattr(settings, "model_name", None),  # the base model every answer came from
                "fidelity": engine_fidelity(self.name, generator), "speed": engine_speed(self.name, generator)}

    @property
    def label(self) -> str:
        return f"{self.name} {self.quantization}"

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        return chat_input_ids(self.tokenizer, messages)

    @abstractmethod
    def load_adapters(self, adapters: dict[str, Path], progress: Progress | None = None) -> None:
        """Make these (already checked) LoRA adapters available to rows by name."""

    @abstractmethod
    def _generate(self, rows: Sequence[ChatRow], prompts: list[list[int]], decoding: Decoding,
                  sink: TokenSink) -> None:
        """Generate every row, feeding `sink`; runs under `generation_lock` on a worker thread."""

    def stream(self, rows: Sequence[ChatRow], decoding: Decoding = Decoding(),
               should_stop: StopCheck | None = None) -> BatchStream:
        from core.runtime.limits import check_prompt_fits, context_window

        rows = list(rows)
        prompts = [self.prompt_ids(row.messages) for row in rows]
        window = context_window(tokenizer=self.tokenizer)
        for ids in prompts:  # never send more than the model can read: a clear error instead
            check_prompt_fits(len(ids), decoding.max_new_tokens, window)
        return BatchStream(self.tokenizer, prompts, lambda sink: self._generate(rows, prompts, decoding, sink),
                           should_stop)

    def generate(self, rows: Sequence[ChatRow], decoding: Decoding = Decoding(),
                 should_stop: StopCheck | None = None) -> tuple[list[str], list[GenerationStats]]:
        """Whole answers (evaluation, benchmarks): the same path as the stream."""
        stream = self.stream(rows, decoding, should_stop)
        for _ in stream:
            pass
        return stream.texts, stream.stats

    @abstractmethod
    def close(self) -> None:
        """Release the models (a CTranslate2 Generator must not outlive the interpreter)."""
