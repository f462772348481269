"""The generic background-job layer: run dir protocol, cancel, kill -9, resume, one per group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runtime import jobs
from core.runtime.run_status import DamagedJobFile
from tests.conftest import ROOT

WORKER = "tests.unit.job_worker"


def _start(spec, group="train", kind="dummy"):
    return jobs.start(kind, WORKER, spec, group=group)


def _wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_job_runs_to_completion_with_progress(data_dir):
    job = _start({"steps": 3, "sleep": 0.01})
    assert job.run_dir.parent == data_dir / "runs" and (job.run_dir / "spec.json").exists()
    seen = []
    job = jobs.wait(job.id, timeout=60, on_progress=seen.append)
    assert job.state == "completed", job.log_tail()
    assert [r["step"] for r in seen] == [1, 2, 3]
    assert job.status["result"] == {"steps": 3, "resumed_from": 1}
    assert job.status["pid"] and job.status["finished"]


def test_cancel_stops_within_a_step(data_dir):
    job = _start({"steps": 500, "sleep": 0.05})
    _wait_for(lambda: len(jobs.get(job.id).progress()) >= 2)
    jobs.cancel(job.id)
    job = jobs.wait(job.id, timeout=30)
    assert job.state == "cancelled"
    assert len(job.progress()) < 500


def test_kill_9_marks_interrupted_and_resume_continues(data_dir):
    job = _start({"steps": 400, "sleep": 0.05})
    _wait_for(lambda: len(jobs.get(job.id).progress()) >= 3)
    os.kill(jobs.get(job.id).status["pid"], signal.SIGKILL)
    job = jobs.wait(job.id, timeout=30)
    assert job.state == "interrupted" and "Resume" in job.status["message"]
    done = max(r["step"] for r in job.progress())
    (job.run_dir / "spec.json").write_text(json.dumps({"steps": done + 3, "sleep": 0.01}))
    job = jobs.wait(jobs.resume(job.id).id, timeout=60)
    assert job.state == "completed" and job.status["result"]["resumed_from"] == done + 1
    assert job.status["resumes"] == 1


def test_one_job_per_group_at_a_time(data_dir):
    first = _start({"steps": 400, "sleep": 0.05})
    with pytest.raises(jobs.JobBusy, match="one train job at a time"):
        _start({"steps": 1})
    other = _start({"steps": 1, "sleep": 0.01}, group=None, kind="estimate")  # other groups are not blocked
    assert jobs.wait(other.id, timeout=60).state == "completed"
    jobs.cancel(first.id)
    assert jobs.wait(first.id, timeout=30).state == "cancelled"
    assert jobs.wait(_start({"steps": 1, "sleep": 0.01}).id, timeout=60).state == "completed"


def test_worker_lock_refuses_a_second_worker(data_dir):
    first = _start({"steps": 400, "sleep": 0.05})
    _wait_for(lambda: jobs.get(first.id).state == "running")
    # Bypass the starter's check: the worker's own lock must still refuse.
    run_dir = jobs.create("dummy", WORKER, {"steps": 1}, group="train")
    proc = subprocess.run([sys.executable, "-m", WORKER, "--run-dir", str(run_dir)], cwd=ROOT,
                          env={**os.environ}, timeout=60)
    assert proc.returncode == 3
    assert jobs.get(run_dir.name).state == "failed"
    jobs.cancel(first.id)
    jobs.wait(first.id, timeout=30)


def test_worker_exception_marks_failed_with_the_message(data_dir):
    job = jobs.wait(_start({"steps": 5, "sleep": 0.01, "fail_at": 2}).id, timeout=60)
    assert job.state == "failed" and "boom at step 2" in job.status["error"]


def test_another_process_sees_the_same_jobs(data_dir):
    job = jobs.wait(_start({"steps": 1, "sleep": 0.01}).id, timeout=60)
    code = "from core.runtime import jobs; print([(j.id, j.state) for j in jobs.list_jobs()])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert f"('{job.id}', 'completed')" in out.stdout


def test_half_written_progress_line_is_ignored(data_dir, tmp_path):
    (tmp_path / "progress.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    assert jobs.read_progress(tmp_path) == [{"step": 1, "loss": 2.0}]


def test_unknown_job_ids_are_refused(data_dir):
    for bad in ("nope", "../etc", ".train.lock", ""):
        with pytest.raises(jobs.JobError):
            jobs.get(bad)


@pytest.mark.parametrize("content,problem", [
    ("[]", "holds list"), ('"x"', "holds str"), ('{"state": "runn', "not readable JSON"),
    (json.dumps({"state": "running", "step": "x"}), "step have the wrong type"),
    (json.dumps({"state": "completed", "result": [1]}), "result have the wrong type"),
])
def test_a_damaged_status_file_is_reported_and_skipped(data_dir, content, problem):
    good = jobs.wait(_start({"steps": 1, "sleep": 0.01}).id, timeout=60)
    bad = data_dir / "runs" / "finetune-bad"
    bad.mkdir()
    (bad / "status.json").write_text(content)
    assert [j.id for j in jobs.list_jobs()] == [good.id]
    [damaged] = jobs.damaged_runs()
    assert str(bad / "status.json") in damaged.message and problem in damaged.message
    assert str(bad) in damaged.hint and "Delete the folder" in damaged.hint
    with pytest.raises(DamagedJobFile, match=problem):
        jobs.get("finetune-bad")
    assert jobs.active_job("train") is None


def test_foreign_spec_and_progress_records_are_ignored(data_dir):
    job = jobs.wait(_start({"steps": 2, "sleep": 0.01}).id, timeout=60)
    (job.run_dir / "spec.json").write_text("[]")
    with open(job.run_dir / "progress.jsonl", "a") as out:
        out.write("[]\n1\n\"x\"\n")
    job = jobs.get(job.id)
    assert job.spec == {} and all(isinstance(r, dict) for r in job.progress()) and len(job.progress()) == 2


def _zombie_children() -> list[int]:
    """This process's children the kernel lists in state Z (exited, never waited for)."""
    zombies = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()) and fields.get("State", "").startswith("Z"):
            zombies.append(int(status.parent.name))
    return zombies


def test_finished_workers_are_reaped_on_status_reads(data_dir):
    job = _start({"steps": 1, "sleep": 0.01}, group=None)
    pid = jobs.get(job.id).status["pid"]
    # The worker exits on its own; a page only ever reads status (never jobs.wait).
    _wait_for(lambda: jobs.get(job.id).state == "completed")
    _wait_for(lambda: pid in _zombie_children() or not os.path.exists(f"/proc/{pid}"))  # it has exited
    jobs.list_jobs()  # another status read, as a page rerun does
    assert pid not in _zombie_children()
    assert not os.path.exists(f"/proc/{pid}")
