"""The training worker's loop: prepare the data and model, train with LoRA, then estimate or publish.

Started as `python -m core.training.finetune --run-dir ...` (see core/training/finetune.py), which
calls `execute(run, resume)` inside a `JobRun`. Mode "estimate" runs a few real steps and reports
time per step, memory and trainable parameters without publishing anything.
"""

from __future__ import annotations

import shutil
import statistics
import time

from core.runtime.settings import get_settings
from core.training import datasets as ds
from core.training import finetune, lora_targets
from core.training.chat_format import to_dataset
from core.training.finetune import MAX_EVAL_ROWS, TrainingError, TrainOptions, plan_steps
from core.training.schema import Schema
from core.training.train_recall import measure_train_recall
from core.training.trainer_setup import (
    complete_checkpoints,
    library_versions,
    padding_collator,
    peak_memory_mb,
    run_dir_callback,
    training_args,
    truncate_progress,
)


def split_seed(spec: dict, options) -> int:
    """The held-out split's seed: the spec's own (a seed group keeps one split), else the run's seed."""
    return int(spec["split_seed"]) if spec.get("split_seed") is not None else options.seed


def _prepare(run, settings):
    """(model, tokenizer, data, train_rows, eval_rows, options) for the spec in the run dir."""
    import torch

    from core.runtime.models import load_generator

    spec = run.spec
    options = TrainOptions.from_dict(spec.get("options") or {})
    options.check()
    torch.manual_seed(options.seed)
    run.update(message="Loading the base model…")
    model, tokenizer = load_generator(settings)
    if not finetune.STANDALONE:  # in-process (tests): never inject LoRA into the process's shared base model
        from core.runtime.models import _load_generator_cached, generator_path

        model, _ = _load_generator_cached.__wrapped__(generator_path(settings), settings.resolved_device,
                                                      settings.dtype_name)
    schema = None
    if spec.get("schema"):
        schema = Schema.of(spec["schema"]["kind"], spec["schema"]["mapping"])
    data = ds.load_labeled(run.run_dir / spec["data_file"], name=spec.get("data_name"), schema=schema,
                           tokenizer=tokenizer, max_length=options.max_length).require_valid()
    train_rows, eval_rows = ds.split(data, options.eval_fraction, split_seed(spec, options))
    return model, tokenizer, data, train_rows, eval_rows, options


def execute(run, resume: bool) -> int:
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer

    settings = get_settings()
    device = settings.resolved_device
    spec = run.spec
    mode = spec.get("mode", "train")
    model, tokenizer, data, train_rows, eval_rows, options = _prepare(run, settings)
    shutil.rmtree(run.run_dir / "staging", ignore_errors=True)  # leftovers of a killed save
    # the options name layers the Llama way; the base model's architecture has its own names
    targets = lora_targets.target_modules(getattr(model.config, "model_type", None), options.target_modules)
    lora = LoraConfig(r=options.rank, lora_alpha=options.alpha, lora_dropout=options.dropout,
                      target_modules=targets, task_type="CAUSAL_LM", bias="none")
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:
        raise TrainingError(f"LoRA cannot target {', '.join(targets)} on this model ({settings.model_name}): {exc}",
                            hint="Choose target modules the base model has (e.g. q_proj, v_proj).") from exc
    model.train()
    trainable, total_params = model.get_nb_trainable_parameters()
    train_ds = to_dataset(train_rows, tokenizer, data.labels, options.max_length)
    # Eval loss on at most MAX_EVAL_ROWS held-out rows (the held-out split itself is unchanged).
    eval_ds = to_dataset(eval_rows[:MAX_EVAL_ROWS], tokenizer, data.labels, options.max_length) if eval_rows else None
    total_steps = int(spec.get("steps", 4)) if mode == "estimate" else plan_steps(len(train_rows), options)
    run.update(total_steps=total_steps, trainable_params=trainable, total_params=total_params,
               train_rows=len(train_rows), eval_rows=len(eval_rows), device=device, message="Training…")
    callback = run_dir_callback(run, device, total_steps)
    trainer = Trainer(
        model=model,
        args=training_args(run.run_dir, options, device, total_steps, bool(eval_rows), mode),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=padding_collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    checkpoint = None
    if resume and mode == "train":
        done = complete_checkpoints(run.run_dir)
        checkpoint = str(done[-1]) if done else None
        step = int(done[-1].name.split("-")[-1]) if done else 0
        truncate_progress(run.run_dir, step)
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
            "peak_memory_mb": round(peak_memory_mb(device)),
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
    run.update(message="Checking recall of training answers…")
    train_recall = measure_train_recall(model, tokenizer, train_rows, data.labels, seed=options.seed)
    run.update(message="Saving the adapter…")
    from core.training.adapters import publish_adapter

    meta = {
        "run_id": run.run_dir.name,
        "data": {"name": spec.get("data_name"), "sha256": data.sha256, "kind": data.kind,
                 "mapping": data.schema.mapping if data.schema else {}, "rows": len(data.rows),
                 "train_rows": len(train_rows), "eval_rows": len(eval_rows), "labels": list(data.labels)},
        "split": {"eval_fraction": options.eval_fraction, "seed": split_seed(spec, options),
                  "eval_row_numbers": [r.number for r in eval_rows]},
        "format": "core.training.chat_format.chat_messages",
        "mode": spec.get("adapter_mode") or {"mode": "closed_book"},  # raft or closed_book (core/training/raft.py)
        "options": options.as_dict(),
        "metrics": metrics,
        "train_recall": train_recall,
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
              "samples": samples, "tokens_per_s": metrics["tokens_per_s"], "steps": metrics["steps"],
              "train_recall": train_recall}
    run.finish("completed", result=result, message=f"Adapter {spec['name']!r} saved.")
    return 0
