"""Ingestion as a background job, with the real worker process, embedder and Chroma: progress and
per-file results while it runs, a cancel that stops within one batch, kill -9, resume without
duplicates, one ingestion at a time, and a reader in another process that sees the new chunks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.knowledge import ingest_job as IJ
from core.knowledge import manifest as KM
from core.runtime import jobs
from tests.unit.test_knowledge_crash import ROOT, run_check

pytestmark = pytest.mark.slow


def many_files(n: int = 80) -> list[tuple[str, bytes]]:
    """About ten chunks each: enough batches that a cancel lands mid-way."""
    return [(f"doc{i:03d}.txt", (f"This is record doc{i:03d}. " + " ".join(
        f"Entry {j} of record {i} holds value {i * j}." for j in range(80))).encode()) for i in range(n)]


def wait_for(predicate, timeout: float = 300.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def chunks_done(job_id: str) -> int:
    progress = jobs.get(job_id).status.get("progress") or {}
    return progress.get("chunks_done", 0)


@pytest.fixture
def small_batches(data_dir, monkeypatch):
    monkeypatch.setenv("CROSSROADS_INGEST_BATCH", "8")  # the worker inherits it: many batches to stop between
    return data_dir


def test_an_ingestion_job_reports_each_file_and_cleans_up_its_inputs(data_dir):
    job = IJ.start_ingest("docs", [("notes/a.txt", b"The Skerry warranty is 36 months."),
                                   ("empty.txt", b""), ("b.md", b"# Support\nAnswers within one working day.")])
    job = jobs.wait(job.id, timeout=300)
    assert job.state == "completed", job.status
    result = job.status["result"]
    assert [f["status"] for f in result["files"]] == ["indexed", "error", "indexed"]
    assert {f["name"]: f["status"] for f in IJ.file_results(job)} == {
        "notes/a.txt": "indexed", "empty.txt": "error", "b.md": "indexed"}
    assert not (job.run_dir / "inputs").exists()  # the knowledge base keeps the originals
    assert KM.read_manifest("docs")["files"] and IJ.indexing("docs") is None


def test_cancel_stops_within_a_batch_and_resume_indexes_every_chunk_once(small_batches):
    job = IJ.start_ingest("big", many_files())
    wait_for(lambda: chunks_done(job.id) >= 16, what="two batches")
    assert IJ.indexing("big").id == job.id
    with pytest.raises(jobs.JobBusy, match="ingest"):  # never two writers interleaved
        IJ.start_ingest("big", [("other.txt", b"Another file.")])
    jobs.cancel(job.id)
    job = jobs.wait(job.id, timeout=120)
    assert job.state == "cancelled" and job.status["result"]["cancelled"]
    env = {**os.environ, "CROSSROADS_DATA_DIR": str(small_batches)}
    partial = run_check(env)
    assert partial["count"] == partial["complete_chunks"] == partial["unique"]  # exactly the complete files
    # the files it was cut in (a batch can span two) are listed "interrupted", none of their chunks stored
    assert partial["pending"] <= 3 and 0 < partial["complete"] < 80
    job = jobs.wait(jobs.resume(job.id).id, timeout=600)
    assert job.state == "completed", job.status
    assert all(f["status"] == "indexed" for f in job.status["result"]["files"])
    final = run_check(env)
    assert final["complete"] == 80 and final["count"] == final["complete_chunks"] == final["unique"]
    assert final["keyword_ids"] == final["complete_ids"] and not final["missing"]


def test_kill_9_mid_write_then_resume(small_batches):
    job = IJ.start_ingest("big", many_files())
    wait_for(lambda: chunks_done(job.id) >= 16, what="two batches")
    os.kill(jobs.get(job.id).status["pid"], signal.SIGKILL)
    job = wait_for(lambda: (j := jobs.get(job.id)).state == "interrupted" and j, timeout=30, what="interrupted")
    job = jobs.wait(jobs.resume(job.id).id, timeout=600)
    assert job.state == "completed", job.status
    final = run_check({**os.environ, "CROSSROADS_DATA_DIR": str(small_batches)})
    assert final["complete"] == 80 and final["pending"] == 0
    assert final["count"] == final["complete_chunks"] == final["unique"] and not final["missing"]


def test_this_process_sees_chunks_another_process_wrote(data_dir):
    """An embedded Chroma client serves queries from the vector index it loaded: without the
    write stamp, this process would not find what the job indexed (measured before the fix)."""
    from core.knowledge.retrieval import retrieve

    first = jobs.wait(IJ.start_ingest("docs", [("a.txt", b"Support answers within one working day.")]).id, timeout=300)
    assert first.state == "completed"
    assert retrieve("docs", "support", k=3, search_type="dense")  # this process's client is open now
    job = jobs.wait(IJ.start_ingest("docs", [("b.txt", b"The Larkspur logger resets after holding Lark for 12 seconds.")]).id,
                    timeout=300)
    assert job.state == "completed"
    hits = retrieve("docs", "How long to hold the Lark button to reset the logger?", k=2, search_type="dense")
    assert any(h.source == "b.txt" for h in hits), [h.source for h in hits]


def test_cli_background_returns_the_run_id_and_resume_finishes(data_dir, tmp_path):
    doc = tmp_path / "policy.txt"
    doc.write_text("Every station ships with a 36-month warranty.")
    env = {**os.environ, "CROSSROADS_DATA_DIR": str(data_dir)}
    out = subprocess.run([sys.executable, "-m", "core", "ingest", "--kb", "cli", str(doc), "--background"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    started = json.loads(out.stdout)
    assert started["run_id"].startswith("ingest-") and started["files"] == 1
    assert jobs.wait(started["run_id"], timeout=300).state == "completed"
    again = subprocess.run([sys.executable, "-m", "core", "ingest", "--resume", started["run_id"]],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "already completed" in again.stdout + again.stderr
