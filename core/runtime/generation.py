"""Streamed chat generation with the local generator, ending with a timing record.

One path for every caller (the RAG chain, the four arms, evaluation), so decoding and
timing are the same everywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from queue import Queue

# One generation at a time per process: models are shared by every session, PEFT's per-row
# adapter routing uses forward hooks, and two generations on 2 CPU cores are no faster anyway.
generation_lock = threading.RLock()

@dataclass(frozen=True)
class Decoding:
    """Decoding settings shared by every arm (shown next to the answers)."""

    max_new_tokens: int = field(default=128, metadata={"help": "Upper bound on answer length, in tokens."})
    do_sample: bool = field(default=False, metadata={"help": "Off = greedy decoding, reproducible answers."})
    temperature: float = field(default=0.7, metadata={"help": "Randomness when sampling is on."})
    # 1.0 on purpose: a penalty also punishes copying tokens from the retrieved context.
    repetition_penalty: float = field(default=1.0, metadata={"help": "Above 1 discourages repeating tokens (also those of the context)."})

    def __post_init__(self):
        from core.runtime.errors import CrossroadsError

        def number(value, low, high) -> bool:  # also refuses NaN, inf and booleans
            return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high

        if not (number(self.max_new_tokens, 1, 4096) and int(self.max_new_tokens) == self.max_new_tokens):
            raise CrossroadsError(f"max_new_tokens must be a whole number from 1 to 4096, got {self.max_new_tokens!r}.")
        if not (number(self.temperature, 1e-3, 10) and number(self.repetition_penalty, 0.1, 10)):
            raise CrossroadsError("temperature must be 0.001–10 and repetition_penalty 0.1–10.")

    def generate_kwargs(self) -> dict:
        kwargs = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                  "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            kwargs["temperature"] = self.temperature
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


def chat_input_ids(tokenizer, messages: list[dict]):
    """Token ids of `messages` with the model's chat template and the assistant turn opened."""
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    return encoded["input_ids"] if hasattr(encoded, "keys") else encoded


class ChatStream:
    """Iterate to receive answer text pieces as they are generated; `stats` is final afterwards."""

    def __init__(self, model, tokenizer, messages: list[dict], decoding: Decoding = Decoding()):
        from transformers import TextIteratorStreamer

        self._model, self._tokenizer = model, tokenizer
        self._input_ids = chat_input_ids(tokenizer, messages).to(model.device)
        self._decoding = decoding
        self._streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.stats = GenerationStats(prompt_tokens=int(self._input_ids.shape[1]))
        self.text = ""
        self._error: BaseException | None = None

    def _generate(self) -> None:
        import torch

        try:
            with generation_lock, torch.inference_mode():
                output = self._model.generate(
                    input_ids=self._input_ids,
                    attention_mask=torch.ones_like(self._input_ids),
                    streamer=self._streamer,
                    pad_token_id=self._tokenizer.pad_token_id,
                    **self._decoding.generate_kwargs(),
                )
            self.stats.answer_tokens = int(output.shape[1] - self._input_ids.shape[1])
        except BaseException as exc:  # surfaced to the consumer after the stream ends
            self._error = exc
            self._streamer.end()

    def __iter__(self) -> Iterator[str]:
        start = time.perf_counter()
        worker = threading.Thread(target=self._generate, daemon=True)
        worker.start()
        for piece in self._streamer:
            if not piece:
                continue
            if self.stats.first_token_ms is None:
                self.stats.first_token_ms = (time.perf_counter() - start) * 1000
            self.text += piece
            yield piece
        worker.join()
        self.stats.total_ms = (time.perf_counter() - start) * 1000
        if self._error is not None:
            raise self._error


def generate_chat(model, tokenizer, messages: list[dict], decoding: Decoding = Decoding()) -> tuple[str, GenerationStats]:
    """The whole answer at once (evaluation); same decoding and stats as the stream."""
    stream = ChatStream(model, tokenizer, messages, decoding)
    for _ in stream:
        pass
    return stream.text, stream.stats


class _BatchStreamer:
    """Receives each generation step of a batch and queues (row, text piece) events."""

    def __init__(self, tokenizer, rows: int, events: Queue):
        self._tokenizer, self._events = tokenizer, events
        self._tokens: list[list[int]] = [[] for _ in range(rows)]
        self._texts = [""] * rows
        self.done = [False] * rows
        self._prompt_seen = False
        self._eos = set(_eos_ids(tokenizer))

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt ids
            self._prompt_seen = True
            return
        for row, token in enumerate(value.view(-1).tolist()):
            if self.done[row]:
                continue
            if token in self._eos:
                self.done[row] = True
                self._events.put(("end", row, ""))
                continue
            self._tokens[row].append(token)
            text = self._tokenizer.decode(self._tokens[row], skip_special_tokens=True)
            if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                piece, self._texts[row] = text[len(self._texts[row]):], text
                if piece:
                    self._events.put(("token", row, piece))

    def end(self) -> None:
        for row, done in enumerate(self.done):
            if not done:
                self.done[row] = True
                self._events.put(("end", row, ""))
        self._events.put(("finished", -1, ""))

    def token_counts(self) -> list[int]:
        return [len(tokens) for tokens in self._tokens]


