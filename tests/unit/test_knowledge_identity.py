"""File identity (issue 11.3, 11.4): identity is the file's path relative to what was uploaded,
content is its version; an edit always replaces the file's chunks; skipped files are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.knowledge import indexing as KI
from core.knowledge import manifest as KM
from core.knowledge import retrieval
from core.knowledge import store as KS
from core.knowledge.documents import ChunkSettings
from tests.unit.kb_helpers import FakeEmbeddings
from tests.unit.test_knowledge import invariant

ROOT = Path(__file__).resolve().parents[2]
FAKE = FakeEmbeddings()
DOC1 = b"The falcon fleet is serviced every spring. Falcons fly at dawn over the northern ridge."
DOC2 = b"The otter pool is cleaned each Tuesday. Otters are fed fish twice a day by the keepers."


def texts(kb: str) -> str:
    vs, _ = KS.open_store(kb, embedder=FAKE)
    return " ".join(vs.get(include=["documents"])["documents"])


def test_an_edit_that_copies_another_file_still_replaces_the_old_text(data_dir):
    KI.ingest("ed", [("doc1.txt", DOC1), ("doc2.txt", DOC2)], embedder=FAKE, chunking=ChunkSettings(200, 20))
    report = KI.ingest("ed", [("doc1.txt", DOC2)], embedder=FAKE)  # doc1 now holds doc2's text
    assert report.files[0].status == "indexed" and "removed" in report.files[0].note
    assert "falcon" not in texts("ed").lower()  # doc1's old chunks are no longer served
    assert all("falcon" not in h.text.lower() for h in
               retrieval.retrieve("ed", "falcon fleet spring", k=5, search_type="keyword", embedder=FAKE))
    invariant("ed", FAKE)


def test_same_base_name_in_two_folders_are_two_files(data_dir):
    report = KI.ingest("dup", [("sub1/report.txt", DOC1), ("sub2/report.txt", DOC2)], embedder=FAKE,
                       chunking=ChunkSettings(200, 20))
    assert [f.status for f in report.files] == ["indexed", "indexed"]
    assert sorted(e["name"] for e in KM.read_manifest("dup")["files"].values()) == ["sub1/report.txt", "sub2/report.txt"]
    # ingested separately, the second does not delete the first
    KI.ingest("sep", [("a/report.txt", DOC1)], embedder=FAKE, chunking=ChunkSettings(200, 20))
    KI.ingest("sep", [("b/report.txt", DOC2)], embedder=FAKE)
    assert len(KM.read_manifest("sep")["files"]) == 2 and "falcon" in texts("sep").lower()
    invariant("sep", FAKE)
    assert KI.file_identity("..\\..\\etc/passwd.txt") == "etc/passwd.txt"  # never a path upwards
    assert KI.file_identity("./x/../y.txt") == "x/y.txt"


def test_cli_ingest_names_by_relative_path_and_reports_skipped_files(data_dir, tmp_path):
    folder = tmp_path / "upload"
    (folder / "sub1").mkdir(parents=True)
    (folder / "sub2").mkdir()
    (folder / "sub1" / "report.txt").write_bytes(DOC1)
    (folder / "sub2" / "report.txt").write_bytes(DOC2)
    (folder / "..\\..\\etc\\passwd.txt").write_bytes(b"root:x:0:0")  # one hidden file with a hostile name
    env = {**os.environ, "CROSSROADS_DATA_DIR": str(data_dir)}
    out = subprocess.run([sys.executable, "-m", "core", "ingest", "--kb", "cli", str(folder)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert sorted(f["name"] for f in report["files"]) == ["sub1/report.txt", "sub2/report.txt"]
    assert [s["name"] for s in report["skipped"]] == ["..\\..\\etc\\passwd.txt"]
    assert "skipped ..\\..\\etc\\passwd.txt" in out.stderr
