"""The `hf` engine: transformers `generate` + PEFT per-row adapter routing (the reference; the
default on CUDA, and the path for any model CTranslate2 cannot convert)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.runtime import models
from core.runtime.generation import ChatRow, Decoding, Engine, Progress, TokenSink
from core.runtime.settings import Settings

BASE_ROW = "__base__"  # PEFT's name for "no adapter" in `adapter_names`


class _SinkStreamer:
    """transformers' streamer protocol, handing token ids straight to the sink: no text
    decoding and no second queue on the generating thread (TextIteratorStreamer cost a third
    of the speed)."""

    def __init__(self, sink: TokenSink, eos: set[int]):
        self._sink, self._eos, self._prompt_seen = sink, eos, False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt ids
            self._prompt_seen = True
            return
        for row, token in enumerate(value.view(-1).tolist()):
            if token in self._eos:
                self._sink.end(row)
            else:
                self._sink.token(row, token)

    def end(self) -> None:
        pass  # the stream finishes the sink itself


def _stop_criteria(sink: TokenSink):
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _StopRequested(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), sink.stop_requested(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_StopRequested()])


class HFEngine(Engine):
    name = "hf"

    def __init__(self, settings: Settings, progress: Progress | None = None):
        self.settings = settings
        self.model, tokenizer = models.load_generator(settings, progress)
        super().__init__(tokenizer)
        self.quantization = {"float32": "fp32", "bfloat16": "bf16"}.get(settings.dtype_name, settings.dtype_name)

    def describe(self) -> dict:
        import torch

        return {**super().describe(), "device": str(self.model.device), "threads": torch.get_num_threads()}

    def load_adapters(self, adapters: dict[str, Path], progress: Progress | None = None) -> None:
        if adapters:
            try:
                self.model, _ = models.attach_adapters(adapters, self.settings)
            except Exception:
                # a refused adapter may have cost the cached base model (it changed the base
                # weights): serve the model the cache holds now, with the adapters still attached
                base, _ = models.load_generator(self.settings)
                self.model = getattr(base, "_crossroads_peft", None) or base
                raise

    def _generate(self, rows: Sequence[ChatRow], prompts: list[list[int]], decoding: Decoding,
                  sink: TokenSink) -> None:
        import torch

        width = max(len(ids) for ids in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):  # left padding: every row ends where generation starts
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids):] = 1
        kwargs = {}
        if any(row.adapter for row in rows):
            kwargs["adapter_names"] = [row.adapter or BASE_ROW for row in rows]
        with torch.inference_mode():
            self.model.generate(
                input_ids=input_ids.to(self.model.device), attention_mask=attention.to(self.model.device),
                streamer=_SinkStreamer(sink, self._eos), stopping_criteria=_stop_criteria(sink),
                pad_token_id=pad, **decoding.generate_kwargs(), **kwargs,
            )

    def close(self) -> None:
        pass  # the torch model is shared through the model cache and freed with the process
