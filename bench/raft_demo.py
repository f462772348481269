"""RAFT on the demo workspace: train a RAFT and a closed-book adapter (same options), then
evaluate rag, the naive hybrid and hybrid (RAFT) on demo/qa_test.jsonl with paired CIs.

    CROSSROADS_DATA_DIR=/tmp/raft_data python -m bench.raft_demo [--rows 48] [--epochs 3]

Writes bench/results/raft_demo.json (or --out) and prints it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(path: Path, name: str, options, mode: dict) -> dict:
    from core.runtime import jobs
    from core.training.finetune import start_finetune

    t0 = time.perf_counter()
    job = start_finetune(path, name, options, overwrite=True, adapter_mode=mode)
    job = jobs.wait(job.id, poll=2)
    if job.state != "completed":
        raise SystemExit(f"training {name} {job.state}: {job.status.get('error')}")
    result = job.status.get("result") or {}
    return {"adapter": name, "seconds": result.get("seconds"), "wall_s": round(time.perf_counter() - t0, 1),
            "steps": result.get("steps"), "train_loss": result.get("train_loss")}


def main(argv=None) -> int:
    from dataclasses import replace

    from core.evaluation.arms import ArmSetup
    from core.evaluation.evalset_files import load_eval_file
    from core.evaluation.evaluate import evaluate, save_report
    from core.evaluation.report_pairs import pair_reports
    from core.knowledge.demo import DEMO_KB, load_demo_workspace
    from core.runtime.models import load_tokenizer
    from core.training.finetune import TrainOptions
    from core.training.raft import (
        RaftOptions,
        build_raft_rows,
        fitted_max_length,
        qa_rows_from_file,
    )

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--limit", type=int, default=None, help="test questions (default all)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "raft_demo.json")
    args = ap.parse_args(argv)

    load_demo_workspace()
    work = Path("/tmp") / "raft_demo_files"
    work.mkdir(exist_ok=True)
    rows = qa_rows_from_file(ROOT / "demo" / "qa_train.jsonl")[: args.rows]
    closed = work / "closed_book.jsonl"
    closed.write_text("".join(json.dumps({"question": r.question, "answer": r.answer}) + "\n" for r in rows))
    build = build_raft_rows(rows, RaftOptions(kb=DEMO_KB))
    raft_file = build.write_jsonl(work / "raft.jsonl")
    options = TrainOptions(rank=16, alpha=32, dropout=0.0, learning_rate=2e-3, epochs=args.epochs, batch_size=4,
                           max_length=fitted_max_length(build, load_tokenizer()), evals=1)
    out = {"rows": len(rows), "options": options.as_dict(), "raft": build.mode_meta(),
           "oracle_share": build.oracle_share, "training": {}}
    out["training"]["raft"] = train(raft_file, "demo-raft", options, build.mode_meta())
    out["training"]["closed_book"] = train(closed, "demo-closed", options, {"mode": "closed_book"})

    test = load_eval_file(ROOT / "demo" / "qa_test.jsonl")
    if args.limit:
        test = replace(test, items=test.items[: args.limit])
    naive = evaluate(test, ArmSetup(arms=("rag", "hybrid"), kb=DEMO_KB, adapter="demo-closed"))
    raft = evaluate(test, ArmSetup(arms=("rag", "hybrid"), kb=DEMO_KB, adapter="demo-raft"))
    out["reports"] = {"naive": str(save_report(naive)), "raft": str(save_report(raft))}
    out["raft_vs_rag"] = pair_reports(raft, "hybrid", naive, "rag")
    out["raft_vs_naive"] = pair_reports(raft, "hybrid", naive, "hybrid")
    out["naive_vs_rag"] = pair_reports(naive, "hybrid", naive, "rag")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
