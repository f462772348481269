"""Fine-tune page, step 2: the preset (chosen for the task and the file's size) and the advanced options.

A training mode (e.g. RAFT, "for use with retrieval") plugs in as another section called from
app_pages/finetune.py before `options_section`, passing its choice into the options it returns.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import streamlit as st

from core.runtime.text import plural
from core.training import finetune
from core.training.finetune import (
    PRESET_NAMES,
    PRESETS,
    TASK_TITLES,
    TrainOptions,
    preset_options,
    task_of,
)

OPTION_ORDER = ("rank", "alpha", "dropout", "learning_rate", "epochs", "batch_size", "grad_accum",
                "max_length", "eval_fraction", "seed", "max_steps", "warmup_steps")

# Written by `python -m bench.presets` (the demo data, through the real worker): shown next to the
# presets so their cost and effect are known before a run. Seconds depend on the machine; quality does not.
MEASURED_FILE = Path(__file__).resolve().parent.parent / "bench" / "results" / "presets.json"


def measured_figures(path: Path = MEASURED_FILE) -> dict[tuple[str, str], str]:
    """{(task, preset): "80 steps, 95 s, eval loss 3.1 → 2.0, train recall 0.9 (base 0.0)"} from the bench file."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("rows") or []
    except (OSError, ValueError, AttributeError):
        return {}
    out = {}
    for r in rows:
        if not isinstance(r, dict) or r.get("steps") is None:
            continue
        loss = (f", eval loss {r['eval_loss_first']:.2f} → {r['eval_loss_last']:.2f}"
                if r.get("eval_loss_first") is not None and r.get("eval_loss_last") is not None else "")
        if r.get("task") == "labels":
            quality = f"held-out accuracy {r.get('heldout_accuracy', 0):.0%} (base {r.get('base_heldout_accuracy', 0):.0%})"
        else:
            quality = f"train recall {r.get('train_recall_all', 0):.0%} (base {r.get('base_train_recall_all', 0):.0%})"
        out[(r.get("task"), r.get("preset"))] = (f"{r['steps']} steps, {r.get('seconds', 0):.0f} s on "
                                                 f"{r.get('data', 'the demo')}{loss}, {quality}")
    return out


def _number(name: str, current, key: str, minimum: int = 0):
    kwargs = {"help": finetune.option_help(name), "key": key}
    if isinstance(current, float):
        if name == "learning_rate":
            return st.number_input("learning rate", value=current, min_value=1e-7, format="%.1e", step=1e-4, **kwargs)
        if name == "eval_fraction":
            return st.number_input("eval split", value=current, min_value=0.0, max_value=0.5, step=0.05, **kwargs)
        return st.number_input(name.replace("_", " "), value=current, min_value=0.0,
                               step=0.5 if name == "epochs" else 0.05, **kwargs)
    return int(st.number_input(name.replace("_", " "), value=max(current, minimum), min_value=minimum, step=1, **kwargs))


def plan_text(options: TrainOptions, n_train: int) -> str:
    """What this run will do, from the options it will really use (max steps included)."""
    steps = finetune.plan_steps(n_train, options)
    per_epoch = finetune.plan_steps(n_train, replace(options, epochs=1.0, max_steps=0))
    epochs = steps / per_epoch
    if options.max_steps > 0 and epochs < options.epochs:
        return (f"{plural(steps, 'step')}: max steps {options.max_steps} stops it after {epochs:.2g} of "
                f"{plural(options.epochs, 'epoch')}")
    return f"{plural(options.epochs, 'epoch')}, ~{plural(steps, 'step')}"


def options_section(kind: str | None, n_rows: int, sha: str, draft: dict,
                    min_max_length: int | None = None, task_kind: str | None = None) -> tuple[str, TrainOptions]:
    """(preset name, options): the preset for this task and size, with the user's advanced changes.
    `min_max_length`: the training mode's floor (RAFT rows carry their context): the field shows it."""
    task = task_of(kind)
    saved_preset = draft.get("preset") if draft.get("preset") in PRESET_NAMES else "quick"
    preset = st.segmented_control("Preset", PRESET_NAMES, default=saved_preset, key="ft_preset",
                                  format_func=str.title) or "quick"
    base = preset_options(preset, kind, n_rows)
    # Extraction trains prompt -> JSON with the fact family's preset; the demo figures are not its own.
    figures = None if task_kind == "extraction" else measured_figures().get((task, preset))
    title = "extraction (the fact-Q&A preset: prompt → JSON answer)" if task_kind == "extraction" else TASK_TITLES[task]
    caption = st.empty()  # filled below from the options the run will really use
    saved = draft.get("options") if draft.get("preset") == preset else None
    saved_options = TrainOptions.from_dict(saved) if isinstance(saved, dict) else base
    values = {}
    prefix = f"ft_opt_{sha[:12]}_{preset}"
    with st.expander("Advanced LoRA and training options"):
        cols = st.columns(4)
        for i, name in enumerate(OPTION_ORDER):
            with cols[i % 4]:
                floor = min_max_length if name == "max_length" and min_max_length else 0
                # The floor in the key: a new floor redraws the field at it (a kept value may be lower).
                values[name] = _number(name, getattr(saved_options, name), f"{prefix}_{name}{floor or ''}", floor)
        values["target_modules"] = tuple(st.multiselect(
            "target modules", finetune.ALL_LINEAR, default=list(saved_options.target_modules),
            key=f"{prefix}_modules", help=finetune.option_help("target_modules")))
    options = replace(base, **values)
    caption.caption(f"For **{title}**: {PRESETS[task][preset].help} On this file: "
                    f"{plan_text(options, n_rows - round(n_rows * options.eval_fraction))}."
                    + (f"  \n:material/monitoring: Measured on the demo data: {figures}" if figures else ""))
    return preset, options
