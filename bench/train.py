"""Training throughput: our LoRA pipeline vs a plain, default `Trainer` + PEFT run.

Same data (demo/tickets.csv, chat template applied), same model, same LoRA config, same batch
size and number of steps, same process and run. Differences are only what our pipeline does:
loss on the answer tokens only, dynamic padding to the longest row of each batch, length
grouping (`train_sampling_strategy="group_by_length"`). The baseline pads every row to
max_length (the usual `padding="max_length"` + `DataCollatorForLanguageModeling` recipe).

tokens/s counts real (non-padding) tokens, so both sides are credited for the same work.
On CUDA both run in bf16. Results: bench/results/train.json and a Markdown table on stdout.

    python -m bench.train [--steps 6] [--batch-size 8] [--max-length 128] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _lora():
    from peft import LoraConfig

    return LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      task_type="CAUSAL_LM")


def _fresh_model(device: str):
    import copy

    from peft import get_peft_model

    from core.runtime.models import load_generator

    base, tokenizer = load_generator()
    return get_peft_model(copy.deepcopy(base), _lora()), tokenizer


def _args(out: str, device: str, steps: int, batch: int, ours: bool):
    from transformers import TrainingArguments

    extra = {"train_sampling_strategy": "group_by_length", "length_column_name": "length",
             "remove_unused_columns": False} if ours else {}
    return TrainingArguments(output_dir=out, per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-3,
                             logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
                             use_cpu=device == "cpu", bf16=device == "cuda", seed=0, **extra)


class _Timer:
    def __init__(self):
        self.start = None

    def callback(self):
        from transformers import TrainerCallback

        timer = self

        class Cb(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                if state.global_step == 1 and timer.start is None:  # skip the first (warm-up) step
                    timer.start = time.perf_counter()

        return Cb()


def run_ours(rows, labels, device, steps, batch, max_length) -> dict:
    from transformers import Trainer

    from core.training.chat_format import to_dataset
    from core.training.trainer_setup import padding_collator

    model, tokenizer = _fresh_model(device)
    train = to_dataset(rows, tokenizer, labels, max_length)
    timer = _Timer()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model=model, args=_args(out, device, steps, batch, ours=True), train_dataset=train,
                          data_collator=padding_collator(tokenizer.pad_token_id), processing_class=tokenizer,
                          callbacks=[timer.callback()])
        trainer.train()
    seconds = time.perf_counter() - timer.start
    return _measure(trainer, train["length"], steps, batch, seconds)


def run_plain(rows, labels, device, steps, batch, max_length) -> dict:
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer

    from core.training.chat_format import training_messages

    model, tokenizer = _fresh_model(device)
    texts = [tokenizer.apply_chat_template(training_messages(r, labels), tokenize=False) for r in rows]
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length)
    train = Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})
    lengths = [sum(m) for m in encoded["attention_mask"]]
    timer = _Timer()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model=model, args=_args(out, device, steps, batch, ours=False), train_dataset=train,
                          data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                          processing_class=tokenizer, callbacks=[timer.callback()])
        trainer.train()
    seconds = time.perf_counter() - timer.start
    return _measure(trainer, lengths, steps, batch, seconds)


def _measure(trainer, lengths, steps, batch, seconds) -> dict:
    # Rows seen after the warm-up step: (steps - 1) batches; real tokens = their unpadded lengths.
    mean_len = sum(lengths) / len(lengths)
    samples = (steps - 1) * batch
    return {"seconds": round(seconds, 2), "samples_per_s": round(samples / seconds, 3),
            "tokens_per_s": round(samples * mean_len / seconds, 1), "steps_timed": steps - 1,
            "final_loss": trainer.state.log_history[-2].get("loss") if len(trainer.state.log_history) > 1 else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="alternate plain/ours this many times, keep the best")
    parser.add_argument("--data", default=str(ROOT / "demo" / "tickets.csv"))
    args = parser.parse_args(argv)

    import torch

    from core.runtime.settings import get_settings
    from core.training import datasets as ds

    device = get_settings().resolved_device
    data = ds.load_labeled(Path(args.data)).require_valid()
    rows = data.rows[: args.steps * args.batch_size * 2]
    results = {"plain": [], "ours": []}
    for _ in range(args.repeats):
        results["plain"].append(run_plain(rows, data.labels, device, args.steps, args.batch_size, args.max_length))
        results["ours"].append(run_ours(rows, data.labels, device, args.steps, args.batch_size, args.max_length))
    best = {k: max(v, key=lambda r: r["tokens_per_s"]) for k, v in results.items()}
    ratio = best["ours"]["tokens_per_s"] / best["plain"]["tokens_per_s"]
    payload = {
        "benchmark": "train", "data": Path(args.data).name, "device": device,
        "dtype": "bfloat16" if device == "cuda" else "float32",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None},
        "config": {"steps": args.steps, "batch_size": args.batch_size, "max_length": args.max_length,
                   "lora": "r=8, alpha=16, q/k/v/o", "repeats": args.repeats},
        "plain": best["plain"], "ours": best["ours"], "all_runs": results,
        "ratio_tokens_per_s": round(ratio, 2),
        "ratio_samples_per_s": round(best["ours"]["samples_per_s"] / best["plain"]["samples_per_s"], 2),
        "goal": ">= 1.0x", "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "train.json" if device == "cpu" else f"train_{device}.json"
    (RESULTS / name).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"| pipeline | samples/s | tokens/s (real) |\n|---|---|---|\n"
          f"| plain Trainer + PEFT (pad to {args.max_length}) | {best['plain']['samples_per_s']} | {best['plain']['tokens_per_s']} |\n"
          f"| ours (answer-only loss, dynamic padding, length grouping) | {best['ours']['samples_per_s']} | {best['ours']['tokens_per_s']} |\n"
          f"\nratio (tokens/s): {payload['ratio_tokens_per_s']}x on {device}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
