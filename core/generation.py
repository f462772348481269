"""Streamed chat generation with the local generator, ending with a timing record.

One path for every caller (the RAG chain, the four arms, evaluation), so decoding and
timing are the same everywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Decoding:
    """Decoding settings shared by every arm (shown next to the answers)."""

    max_new_tokens: int = field(default=128, metadata={"help": "Upper bound on answer length, in tokens."})
    do_sample: bool = field(default=False, metadata={"help": "Off = greedy decoding, reproducible answers."})
    temperature: float = field(default=0.7, metadata={"help": "Randomness when sampling is on."})
    repetition_penalty: float = field(default=1.1, metadata={"help": "Above 1 discourages loops in small models."})

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
            with torch.inference_mode():
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
