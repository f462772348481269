"""LoRA fine-tuning: options, presets, and the training worker (a separate process).

    python -m core.training.finetune --run-dir data/runs/<id> [--resume]
    accelerate launch -m core.training.finetune --run-dir ...      (multi-GPU box: same entry point)

The worker reads `spec.json` in the run directory (written by `start_finetune`), trains a PEFT
LoRA adapter with `transformers.Trainer` on the labeled file copied into the run directory
(loss on the answer tokens only, see core/training/datasets.py), and reports through the run directory
(core/runtime/jobs.py): progress.jsonl (train loss every step, eval loss at each eval), status.json,
STOP = cancel. Checkpoints are written by the Trainer into `staging/` and moved into
`checkpoints/` once complete, so `--resume` always starts from a complete one. The final
adapter is published atomically under data/adapters/<name>/ (core/training/adapters.py).

Mode "estimate" runs a few real steps and reports time per step, memory and trainable
parameters without publishing anything.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.runtime.errors import CrossroadsError
from core.runtime.settings import get_settings

KIND = "finetune"
ESTIMATE_KIND = "estimate"
MIN_FREE_BYTES = 300 * 1024 * 1024
KEEP_CHECKPOINTS = 2
MAX_EVAL_ROWS = 200
STANDALONE = False  # True when this process is the worker (`python -m core.training.finetune`)
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainingError(CrossroadsError):
    """Training cannot start or did not finish."""


@dataclass(frozen=True)
class TrainOptions:
    """LoRA and training options; each field's help text is reused as the widget tooltip."""

    rank: int = field(default=16, metadata={"help": "LoRA rank r: size of the low-rank update. Higher = more capacity, more parameters."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha: scales the update (effective scale = alpha / rank). Usually 2 × rank."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input during training; a little regularization."})
    target_modules: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"), metadata={"help": "Which linear layers get a LoRA update: attention only, or also the MLP (more capacity)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Step size of the optimizer. Too high diverges (NaN loss); too low learns nothing."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training rows."})
    batch_size: int = field(default=8, metadata={"help": "Rows per forward pass. Larger is faster per row and needs more memory."})
    grad_accum: int = field(default=1, metadata={"help": "Gradient accumulation: batches summed per optimizer step (effective batch = batch × this)."})
    max_length: int = field(default=256, metadata={"help": "Longest training sequence in tokens (prompt + answer, template included); longer rows are truncated."})
    eval_fraction: float = field(default=0.1, metadata={"help": "Share of rows held out (seeded) to measure eval loss and, later, accuracy."})
    seed: int = field(default=42, metadata={"help": "Seed for the split, LoRA initialization and shuffling: same seed, same run."})
    max_steps: int = field(default=0, metadata={"help": "Stop after this many optimizer steps (0 = train for the given epochs)."})
    warmup_steps: int = field(default=0, metadata={"help": "Steps of linear learning-rate warm-up at the start."})
    evals: int = field(default=4, metadata={"help": "How many times eval loss is measured during the run."})

    def __post_init__(self):
        object.__setattr__(self, "target_modules", tuple(self.target_modules))

    def check(self) -> None:
        problems = []
        if not 1 <= self.rank <= 256:
            problems.append("rank must be between 1 and 256")
        if self.alpha <= 0:
            problems.append("alpha must be positive")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if not self.target_modules:
            problems.append("choose at least one target module")
        if not 0 < self.learning_rate:
            problems.append("learning rate must be positive")
        if self.epochs <= 0 and self.max_steps <= 0:
            problems.append("epochs must be positive")
        if not 1 <= self.batch_size <= 512 or not 1 <= self.grad_accum <= 512:
            problems.append("batch size and gradient accumulation must be between 1 and 512")
        if not 16 <= self.max_length <= 8192:
            problems.append("max length must be between 16 and 8192 tokens")
        if not 0 <= self.eval_fraction <= 0.5:
            problems.append("eval split must be between 0 and 0.5")
        if self.max_steps < 0 or self.warmup_steps < 0:
            problems.append("steps cannot be negative")
        if problems:
            raise TrainingError("Invalid training options: " + "; ".join(problems) + ".",
                                hint="Adjust the advanced options.")

    def as_dict(self) -> dict:
        return {**asdict(self), "target_modules": list(self.target_modules)}

    @classmethod
    def from_dict(cls, data: dict) -> TrainOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "target_modules" else v) for k, v in data.items() if k in known})


