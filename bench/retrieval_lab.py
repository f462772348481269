"""The retrieval lab's sweep on the demo knowledge base and test set: search type x k x chunk size
(4 x 4 x 3 = 48 settings), gold = the chunk that contains the answer, with its wall time.

    python -m bench.retrieval_lab                 -> bench/results/retrieval_lab.json
    python -m bench.retrieval_lab --smoke         (4 questions, 2 types, 2 ks, no extra chunking)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny sweep (checks the bench runs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["CROSSROADS_DATA_DIR"] = data_dir
        from core.evaluation.evalset_files import load_eval_file
        from core.evaluation.evalsets import EvalSet
        from core.evaluation.retrieval_lab import run_lab
        from core.knowledge.demo import DEMO_KB, load_demo_workspace
        from core.knowledge.parsing import shutdown_parsers

        started = time.perf_counter()
        assert load_demo_workspace().ok
        ingest_s = time.perf_counter() - started
        eval_set = load_eval_file(ROOT / "demo" / "qa_test.jsonl", name="demo test set")
        kwargs = {"chunk_sizes": (300, 600)}
        if args.smoke:
            eval_set = EvalSet(eval_set.name, eval_set.items[:4], eval_set.kind, eval_set.labels)
            kwargs = {"search_types": ("dense", "hybrid"), "ks": (1, 4)}
        result = run_lab(DEMO_KB, eval_set, gold="answer",
                         progress=lambda p: print(f"\r{p.describe()}   ", end="", file=sys.stderr, flush=True),
                         **kwargs)
        print(file=sys.stderr)
        shutdown_parsers()
    summary = {"questions": len(eval_set), "settings": result["n_settings"], "sweep_seconds": result["seconds"],
               "demo_ingest_seconds": round(ingest_s, 2), "best": result["best"]["label"],
               "table": [{k: r[k] for k in ("label", "hit_at_k", "mrr", "context_tokens", "retrieval_p50_ms",
                                             "best", "current")} for r in result["settings"]]}
    for row in summary["table"]:
        print(f"{row['label']:28s} hit@k {row['hit_at_k']:.3f}  MRR {row['mrr']:.3f}  "
              f"{row['context_tokens']:.0f} tokens  p50 {row['retrieval_p50_ms']:.1f} ms"
              f"{'  BEST' if row['best'] else ''}{'  current' if row['current'] else ''}")
    print(f"{summary['settings']} settings on {summary['questions']} questions in {summary['sweep_seconds']:.1f} s")
    if not args.smoke:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "retrieval_lab.json").write_text(json.dumps(summary | {"full": result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
