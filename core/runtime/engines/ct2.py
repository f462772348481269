"""The `ct2` engine: CTranslate2 `Generator`, int8 on CPU (the default there).

Threads, by measurement on the 2-core VM (issue 13): one intra-op thread per batch is 2.5x
faster than two, so the parallelism comes from batches side by side, one per core. Base and rag
rows go to the base generator, ft and hybrid rows to the adapter's merged generator, both at
once; rows of one generator alone are split into one sub-batch per core.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from core.runtime import models
from core.runtime.engines import ct2_cache
from core.runtime.errors import ModelNotFound
from core.runtime.generation import ChatRow, Decoding, Engine, Progress, TokenSink
from core.runtime.settings import Settings

INTRA_THREADS = 1
# Prompts of different lengths in one batch make CTranslate2 feed the whole prompt one token per
# step instead of in one forward pass (measured: a 546- and a 52-token prompt together took
# 10.3 s to the first token, each alone 0.5 s; 546 with 469 tokens: 3.1 s). So rows share a batch
# only when their prompts are equally long, or all short enough that feeding them token by token
# costs less than the batching saves in decoding.
# Measured on a 16-question four-arm evaluation: also merging long prompts up to 32 or 96 tokens
# apart took 47.1 / 53.8 s against 45.2 s for equal lengths only. On an AMD EPYC host merging
# long prompts at most 24 tokens apart, four rows at most, was faster (46.3 against 57.3 s) but
# cost the rag arm 7.5 points of `contains` on the 40 demo questions (0.475 against 0.55; hf
# 0.575): in int8 the prompt tokens fed per step round differently from the one-pass prefill
# (in float32 the answers are identical), and the answers drift. Fairness first: not kept.
SHORT_PROMPT = 96


def length_batches(indices: Sequence[int], lengths: Sequence[int], per_batch: int) -> list[list[int]]:
    """`indices` grouped into batches of at most `per_batch` rows: equal prompt lengths together,
    short prompts (<= SHORT_PROMPT tokens) together, each other long prompt on its own."""
    ordered = sorted(indices, key=lambda i: lengths[i])
    buckets: list[list[int]] = []
    for i in ordered:
        last = buckets[-1] if buckets else None
        if last and len(last) < per_batch and (lengths[last[0]] == lengths[i] or lengths[i] <= SHORT_PROMPT):
            last.append(i)
        else:
            buckets.append([i])
    return buckets


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class CT2Engine(Engine):
    name = "ct2"
    quantization = ct2_cache.CT2_QUANTIZATION
    pads_rows = False  # length_batches groups the rows itself

    def __init__(self, settings: Settings, progress: Progress | None = None):
        import ctranslate2

        self.settings = settings
        self._ct2 = ctranslate2
        self.cores = _cores()
        base_dir = ct2_cache.prepare_ct2_generator(settings, progress)
        super().__init__(models.load_tokenizer(settings))
        self._eos_tokens = sorted(self._eos)
        self._generators = {None: self._open(base_dir)}
        self._adapter_keys: dict[str, str] = {}

    def _open(self, folder: Path):
        return self._ct2.Generator(str(folder), device="cpu", compute_type=self.quantization,
                                   intra_threads=INTRA_THREADS, inter_threads=self.cores)

    def describe(self) -> dict:
        return {**super().describe(), "device": "cpu", "threads": f"{INTRA_THREADS} per batch, {self.cores} batches"}

    def load_adapters(self, adapters: dict[str, Path], progress: Progress | None = None) -> None:
        for name, folder in adapters.items():
            key = ct2_cache.adapter_weights_key(Path(folder))
            if self._adapter_keys.get(name) == key:
                continue  # loaded, and its weights have not changed since
            merged = ct2_cache.prepare_ct2_adapter(Path(folder), self.settings, progress)
            old = self._generators.get(name)
            self._generators[name], self._adapter_keys[name] = self._open(merged), key
            if old is not None:
                old.unload_model()

    def _decode_options(self, decoding: Decoding) -> dict:
        options = {"max_length": decoding.max_new_tokens, "include_prompt_in_result": False,
                   "repetition_penalty": decoding.repetition_penalty, "end_token": self._eos_tokens}
        if decoding.do_sample:
            options.update(sampling_topk=decoding.top_k, sampling_topp=1.0, sampling_temperature=decoding.temperature)
        else:
            options["sampling_topk"] = 1  # greedy
        return options

    def _generate(self, rows: Sequence[ChatRow], prompts: list[list[int]], decoding: Decoding,
                  sink: TokenSink) -> None:
        groups: dict[str | None, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(row.adapter, []).append(index)
        missing = [name for name in groups if name not in self._generators]
        if missing:
            raise ModelNotFound(f"Adapter {missing[0]!r} is not loaded.", hint="Load it with the arms first.")
        options = self._decode_options(decoding)
        eos = self._eos
        pending = []
        lengths = [len(p) for p in prompts]
        for name, indices in groups.items():
            # Each generator's rows split over the cores left to it (its workers run batches side by side).
            per_core = max(1, self.cores // len(groups))
            for batch in length_batches(indices, lengths, math.ceil(len(indices) / per_core)):

                def on_step(step, batch=batch):
                    row = batch[step.batch_id]
                    if step.token_id in eos:
                        sink.end(row)
                    else:
                        sink.token(row, step.token_id)
                        if step.is_last:
                            sink.end(row)
                    return sink.stop_requested()  # True ends this row's decoding now

                tokens = [self.tokenizer.convert_ids_to_tokens(prompts[i]) for i in batch]
                pending += self._generators[name].generate_batch(tokens, max_batch_size=len(batch), asynchronous=True,
                                                                 callback=on_step, **options)
        for result in pending:
            result.result()  # waits; raises the generator's error, if any

    def close(self) -> None:
        generators, self._generators, self._adapter_keys = self._generators, {}, {}
        for generator in generators.values():
            generator.unload_model()
