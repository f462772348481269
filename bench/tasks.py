"""Classification and extraction on real public data: base, retrieved examples, fine-tuned, with CIs.

Financial PhraseBank (3-way sentiment) and CoNLL-2003 (PER / ORG / LOC / MISC), small subsets
under bench/data/ (TASKS-SOURCES.md: sources, licences, how they were drawn; nothing was tuned to
them). Per task: the k of the retrieved-examples arm is swept on a validation split of the
training rows, a Quick LoRA is trained on the training rows (steps capped, see --max-steps), the
arms run on the held-out rows with paired-bootstrap CIs against base; then the learning curve
(25% / 50% / 100% of the training rows; the 100% point is the main evaluation).

Results: bench/results/tasks.json (written after every stage, so a cut-short run keeps what it
measured) and bench/results/tasks.md (the Markdown tables the README quotes).

    python -m bench.tasks [--test-rows 100] [--max-steps 30] [--curve both|classification|extraction|none]
                          [--only classification|extraction]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
TASKS = {
    "classification": ("Financial PhraseBank", DATA / "fpb_train.csv", DATA / "fpb_test.csv", "accuracy"),
    "extraction": ("CoNLL-2003", DATA / "conll2003_train.txt", DATA / "conll2003_test.txt", "entity_f1"),
}
ARMS = ("base", "examples", "ft")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _train(data, name: str, max_steps: int) -> dict:
    from dataclasses import replace

    from core.training.task_finetune import task_options, train_task_adapter

    options = task_options(data, "quick")
    if max_steps:
        options = replace(options, max_steps=max_steps)
    start = time.perf_counter()
    result = train_task_adapter(data, name, options, overwrite=True)
    return {"adapter": name, "steps": result.get("steps"), "train_loss": result.get("train_loss"),
            "seconds": round(time.perf_counter() - start, 1), "options": options.as_dict()}


def _summary(report: dict, metric: str) -> dict:
    out = {"n": report["n"], "k": report["setup"]["k"], "k_sweep": report["setup"]["k_sweep"],
           "verdict": report["verdict"], "seconds": report["meta"]["seconds"], "arms": {}, "deltas": report["deltas"]}
    for arm, s in report["arms"].items():
        keep = ("accuracy", "macro_f1", "unmapped") if metric == "accuracy" else (
            "entity_f1", "entity_precision", "entity_recall", "lenient_f1", "invalid_json_rate")
        out["arms"][arm] = {k: s.get(k) for k in keep} | {"ci": s["ci"]}
    return out


def run_task(task: str, args, results: dict, save) -> None:
    from core.evaluation.evaluate import save_report
    from core.evaluation.tasks.evaluate import evaluate_task, learning_curve
    from core.training.tasks import load_task_data

    title, train_path, test_path, metric = TASKS[task]
    train = load_task_data(train_path).require_valid()
    test = load_task_data(test_path, purpose="test", min_rows=1).require_valid()
    entry = results.setdefault(task, {"data": title, "train_rows": len(train.rows),
                                      "test_rows": min(len(test.rows), args.test_rows), "metric": metric})
    entry["load_before"] = _load()
    prefix = f"bench-{task[:5]}"
    print(f"[{task}] training the Quick LoRA on {len(train.rows)} rows…", flush=True)
    entry["training"] = _train(train, f"{prefix}-100", args.max_steps)
    save()
    print(f"[{task}] evaluating {', '.join(ARMS)} on {entry['test_rows']} rows…", flush=True)
    report = evaluate_task(test, arms=ARMS, train=train, adapter=f"{prefix}-100", limit=args.test_rows,
                           batch_size=16)
    entry["report_id"] = save_report(report).stem
    entry["evaluation"] = _summary(report, metric)
    entry["load_after"] = _load()
    save()
    print(f"[{task}] {report['verdict']}", flush=True)
    if args.curve not in (task, "both"):
        return
    trainings = {}

    def train_adapter(subset, fraction: float) -> str:
        if fraction >= 1:
            return f"{prefix}-100"  # the main evaluation's adapter
        name = f"{prefix}-{round(fraction * 100)}"
        trainings[str(fraction)] = _train(subset, name, args.max_steps)
        return name

    def on_point(point: dict) -> None:
        entry.setdefault("curve_points", []).append({k: point[k] for k in ("fraction", "n_train", "arms", "deltas")})
        save()
        print(f"[{task}] curve {point['fraction']:.0%}: " + ", ".join(
            f"{a} {v[metric]:.3f}" for a, v in point["arms"].items()), flush=True)

    fractions = (0.25, 0.5)  # 100% is the main evaluation above
    learning_curve(test, train, arms=ARMS, fractions=fractions, train_adapter=train_adapter,
                   k=report["setup"]["k"], limit=args.test_rows, on_point=on_point)
    full = entry["evaluation"]
    entry["curve_points"].append({"fraction": 1.0, "n_train": len(train.rows),
                                  "arms": {a: {metric: v[metric], "ci": v["ci"]} for a, v in full["arms"].items()},
                                  "deltas": full["deltas"]})
    entry["curve_trainings"] = trainings
    entry["load_after_curve"] = _load()
    save()


def run_curve(task: str, args, results: dict, save) -> None:
    """The learning curve's smaller shares on their own (same passes over the rows as the full run)."""
    import math

    from core.evaluation.tasks.evaluate import learning_curve
    from core.training.tasks import load_task_data

    title, train_path, test_path, metric = TASKS[task]
    train = load_task_data(train_path).require_valid()
    test = load_task_data(test_path, purpose="test", min_rows=1).require_valid()
    entry = results.setdefault(task, {"data": title, "train_rows": len(train.rows), "metric": metric,
                                      "curve_points": [], "curve_trainings": {}, "load_before": _load()})
    prefix = f"bench-{task[:5]}"

    def train_adapter(subset, fraction: float) -> str:
        name = f"{prefix}-{round(fraction * 100)}"
        steps = max(1, math.ceil(args.max_steps * fraction))
        entry["curve_trainings"][str(fraction)] = _train(subset, name, steps)
        return name

    def on_point(point: dict) -> None:
        entry["curve_points"].append({k: point[k] for k in ("fraction", "n_train", "arms", "deltas")})
        save()
        print(f"[{task}] curve {point['fraction']:.0%}: " + ", ".join(
            f"{a} {v[metric]:.3f}" for a, v in point["arms"].items()), flush=True)

    fractions = tuple(float(f) for f in args.fractions.split(","))
    learning_curve(test, train, arms=ARMS, fractions=fractions, train_adapter=train_adapter, k=args.k,
                   limit=args.test_rows, on_point=on_point)
    entry["load_after_curve"] = _load()
    save()


