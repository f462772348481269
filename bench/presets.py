"""Fine-tune presets measured on the demo data: steps, seconds, eval loss, recall / accuracy.

For fact Q&A (demo/qa_train.jsonl) a preset is judged by train recall: how many of its own
training answers the adapter reproduces (core/training/train_recall.py, 8 seeded rows, plus
all training rows here). For labels (demo/tickets.csv) by held-out accuracy against the base
model on the seeded split the run kept out. `old-quick` is the Quick preset before issue 10.3.

Quality figures do not depend on machine load; seconds do (state the machine with them).
Results: bench/results/presets.json and a Markdown table on stdout.

    python -m bench.presets [--presets quick,balanced] [--tasks facts,labels]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEMO = {"facts": ROOT / "demo" / "qa_train.jsonl", "labels": ROOT / "demo" / "tickets.csv"}


def _options(preset: str, task: str, n_rows: int):
    from core.training.finetune import TrainOptions, preset_options

    if preset == "old-quick":  # the Quick preset before issue 10.3, for the "before" figure
        return TrainOptions(rank=8, alpha=16, epochs=1, learning_rate=1e-3, max_length=128, evals=2)
    return preset_options(preset, "classification" if task == "labels" else "qa", n_rows)


def measure(preset: str, task: str) -> dict:
    from core.runtime import jobs, models
    from core.training import adapters
    from core.training import datasets as ds
    from core.training.adapter_checks import load_adapter_model
    from core.training.finetune import KIND, run_worker
    from core.training.train_recall import measure_train_recall

    path = DEMO[task]
    data = ds.load_labeled(path).require_valid()
    options = _options(preset, task, len(data.rows))
    name = f"bench-{task}-{preset}"
    spec = {"mode": "train", "name": name, "options": options.as_dict(), "data_file": "data" + path.suffix,
            "data_name": path.name, "schema": None, "overwrite": True}
    run_dir = jobs.create(KIND, "core.training.finetune", spec, group="train", files={spec["data_file"]: path})
    t0 = time.perf_counter()
    run_worker(run_dir)
    seconds = time.perf_counter() - t0
    status = jobs.get(run_dir.name).status
    if status.get("state") != "completed":
        return {"preset": preset, "task": task, "state": status.get("state"), "error": status.get("error")}
    evals = [r["eval_loss"] for r in jobs.read_progress(run_dir) if r.get("eval_loss") is not None]
    meta = adapters.get_adapter(name).meta
    out = {"preset": preset, "task": task, "data": path.name, "rows": len(data.rows),
           "steps": meta["metrics"]["steps"], "epochs": options.epochs, "seconds": round(seconds, 1),
           "eval_loss_first": evals[0] if evals else None, "eval_loss_last": evals[-1] if evals else None,
           "train_recall_8": meta["train_recall"]["share"]}
    model, tokenizer = load_adapter_model({name: adapters.adapter_dir(name)})
    train, held = ds.split(data, options.eval_fraction, options.seed)
    if task == "facts":
        with models.adapter_active(model, name):
            out["train_recall_all"] = measure_train_recall(model, tokenizer, train, n=len(train))["share"]
        with models.adapter_active(model, None):
            out["base_train_recall_all"] = measure_train_recall(model, tokenizer, train, n=len(train))["share"]
    else:
        with models.adapter_active(model, name):
            out["heldout_accuracy"] = measure_train_recall(model, tokenizer, held, data.labels, n=len(held))["share"]
        with models.adapter_active(model, None):
            out["base_heldout_accuracy"] = measure_train_recall(model, tokenizer, held, data.labels,
                                                                n=len(held))["share"]
        out["heldout_rows"] = len(held)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.presets")
    parser.add_argument("--presets", default="old-quick,quick,balanced")
    parser.add_argument("--tasks", default="facts,labels")
    parser.add_argument("--data-dir", default=None, help="a scratch data dir (default: a temporary one "
                                                         "with the converted model linked in)")
    args = parser.parse_args(argv)
    from core.runtime.settings import get_settings, reset_settings

    source_models = get_settings().path("models")
    if not source_models.exists():  # the test suite's converted model
        source_models = ROOT / ".venv" / "crossroads-test-models" / "models"
    scratch = Path(args.data_dir or tempfile.mkdtemp(prefix="crossroads-presets-"))
    if not (scratch / "models").exists() and source_models.exists():
        shutil.copytree(source_models, scratch / "models", copy_function=os.link,
                        ignore=shutil.ignore_patterns("*.lock", "*.tmp"))
    os.environ["CROSSROADS_DATA_DIR"] = str(scratch)
    reset_settings()
    rows = [measure(p, t) for t in args.tasks.split(",") for p in args.presets.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "device": get_settings().resolved_device}, "rows": rows}
    (RESULTS / "presets.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("| task | preset | steps | seconds | eval loss first → last | recall / accuracy |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        quality = (f"train recall {r.get('train_recall_all')} (base {r.get('base_train_recall_all')})"
                   if r["task"] == "facts" else
                   f"held-out accuracy {r.get('heldout_accuracy')} (base {r.get('base_heldout_accuracy')})")
        print(f"| {r['task']} | {r['preset']} | {r.get('steps')} | {r.get('seconds')} | "
              f"{r.get('eval_loss_first')} → {r.get('eval_loss_last')} | {quality} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
