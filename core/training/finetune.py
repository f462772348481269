"""LoRA fine-tuning: options, presets, starting a run, and the training worker's entry point.

    python -m core.training.finetune --run-dir data/runs/<id> [--resume]
    accelerate launch -m core.training.finetune --run-dir ...      (multi-GPU box: same entry point)

The worker reads `spec.json` in the run directory (written by `start_finetune`), trains a PEFT
LoRA adapter with `transformers.Trainer` on the labeled file copied into the run directory
(loss on the answer tokens only, see core/training/chat_format.py), and reports through the run directory
(core/runtime/jobs.py): progress.jsonl (train loss every step, eval loss at each eval), status.json,
STOP = cancel. The final adapter is published atomically under data/adapters/<name>/
(core/training/adapters.py). The loop itself is core/training/worker.py; what it hands the
Trainer (arguments, collator, callback, checkpoints) is core/training/trainer_setup.py.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from core.runtime.errors import CrossroadsError, is_disk_full
from core.runtime.settings import get_settings

KIND = "finetune"
ESTIMATE_KIND = "estimate"
MIN_FREE_BYTES = 300 * 1024 * 1024
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


@dataclass(frozen=True)
class Preset:
    """Starting options for one task; `min_steps` raises the epochs on small files so a run is never
    too short to learn (the old 1-epoch Quick took 9 steps on 71 facts and learned nothing)."""

    options: TrainOptions
    min_steps: int
    max_epochs: float
    help: str


# Facts (Q&A, instructions, chat) are learned by repetition: a small batch, several passes,
# no dropout. Labels generalise from one or two passes over the classes.
PRESETS: dict[str, dict[str, Preset]] = {
    "facts": {
        "quick": Preset(TrainOptions(rank=16, alpha=32, dropout=0.0, learning_rate=2e-3, epochs=3, batch_size=4,
                                     max_length=128, evals=2), min_steps=80, max_epochs=12,
                        help="rank 16, attention only, 128 tokens, at least 80 steps: recalls its training answers."),
        "balanced": Preset(TrainOptions(rank=16, alpha=32, dropout=0.0, learning_rate=2e-3, epochs=6, batch_size=4,
                                        max_length=256, evals=4), min_steps=160, max_epochs=20,
                           help="rank 16, attention only, 256 tokens, at least 160 steps: firmer recall, twice as long."),
        "thorough": Preset(TrainOptions(rank=32, alpha=64, dropout=0.0, learning_rate=1e-3, epochs=10, batch_size=4,
                                        max_length=512, target_modules=ALL_LINEAR, evals=5), min_steps=240,
                           max_epochs=30, help="rank 32, attention + MLP, 512 tokens, at least 240 steps: most "
                                               "capacity, slowest."),
    },
    "labels": {
        "quick": Preset(TrainOptions(rank=8, alpha=16, dropout=0.0, learning_rate=2e-3, epochs=1, batch_size=8,
                                     max_length=128, evals=2), min_steps=20, max_epochs=4,
                        help="rank 8, attention only, 128 tokens, one pass (at least 20 steps): beats the base "
                             "model on held-out rows."),
        "balanced": Preset(TrainOptions(rank=16, alpha=32, dropout=0.05, learning_rate=1e-3, epochs=2, batch_size=8,
                                        max_length=256, evals=4), min_steps=40, max_epochs=6,
                           help="rank 16, attention only, 256 tokens, two passes: the usual starting point."),
        "thorough": Preset(TrainOptions(rank=32, alpha=64, dropout=0.05, learning_rate=1e-3, epochs=3, batch_size=8,
                                        max_length=512, target_modules=ALL_LINEAR, evals=5), min_steps=60,
                           max_epochs=10, help="rank 32, attention + MLP, 512 tokens, three passes: most capacity, "
                                               "slowest."),
    },
}
PRESET_NAMES = ("quick", "balanced", "thorough")
TASK_TITLES = {"facts": "fact Q&A", "labels": "labels (classification)"}


def task_of(kind: str | None) -> str:
    """The preset family for a data format: labels for classification, facts for the rest."""
    return "labels" if kind == "classification" else "facts"


def preset_options(preset: str, kind: str | None, n_rows: int) -> TrainOptions:
    """A preset's options for this task and file size: epochs raised until the run takes `min_steps`."""
    if preset not in PRESET_NAMES:
        raise TrainingError(f"Unknown preset {preset!r}.", hint=f"Use one of: {', '.join(PRESET_NAMES)}.")
    chosen = PRESETS[task_of(kind)][preset]
    base = chosen.options
    n_train = max(1, n_rows - round(n_rows * base.eval_fraction))
    per_epoch = plan_steps(n_train, replace(base, epochs=1.0, max_steps=0))
    epochs = min(chosen.max_epochs, max(base.epochs, math.ceil(chosen.min_steps / per_epoch)))
    return replace(base, epochs=float(epochs))


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
                   overwrite: bool = False, settings=None, adapter_mode: dict | None = None,
                   split_seed: int | None = None):
    """Validate cheaply, then start the training worker as a background job (core.runtime.jobs.Job).
    `adapter_mode` goes into the adapter's meta as `mode` (default closed-book; core/training/raft.py).
    `split_seed`: seeds the held-out split apart from `options.seed`, so the adapters of a seed group
    (core/training/seeds.py) differ only in data order and LoRA init, never in their held-out rows."""
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
            "schema": schema.as_dict() if schema is not None else None,
            "adapter_mode": adapter_mode or {"mode": "closed_book"},
            **({"split_seed": int(split_seed)} if split_seed is not None else {})}
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


def run_worker(run_dir: Path, resume: bool = False) -> int:
    from core.runtime.jobrun import JobRun

    run_dir = Path(run_dir)
    with JobRun(run_dir) as run:
        try:
            from core.training import worker

            return worker.execute(run, resume)
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError for ENOSPC
            if is_disk_full(exc):
                raise TrainingError("The disk is full: the checkpoint or adapter could not be written.",
                                    hint="Free some disk space, then resume the run.") from exc
            raise


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