def combine(stems: list[str]) -> int:
    """One tasks.json / tasks.md from several runs: each task's main evaluation, its curve points added."""
    merged: dict = {"meta": {"parts": {}}}
    for stem in stems:
        part = json.loads((RESULTS / f"{stem}.json").read_text(encoding="utf-8"))
        merged["meta"]["parts"][stem] = part.get("meta", {})
        for task, entry in part.items():
            if task == "meta":
                continue
            into = merged.setdefault(task, {})
            points = into.get("curve_points", []) + entry.get("curve_points", [])
            trainings = {**into.get("curve_trainings", {}), **entry.get("curve_trainings", {})}
            into.update({k: v for k, v in entry.items() if k not in into or "evaluation" in entry})
            into["curve_points"] = sorted({p["fraction"]: p for p in points}.values(), key=lambda p: p["fraction"])
            into["curve_trainings"] = trainings
    for entry in merged.values():
        if "evaluation" in entry and entry.get("curve_points") and 1.0 not in [p["fraction"] for p in entry["curve_points"]]:
            ev, metric = entry["evaluation"], entry["metric"]
            entry["curve_points"].append({"fraction": 1.0, "n_train": entry["train_rows"], "deltas": ev["deltas"],
                                          "arms": {a: {metric: v[metric], "ci": v["ci"]} for a, v in ev["arms"].items()}})
    first = next(iter(merged["meta"]["parts"].values()), {})
    merged["meta"].update({k: first.get(k) for k in ("date", "machine", "engine")})
    merged["meta"]["load_start"] = ", ".join(str(p.get("load_start")) for p in merged["meta"]["parts"].values())
    (RESULTS / "tasks.json").write_text(json.dumps(merged, indent=2), encoding="utf-8")
    (RESULTS / "tasks.md").write_text(markdown(merged), encoding="utf-8")
    print(markdown(merged))
    return 0


