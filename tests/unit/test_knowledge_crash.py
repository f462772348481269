"""kill -9 during a large ingestion, then a fresh process: no duplicates, every file the manifest
calls complete is queryable, and re-running the ingestion completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import json
from core.knowledge import keyword_index as KW
from core.knowledge import manifest as KM
from core.knowledge import store as KS
from core.runtime.settings import get_settings
# A fresh process, straight to Chroma (no embedder load): the stored vectors answer the queries.
manifest = KM.read_manifest("big")
col = KS.chroma_client().get_collection(manifest["collection"])
ids = col.get(include=[])["ids"]
complete = {fid: e for fid, e in manifest["files"].items() if e["status"] == "complete"}
missing = [fid for fid, e in complete.items()
           if len(col.get(ids=e["chunk_ids"], include=[])["ids"]) != len(e["chunk_ids"])]
probe = next(iter(complete.values()))
vec = col.get(ids=probe["chunk_ids"][:1], include=["embeddings"])["embeddings"][0]
hits = col.query(query_embeddings=[vec], n_results=3, include=["metadatas"])["metadatas"][0]
print(json.dumps({"count": col.count(), "ids": len(ids), "unique": len(set(ids)),
                  "complete": len(complete), "pending": sum(e["status"] != "complete" for e in manifest["files"].values()),
                  "complete_chunks": sum(e["chunks"] for e in complete.values()), "missing": missing,
                  "probe_found": any(h["source"] == probe["name"] for h in hits),
                  "keyword_ids": KW.stored_ids("big", get_settings()),
                  # a reader never gets a keyword hit the manifest does not list, even before a writer repairs
                  "keyword_hits_listed": all(cid in KM.claimed_ids(manifest) for cid, _ in
                                             KW.search("big", "record entry value", 50, col, manifest, get_settings())),
                  "complete_ids": sorted(KM.claimed_ids(manifest))}))
"""


def run_check(env) -> dict:
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_kill_during_ingestion_then_reopen_and_resume(data_dir, tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(120):  # one short chunk each: the test is about bookkeeping, not volume
        (src / f"doc{i:03d}.txt").write_text(
            f"This is record doc{i:03d}. " + " ".join(f"Entry {j} holds value {i * j}." for j in range(4)))
    env = {**os.environ, "CROSSROADS_DATA_DIR": str(data_dir), "CROSSROADS_INGEST_BATCH": "8"}
    cmd = [sys.executable, "-m", "core", "ingest", "--kb", "big", str(src), "--chunk-size", "300", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest_path = data_dir / "kb" / "big" / "manifest.json"
    deadline = time.monotonic() + 240
    complete = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            files = json.loads(manifest_path.read_text())["files"].values()
            complete = sum(e["status"] == "complete" for e in files)
        except (OSError, ValueError):
            pass
        if complete >= 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "ingestion finished before it could be killed"
    assert complete >= 10
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    state = run_check(env)  # a fresh process opens the store
    assert state["ids"] == state["unique"] == state["count"]
    assert state["missing"] == [] and state["probe_found"]
    assert 10 <= state["complete"] < 120
    assert state["count"] >= state["complete_chunks"]  # plus partial chunks of the interrupted file(s)
    assert state["keyword_hits_listed"]

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout)
    assert all(f["status"] == "indexed" for f in report["files"])
    final = run_check(env)
    assert final["complete"] == 120 and final["pending"] == 0
    assert final["count"] == final["ids"] == final["unique"] == final["complete_chunks"]
    assert final["keyword_ids"] == final["complete_ids"] and final["keyword_hits_listed"]  # the keyword index caught up with the manifest