def _stop_when(should_stop: Callable[[], bool]):
    """A transformers stopping criterion that ends every row as soon as `should_stop()` is true."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), bool(should_stop()), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Stop()])


def _eos_ids(tokenizer) -> list[int]:
    ids = tokenizer.eos_token_id
    return list(ids) if isinstance(ids, list | tuple) else [ids]


class BatchChatStream:
    """Several conversations in one `generate` call (left-padded), optionally each with its own
    LoRA adapter (`adapter_names`, "__base__" = none). Iterate to receive (row, piece) as they
    are generated; afterwards `texts[row]` and `stats[row]` are final.

    Batching the arms is what makes the four-arm answer fast on a CPU: one decode step serves
    every row, and per-row timings stay honest (a row's clock stops at its own end token).

    Stopping: `should_stop` is checked at every decode step (a cancelled evaluation stops within
    one step); a consumer that abandons the iteration (a closed browser tab, Ctrl-C) stops the
    generation too, so no orphan generation holds `generation_lock` for the next question.
    `stopped` tells whether the answers were cut short.
    """

    def __init__(self, model, tokenizer, conversations: list[list[dict]], decoding: Decoding = Decoding(),
                 adapter_names: list[str] | None = None, should_stop: Callable[[], bool] | None = None):
        import torch

        self._model, self._tokenizer, self._decoding = model, tokenizer, decoding
        self._adapter_names = adapter_names
        self._should_stop = should_stop
        self._abandoned = threading.Event()
        self.stopped = False
        prompts = [chat_input_ids(tokenizer, messages)[0] for messages in conversations]
        width = max(len(ids) for ids in prompts)
        pad = tokenizer.pad_token_id
        self._input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        self._attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            self._input_ids[row, width - len(ids):] = ids
            self._attention[row, width - len(ids):] = 1
        self._input_ids = self._input_ids.to(model.device)
        self._attention = self._attention.to(model.device)
        self._events: Queue = Queue()
        self._streamer = _BatchStreamer(tokenizer, len(prompts), self._events)
        self.texts = [""] * len(prompts)
        self.stats = [GenerationStats(prompt_tokens=len(ids)) for ids in prompts]
        self._error: BaseException | None = None

    def _generate(self) -> None:
        import torch

        kwargs = {"adapter_names": self._adapter_names} if self._adapter_names else {}
        try:
            with generation_lock, torch.inference_mode():
                self._model.generate(
                    input_ids=self._input_ids, attention_mask=self._attention, streamer=self._streamer,
                    pad_token_id=self._tokenizer.pad_token_id, stopping_criteria=_stop_when(self._stop_now),
                    **self._decoding.generate_kwargs(), **kwargs,
                )
        except BaseException as exc:  # surfaced to the consumer after the stream ends
            self._error = exc
            self._streamer.end()

    def _stop_now(self) -> bool:
        if self._abandoned.is_set() or (self._should_stop is not None and self._should_stop()):
            self.stopped = True
        return self.stopped

    def __iter__(self) -> Iterator[tuple[int, str]]:
        start = time.perf_counter()
        worker = threading.Thread(target=self._generate, daemon=True)
        worker.start()
        try:
            while True:
                kind, row, piece = self._events.get()
                elapsed_ms = (time.perf_counter() - start) * 1000
                if kind == "finished":
                    break
                stats = self.stats[row]
                if kind == "end":
                    stats.total_ms = elapsed_ms
                    continue
                if stats.first_token_ms is None:
                    stats.first_token_ms = elapsed_ms
                self.texts[row] += piece
                yield row, piece
        finally:  # normal end, or the consumer left early (GeneratorExit, KeyboardInterrupt, a rerun)
            self._abandoned.set()
            worker.join()
        for stats, count in zip(self.stats, self._streamer.token_counts(), strict=True):
            stats.answer_tokens = count
        if self._error is not None:
            raise self._error


def generate_batch(model, tokenizer, conversations: list[list[dict]], decoding: Decoding = Decoding(),
                   adapter_names: list[str] | None = None) -> tuple[list[str], list[GenerationStats]]:
    """Whole answers for several conversations at once (evaluation, benchmarks)."""
    stream = BatchChatStream(model, tokenizer, conversations, decoding, adapter_names)
    for _ in stream:
        pass
    return stream.texts, stream.stats