PRESETS: dict[str, TrainOptions] = {
    "quick": TrainOptions(rank=8, alpha=16, epochs=1, learning_rate=1e-3, max_length=128, evals=2),
    "balanced": TrainOptions(rank=16, alpha=32, epochs=3, learning_rate=1e-3, max_length=256),
    "thorough": TrainOptions(rank=32, alpha=64, epochs=5, learning_rate=5e-4, max_length=512,
                             target_modules=ALL_LINEAR, evals=5),
}
PRESET_HELP = {
    "quick": "1 epoch, rank 8, attention only, 128 tokens: a first look in minutes on a CPU.",
    "balanced": "3 epochs, rank 16, attention only, 256 tokens: the usual starting point.",
    "thorough": "5 epochs, rank 32, attention + MLP, 512 tokens: most capacity, slowest.",
}


def option_help(name: str) -> str:
    return next(f.metadata.get("help", "") for f in fields(TrainOptions) if f.name == name)


def plan_steps(n_train: int, options: TrainOptions) -> int:
    """Optimizer steps the run will take (what the Trainer computes)."""
    batches = math.ceil(max(1, n_train) / options.batch_size)
    per_epoch = max(1, math.ceil(batches / options.grad_accum))
    if options.max_steps > 0:
        return options.max_steps
    return max(1, math.ceil(per_epoch * options.epochs))


# ---------------------------------------------------------------------------------------------
# Starting jobs (used by the page and the CLI; no torch here)


def start_finetune(data_path: Path, name: str, options: TrainOptions, schema=None, data_name: str | None = None,
                   overwrite: bool = False, settings=None):
    """Validate cheaply, then start the training worker as a background job (core.runtime.jobs.Job)."""
    from core.runtime import jobs
    from core.training import adapters

    settings = settings or get_settings()
    options.check()
    adapters.check_name(name)
    if adapters.adapter_dir(name, settings).exists() and not overwrite:
        raise TrainingError(f"An adapter named {name!r} already exists.",
                            hint="Pick another name, or delete / rename the existing adapter.")
    spec = {"mode": "train", "name": name, "options": options.as_dict(), "overwrite": overwrite,
            "data_file": "data" + Path(data_path).suffix.lower(), "data_name": data_name or Path(data_path).name,
            "schema": schema.as_dict() if schema is not None else None}
    return jobs.start(KIND, "core.training.finetune", spec, group="train", settings=settings,
                      min_free_bytes=MIN_FREE_BYTES, files={spec["data_file"]: Path(data_path)})


def start_estimate(data_path: Path, options: TrainOptions, schema=None, settings=None, steps: int = 4):
    """A short job that runs `steps` real training steps and reports time, memory and parameters."""
    from core.runtime import jobs

    options.check()
    spec = {"mode": "estimate", "options": options.as_dict(), "steps": steps,
            "data_file": "data" + Path(data_path).suffix.lower(), "data_name": Path(data_path).name,
            "schema": schema.as_dict() if schema is not None else None}
    return jobs.start(ESTIMATE_KIND, "core.training.finetune", spec, settings=settings, files={spec["data_file"]: Path(data_path)})


# ---------------------------------------------------------------------------------------------
# The worker


def _collate(pad_id: int):
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


def _peak_memory_mb(device: str) -> float:
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


def _make_callback(run, device: str, total_hint: int):
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


def _training_args(run_dir: Path, options: TrainOptions, device: str, total_steps: int, has_eval: bool, mode: str):
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