def _pct(v) -> str:
    return "—" if v is None else f"{v * 100:.1f}"


def _ci(interval) -> str:
    return "—" if not interval else f"{interval[1] * 100:+.1f} [{interval[0] * 100:+.1f}, {interval[2] * 100:+.1f}]"


def markdown(results: dict) -> str:
    lines = []
    for task, entry in results.items():
        if task == "meta" or "evaluation" not in entry:
            continue
        metric = entry["metric"]
        ev = entry["evaluation"]
        extra = "macro-F1" if metric == "accuracy" else "lenient F1"
        extra_key = "macro_f1" if metric == "accuracy" else "lenient_f1"
        name = "accuracy" if metric == "accuracy" else "entity F1"
        lines += [f"**{entry['data']}** ({task}; {entry['train_rows']} training rows, {ev['n']} test rows, "
                  f"k = {ev['k']} retrieved examples, Quick LoRA {entry['training']['steps']} steps in "
                  f"{entry['training']['seconds']:.0f} s)", "",
                  f"| arm | {name} % | {extra} % | Δ {name} vs base, points [95% CI] |", "|---|---|---|---|"]
        for arm, s in ev["arms"].items():
            delta = ev["deltas"].get(f"{arm}-base", {}).get(metric)
            lines.append(f"| {arm} | {_pct(s[metric])} | {_pct(s.get(extra_key))} | {_ci(delta) if delta else '—'} |")
        if d := ev["deltas"].get("ft-examples", {}).get(metric):
            lines.append(f"| ft − examples | | | {_ci(d)} |")
        lines.append("")
        if points := entry.get("curve_points"):
            arms = list(points[-1]["arms"])
            lines += [f"Learning curve ({name} %):", "", "| training rows | " + " | ".join(arms) + " |",
                      "|---" * (len(arms) + 1) + "|"]
            for p in sorted(points, key=lambda p: p["fraction"]):
                lines.append(f"| {p['n_train']} ({p['fraction']:.0%}) | " + " | ".join(
                    _pct(p["arms"].get(a, {}).get(metric)) for a in arms) + " |")
            lines.append("")
    meta = results.get("meta", {})
    lines.append(f"Measured {meta.get('date', '')} on {meta.get('machine', '')}, engine {meta.get('engine', '')}; "
                 f"load average {meta.get('load_start')} at the start.")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--test-rows", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=30, help="cap on each Quick LoRA's steps (0: the preset's)")
    parser.add_argument("--curve", choices=["classification", "extraction", "both", "none"], default="both",
                        help="which tasks get the learning curve (two more trainings each)")
    parser.add_argument("--only", choices=list(TASKS))
    parser.add_argument("--out", default="tasks", help="results file stem under bench/results (default tasks)")
    parser.add_argument("--curve-only", action="store_true",
                        help="only the learning curve's smaller shares (--fractions), each trained for the same "
                             "number of passes as the full run (steps × share), with --k fixed")
    parser.add_argument("--fractions", default="0.25,0.5")
    parser.add_argument("--k", type=int, default=None, help="--curve-only: the k of the full run")
    parser.add_argument("--combine", nargs="+", metavar="STEM",
                        help="merge these results files (stems) into bench/results/tasks.json + tasks.md")
    args = parser.parse_args()
    from core.runtime.engines import engine_name

    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.combine:
        return combine(args.combine)
    results: dict = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                              "engine": engine_name(), "load_start": _load(), "test_rows": args.test_rows,
                              "max_steps": args.max_steps, "curve": args.curve}}

    def save() -> None:
        (RESULTS / f"{args.out}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        (RESULTS / f"{args.out}.md").write_text(markdown(results), encoding="utf-8")

    for task in TASKS:
        if not args.only or args.only == task:
            (run_curve if args.curve_only else run_task)(task, args, results, save)
    results["meta"]["load_end"] = _load()
    save()
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
