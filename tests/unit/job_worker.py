"""A tiny job worker for the job-layer tests: `python -m tests.unit.job_worker --run-dir D [--resume]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.runtime.jobrun import JobRun
from core.runtime.jobs import read_progress


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    with JobRun(args.run_dir) as run:
        spec = run.spec
        done = [r["step"] for r in read_progress(args.run_dir) if "step" in r] if args.resume else []
        first = (max(done) + 1) if done else 1
        run.update(total_steps=spec["steps"])
        for step in range(first, spec["steps"] + 1):
            if run.stop_requested():
                run.finish("cancelled")
                return 0
            time.sleep(spec.get("sleep", 0.05))
            if spec.get("fail_at") == step:
                raise RuntimeError(f"boom at step {step}")
            run.progress(step=step, loss=1.0 / step)
            run.update(step=step)
        run.finish("completed", result={"steps": spec["steps"], "resumed_from": first})
    return 0


if __name__ == "__main__":
    sys.exit(main())