def _prepare(run, settings):
    """(model, tokenizer, data, train_rows, eval_rows, options) for the spec in the run dir."""
    import torch

    from core.runtime.models import load_generator
    from core.training import datasets as ds

    spec = run.spec
    options = TrainOptions.from_dict(spec.get("options") or {})
    options.check()
    torch.manual_seed(options.seed)
    run.update(message="Loading the base model…")
    model, tokenizer = load_generator(settings)
    if not STANDALONE:  # in-process (tests): never inject LoRA into the process's shared base model
        from core.runtime.models import _load_generator_cached, generator_path

        model, _ = _load_generator_cached.__wrapped__(generator_path(settings), settings.resolved_device,
                                                      settings.dtype_name)
    schema = None
    if spec.get("schema"):
        schema = ds.Schema.of(spec["schema"]["kind"], spec["schema"]["mapping"])
    data = ds.load_labeled(run.run_dir / spec["data_file"], name=spec.get("data_name"), schema=schema,
                           tokenizer=tokenizer, max_length=options.max_length).require_valid()
    train_rows, eval_rows = ds.split(data, options.eval_fraction, options.seed)
    return model, tokenizer, data, train_rows, eval_rows, options


def run_worker(run_dir: Path, resume: bool = False) -> int:
    from core.runtime.jobs import JobRun

    run_dir = Path(run_dir)
    with JobRun(run_dir) as run:
        try:
            return _run(run, resume)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TrainingError("The disk is full: the checkpoint or adapter could not be written.",
                                    hint="Free some disk space, then resume the run.") from exc
            raise


