"""kill -9 between writing originals and recording them strands files the manifest never names;
the next write (under the writer lock) sweeps them, and keeps every original the manifest names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.knowledge import indexing as KI
from core.knowledge import manifest as KM
from tests.unit.kb_helpers import FakeEmbeddings

ROOT = Path(__file__).resolve().parents[2]

# The child ingests five files and is paused (then killed) after their originals are on disk
# and before any is recorded: the moment a crash strands them.
CHILD = r"""
import sys, time
from core.knowledge import indexing as KI
from tests.unit.kb_helpers import FakeEmbeddings

def paused(*args, **kwargs):
    print("ORIGINALS WRITTEN", flush=True)
    time.sleep(600)

KI.collect_parsed = paused
KI.ingest("kb", [(f"doc{i}.txt", f"document number {i} about topic {i}".encode()) for i in range(5)],
          embedder=FakeEmbeddings())
"""


def test_originals_stranded_by_kill_9_are_swept_on_the_next_write(data_dir):
    KI.ingest("kb", [("kept.txt", b"a file that was indexed before the crash")], embedder=FakeEmbeddings())
    files = KM.kb_dir("kb") / "files"
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env={**os.environ},
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ORIGINALS WRITTEN"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    named = set(KM.read_manifest("kb")["files"])
    stranded = {p.name for p in files.iterdir()} - named
    assert len(stranded) >= 5  # the crash really left originals nobody names

    KI.ingest("kb", [("after.txt", b"the next write after the crash")], embedder=FakeEmbeddings())
    manifest = KM.read_manifest("kb")
    assert {p.name for p in files.iterdir()} == set(manifest["files"])
    assert sorted(e["name"] for e in manifest["files"].values()) == ["after.txt", "kept.txt"]
