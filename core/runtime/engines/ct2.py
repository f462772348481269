"""The ct2 engines: CTranslate2 `Generator` on CPU. `ct2` = float32, the CPU default (its
greedy answers match the fp32 reference: bench/fidelity.py); `ct2-int8` = int8, fast and
approximate (it re-quantizes the bundled model's already 4-bit weights and changes answers).

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
# only when their prompts are equally long, all short enough that feeding them token by token
# costs less than the batching saves in decoding, or (float32 only) close enough in length.
SHORT_PROMPT = 96
# Long prompts at most CLOSE_PROMPTS tokens apart, CLOSE_ROWS rows at most, may share a batch in
# float32: on an AMD EPYC host a 16-question four-arm evaluation took 46.3 s against 57.3 s
# for equal lengths only. In float32 the prompt tokens fed step by step give the same answers as
# the one-pass prefill, token for token (tests/unit/test_engines.py checks it on real RAG
# prompts); in int8 they round differently and the answers drift (it cost the rag arm 7.5
# points of `contains` on the 40 demo questions), so int8 keeps the strict rule.
CLOSE_PROMPTS = 24
CLOSE_ROWS = 4


def length_batches(indices: Sequence[int], lengths: Sequence[int], per_batch: int,
                   close: int = 0, close_rows: int = CLOSE_ROWS) -> list[list[int]]:
    """`indices` grouped into batches of at most `per_batch` rows: equal prompt lengths together,
    short prompts (<= SHORT_PROMPT tokens) together, long prompts at most `close` tokens apart
    together (at most `close_rows` of them), each other long prompt on its own."""
    ordered = sorted(indices, key=lambda i: lengths[i])
    buckets: list[list[int]] = []
    for i in ordered:
        last = buckets[-1] if buckets else None
        fits = False
        if last and len(last) < per_batch:
            if lengths[last[0]] == lengths[i] or lengths[i] <= SHORT_PROMPT:
                fits = True
            elif close and lengths[last[0]] > SHORT_PROMPT and len(last) < close_rows:
                fits = lengths[i] - lengths[last[0]] <= close
        if fits:
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
    pads_rows = False  # length_batches groups the rows itself

    def __init__(self, settings: Settings, progress: Progress | None = None, name: str = "ct2",
                 quantization: str = ct2_cache.DEFAULT_QUANTIZATION):
        import ctranslate2

        self.settings, self.name, self.quantization = settings, name, quantization
        # Grouping close prompt lengths keeps answers only where prefill is exact (float32).
        self.close_prompts = CLOSE_PROMPTS if quantization == "float32" else 0
        self._ct2 = ctranslate2
        self.cores = _cores()
        super().__init__(models.load_tokenizer(settings))
        self._eos_tokens = sorted(self._eos)
        self._generators = {None: self._open_cached(
            lambda: ct2_cache.prepare_ct2_generator(settings, progress, quantization))}
        self._adapter_keys: dict[str, str] = {}

    def _open(self, folder: Path):
        return self._ct2.Generator(str(folder), device="cpu", compute_type=self.quantization,
                                   intra_threads=INTRA_THREADS, inter_threads=self.cores)

    def _open_cached(self, prepare):
        """Open the (verified) cached copy `prepare()` returns; a copy CTranslate2 still cannot
        read (damaged after its check, or written by another CTranslate2 version) is rebuilt
        once, and a second failure is a clear error instead of a raw RuntimeError."""
        folder = prepare()
        try:
            return self._open(folder)
        except (RuntimeError, ValueError, OSError):
            ct2_cache.discard(folder)
        folder = prepare()
        try:
            return self._open(folder)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ct2_cache.ModelConversionFailed(
                f"The converted model in {folder} cannot be opened: {str(exc)[:300]}",
                hint="Set CROSSROADS_ENGINE=hf to answer with transformers; delete the folder to convert again.") from exc

    def describe(self) -> dict:
        return {**super().describe(), "device": "cpu", "threads": f"{INTRA_THREADS} per batch, {self.cores} batches"}

    def load_adapters(self, adapters: dict[str, Path], progress: Progress | None = None) -> None:
        for name, folder in adapters.items():
            key = ct2_cache.adapter_weights_key(Path(folder))
            if self._adapter_keys.get(name) == key:
                continue  # loaded, and its weights have not changed since
            opened = self._open_cached(
                lambda folder=folder: ct2_cache.prepare_ct2_adapter(Path(folder), self.settings, progress, self.quantization))
            old = self._generators.get(name)
            self._generators[name], self._adapter_keys[name] = opened, key
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
            for batch in length_batches(indices, lengths, math.ceil(len(indices) / per_core), self.close_prompts):

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
