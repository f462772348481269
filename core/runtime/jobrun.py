"""The worker side of a background job: lock, status, progress, STOP, final state (see jobs.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from core.runtime.errors import CrossroadsError
from core.runtime.jobs import TERMINAL, now_iso, pid_started, read_json_object, write_json_atomic


class JobRun:
    """Used by a worker process around its work: lock, status, progress, STOP, final state.

        with JobRun(run_dir) as run:
            run.update(total_steps=100)
            run.progress(step=1, loss=2.3)
            if run.stop_requested(): ...
            run.finish("completed", result={...})

    An exception leaving the block marks the job failed with its message.
    """

    def __init__(self, run_dir: Path | str):
        self.run_dir = Path(run_dir)
        self.status = read_json_object(self.run_dir / "status.json")
        self.spec = read_json_object(self.run_dir / "spec.json")
        self._lock = None
        self.finished = False

    def __enter__(self) -> JobRun:
        from filelock import FileLock, Timeout

        group = self.status.get("group")
        if group:
            self._lock = FileLock(str(self.run_dir.parent / f".{group}.lock"))
            try:
                self._lock.acquire(timeout=5)
            except Timeout:
                self._lock = None
                self.finish("failed", error=f"Another {group} job is running in this data directory.")
                raise SystemExit(3) from None
        self.update(state="stopping" if self.stop_requested() else "running", pid=os.getpid(),
                    pid_started=pid_started(os.getpid()), started=self.status.get("started") or now_iso(),
                    message="Running…")
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is not None and not self.finished and not isinstance(exc, SystemExit):
                message = exc.message if isinstance(exc, CrossroadsError) else f"{type(exc).__name__}: {exc}"
                hint = exc.hint if isinstance(exc, CrossroadsError) else ""
                self.finish("failed", error=message, hint=hint)
            elif not self.finished and exc is None:
                self.finish("completed")
        finally:
            if self._lock is not None:
                self._lock.release()
        return False

    def update(self, **fields) -> dict:
        self.status.update(fields)
        self.status["updated"] = now_iso()
        write_json_atomic(self.run_dir / "status.json", self.status)
        return self.status

    def progress(self, **record) -> None:
        record.setdefault("time", round(time.time(), 3))
        with open(self.run_dir / "progress.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=str) + "\n")

    def stop_requested(self) -> bool:
        return (self.run_dir / "STOP").exists()

    def finish(self, state: str, **fields) -> None:
        assert state in TERMINAL, state
        messages = {"completed": "Done.", "cancelled": "Cancelled.", "failed": fields.get("error") or "Failed."}
        fields.setdefault("message", messages.get(state, state))
        self.update(state=state, finished=now_iso(), **fields)
        self.finished = True