def _run(run, resume: bool) -> int:
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer

    from core.training import datasets as ds

    settings = get_settings()
    device = settings.resolved_device
    spec = run.spec
    mode = spec.get("mode", "train")
    model, tokenizer, data, train_rows, eval_rows, options = _prepare(run, settings)
    shutil.rmtree(run.run_dir / "staging", ignore_errors=True)  # leftovers of a killed save
    lora = LoraConfig(r=options.rank, lora_alpha=options.alpha, lora_dropout=options.dropout,
                      target_modules=list(options.target_modules), task_type="CAUSAL_LM", bias="none")
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:
        raise TrainingError(f"LoRA cannot target {', '.join(options.target_modules)} on this model: {exc}",
                            hint="Choose target modules the base model has (e.g. q_proj, v_proj).") from exc
    model.train()
    trainable, total_params = model.get_nb_trainable_parameters()
    train_ds = ds.to_dataset(train_rows, tokenizer, data.labels, options.max_length)
    # Eval loss on at most MAX_EVAL_ROWS held-out rows (the held-out split itself is unchanged).
    eval_ds = ds.to_dataset(eval_rows[:MAX_EVAL_ROWS], tokenizer, data.labels, options.max_length) if eval_rows else None
    total_steps = int(spec.get("steps", 4)) if mode == "estimate" else plan_steps(len(train_rows), options)
    run.update(total_steps=total_steps, trainable_params=trainable, total_params=total_params,
               train_rows=len(train_rows), eval_rows=len(eval_rows), device=device, message="Training…")
    callback = _make_callback(run, device, total_steps)
    trainer = Trainer(
        model=model,
        args=_training_args(run.run_dir, options, device, total_steps, bool(eval_rows), mode),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=_collate(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    checkpoint = None
    if resume and mode == "train":
        done = complete_checkpoints(run.run_dir)
        checkpoint = str(done[-1]) if done else None
        step = int(done[-1].name.split("-")[-1]) if done else 0
        _truncate_progress(run.run_dir, step)
        run.update(message=f"Resuming from step {step}…" if done else "No checkpoint yet: starting over…",
                   step=step)
    t0 = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    train_seconds = time.perf_counter() - t0

    if callback.nan is not None:
        nan = callback.nan
        run.finish("failed", error=f"The loss became {nan['loss']} at step {nan['step']} "
                                   f"(learning rate {nan['learning_rate']:.3g}). No adapter was saved.",
                   hint="Lower the learning rate (e.g. ÷10) and start again.", nan=nan)
        return 2
    if mode == "estimate":
        times = callback.step_times[1:] or callback.step_times
        per_step = statistics.median(times)
        full_steps = plan_steps(len(train_rows), options)
        tokens = sum(train_ds["length"])
        result = {
            "seconds_per_step": round(per_step, 3),
            "steps": full_steps,
            "total_seconds": round(per_step * full_steps * (1.1 if eval_rows else 1.0), 1),
            "peak_memory_mb": round(_peak_memory_mb(device)),
            "trainable_params": trainable, "total_params": total_params,
            "trainable_share": trainable / total_params,
            "train_rows": len(train_rows), "eval_rows": len(eval_rows),
            "tokens_per_epoch": tokens, "device": device,
        }
        run.finish("completed", result=result)
        return 0
    if callback.cancelled:
        step = trainer.state.global_step
        run.finish("cancelled", message=f"Cancelled at step {step}. Resume continues from this checkpoint.")
        return 0

    eval_loss = callback.last_eval_loss
    if eval_ds is not None and callback.last_eval_step != trainer.state.global_step:
        run.update(message="Final evaluation…")
        eval_loss = float(trainer.evaluate()["eval_loss"])
        run.progress(step=trainer.state.global_step, eval_loss=eval_loss, epoch=round(trainer.state.epoch or 0, 3),
                     elapsed_s=round(callback.elapsed(), 2))
    seconds = callback.elapsed()
    tokens_seen = trainer.state.num_input_tokens_seen or sum(train_ds["length"]) * max(options.epochs, 1)
    samples = len(train_rows)
    metrics = {
        "train_loss": callback.last_train_loss,
        "train_loss_avg": float(output.training_loss),
        "eval_loss": eval_loss,
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0, 3),
        "tokens_per_s": round(tokens_seen / train_seconds, 1) if train_seconds > 0 else None,
        "samples_per_s": round(output.metrics.get("train_samples_per_second", 0.0), 3),
    }
    run.update(message="Saving the adapter…")
    from core.training.adapters import publish_adapter

    meta = {
        "run_id": run.run_dir.name,
        "data": {"name": spec.get("data_name"), "sha256": data.sha256, "kind": data.kind,
                 "mapping": data.schema.mapping if data.schema else {}, "rows": len(data.rows),
                 "train_rows": len(train_rows), "eval_rows": len(eval_rows), "labels": list(data.labels)},
        "split": {"eval_fraction": options.eval_fraction, "seed": options.seed,
                  "eval_row_numbers": [r.number for r in eval_rows]},
        "format": "core.training.datasets.chat_messages",
        "options": options.as_dict(),
        "metrics": metrics,
        "duration_s": round(seconds, 1),
        "trainable_params": trainable,
        "total_params": total_params,
        "device": device,
        "versions": library_versions(),
    }
    record = publish_adapter(model, spec["name"], meta, settings=settings, overwrite=bool(spec.get("overwrite")))
    shutil.rmtree(run.run_dir / "checkpoints", ignore_errors=True)  # the adapter is the result
    result = {"adapter": spec["name"], "adapter_dir": str(record.path), "train_loss": metrics["train_loss"],
              "eval_loss": eval_loss, "seconds": round(seconds, 1), "trainable_params": trainable,
              "samples": samples, "tokens_per_s": metrics["tokens_per_s"], "steps": metrics["steps"]}
    run.finish("completed", result=result, message=f"Adapter {spec['name']!r} saved.")
    return 0


def _truncate_progress(run_dir: Path, step: int) -> None:
    """On resume, drop progress records past the checkpoint (they will be produced again)."""
    from core.runtime.jobs import read_progress

    path = run_dir / "progress.jsonl"
    kept = [r for r in read_progress(run_dir) if int(r.get("step", 0)) <= step]
    tmp = path.with_name(".progress.tmp")
    import json

    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.training.finetune", description="LoRA training worker")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    args = parser.parse_args(argv)
    if not (args.run_dir / "spec.json").is_file():
        print(f"error: no spec.json in {args.run_dir}", file=sys.stderr)
        return 2
    global STANDALONE
    STANDALONE = True
    try:
        return run_worker(args.run_dir, resume=args.resume)
    except CrossroadsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

