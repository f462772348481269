"""What the training worker hands `transformers.Trainer`: arguments, the padding collator, the run-dir
callback (progress, cancel, non-finite loss), complete checkpoints; and what it measures (memory, versions).

Checkpoints are written by the Trainer into `staging/` and moved into `checkpoints/` once
complete, so `--resume` always starts from a complete one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from core.training.finetune import TrainOptions

KEEP_CHECKPOINTS = 2


def padding_collator(pad_id: int):
    import torch

    def collate(batch: list[dict]) -> dict:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            mask[i, :n] = 1
            labels[i, :n] = torch.tensor(b["labels"])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return collate


def library_versions() -> dict:
    import datasets
    import peft
    import torch
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "datasets": datasets.__version__}


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import psutil

    info = psutil.Process().memory_info()
    return getattr(info, "peak_wset", None) or _vm_hwm_mb() or info.rss / 2**20


def _vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def complete_checkpoints(run_dir: Path) -> list[Path]:
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("checkpoint-")
             and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def run_dir_callback(run, device: str, total_hint: int):
    from transformers import TrainerCallback

    class RunDirCallback(TrainerCallback):
        """Progress / status in the run dir, STOP = cancel, non-finite loss = stop and fail."""

        def __init__(self):
            self.cancelled = False
            self.nan: dict | None = None
            self.step_times: list[float] = []
            self._t_step = None
            self.t0 = time.perf_counter()
            self.elapsed_before = float(run.status.get("elapsed_s") or 0.0)
            self.last_train_loss = None
            self.last_eval_loss = None
            self.last_eval_step = None

        def elapsed(self) -> float:
            return self.elapsed_before + time.perf_counter() - self.t0

        def on_train_begin(self, args, state, control, **kw):
            run.update(total_steps=state.max_steps or total_hint, step=state.global_step)

        def on_step_begin(self, args, state, control, **kw):
            self._t_step = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if self._t_step is not None:
                self.step_times.append(time.perf_counter() - self._t_step)
            if run.stop_requested() and not self.cancelled:
                self.cancelled = True
                control.should_training_stop = True
                control.should_save = True  # a checkpoint to resume from
                control.should_evaluate = False
            return control

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            step = state.global_step
            if "loss" in logs:
                loss = float(logs["loss"])
                lr = float(logs.get("learning_rate", 0.0))
                record = {"step": step, "epoch": round(state.epoch or 0, 3), "loss": loss if math.isfinite(loss) else None,
                          "lr": lr, "elapsed_s": round(self.elapsed(), 2)}
                if "grad_norm" in logs and logs["grad_norm"] is not None:
                    gn = float(logs["grad_norm"])
                    record["grad_norm"] = gn if math.isfinite(gn) else None
                    if not math.isfinite(gn) and math.isfinite(loss):
                        loss = gn
                if "num_input_tokens_seen" in logs:
                    record["tokens_seen"] = int(logs["num_input_tokens_seen"])
                run.progress(**record)
                if not math.isfinite(loss):
                    self.nan = {"step": step, "learning_rate": lr, "loss": str(logs["loss"])}
                    control.should_training_stop = True
                    control.should_save = False
                    control.should_evaluate = False
                    return control
                self.last_train_loss = loss
                recent = self.step_times[-10:]
                per_step = statistics.median(recent) * 1 if recent else None
                total = state.max_steps or total_hint
                run.update(step=step, total_steps=total, epoch=round(state.epoch or 0, 3),
                           elapsed_s=round(self.elapsed(), 1), seconds_per_step=round(per_step, 3) if per_step else None,
                           eta_s=round(per_step * max(0, total - step), 1) if per_step else None,
                           train_loss=loss, message=f"Step {step} / {total}")
            if "eval_loss" in logs:
                self.last_eval_loss = float(logs["eval_loss"])
                self.last_eval_step = step
                run.progress(step=step, epoch=round(state.epoch or 0, 3), eval_loss=self.last_eval_loss,
                             elapsed_s=round(self.elapsed(), 2))
                run.update(eval_loss=self.last_eval_loss)
            return control

        def on_save(self, args, state, control, **kw):
            staged = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            final = run.run_dir / "checkpoints" / staged.name
            if staged.is_dir():
                final.parent.mkdir(exist_ok=True)
                shutil.rmtree(final, ignore_errors=True)
                os.replace(staged, final)  # a checkpoint appears in checkpoints/ only when complete
                for old in complete_checkpoints(run.run_dir)[:-KEEP_CHECKPOINTS]:
                    shutil.rmtree(old, ignore_errors=True)
                run.progress(step=state.global_step, event="checkpoint")
                run.update(last_checkpoint=state.global_step)
            return control

    return RunDirCallback()


def training_args(run_dir: Path, options: TrainOptions, device: str, total_steps: int, has_eval: bool, mode: str):
    from transformers import TrainingArguments

    every = max(1, math.ceil(total_steps / max(1, options.evals)))
    save_every = max(1, min(every, 50))
    return TrainingArguments(
        output_dir=str(run_dir / "staging"),
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        learning_rate=options.learning_rate,
        num_train_epochs=options.epochs if options.epochs > 0 else 1,
        max_steps=total_steps if (options.max_steps > 0 or mode == "estimate") else -1,
        warmup_steps=options.warmup_steps,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        logging_steps=1,
        logging_first_step=True,
        logging_nan_inf_filter=False,
        eval_strategy="steps" if has_eval and mode == "train" else "no",
        eval_steps=every,
        save_strategy="steps" if mode == "train" else "no",
        save_steps=save_every,
        save_total_limit=None,
        report_to="none",
        disable_tqdm=True,
        use_cpu=device == "cpu",
        bf16=device == "cuda",
        seed=options.seed,
        data_seed=options.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=device == "cuda",
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
    )


def truncate_progress(run_dir: Path, step: int) -> None:
    """On resume, drop progress records past the checkpoint (they will be produced again)."""
    from core.runtime.jobs import read_progress

    path = run_dir / "progress.jsonl"
    kept = [r for r in read_progress(run_dir) if int(r.get("step", 0)) <= step]
    tmp = path.with_name(".progress.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)
