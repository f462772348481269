"""CLI errors on bad input or damaged state: exit non-zero with one clear line, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.knowledge import indexing as KI
from tests.conftest import ROOT
from tests.unit.kb_helpers import FakeEmbeddings


def cli(*args: str, data_dir) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args, "--data-dir", str(data_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def assert_clear_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and all(n in lines[0] for n in needles), out.stderr


@pytest.mark.parametrize("args,needles", [
    (("adapters", "import", "/nonexistent.zip"), ("Cannot read /nonexistent.zip", "No such file")),
    (("ask", "--max-new-tokens", "0", "--arms", "base", "hi"), ("max_new_tokens", "1 to 4096")),
    (("ask", "--min-score", "5", "--arms", "base", "hi"), ("min_score", "between 0 and 1")),
])
def test_bad_options_and_missing_files_are_one_clear_line(data_dir, args, needles):
    assert_clear_error(cli(*args, data_dir=data_dir), *needles)


def test_a_damaged_manifest_is_reported_and_skipped(data_dir):
    KI.ingest("good", [("a.txt", b"some text to index")], embedder=FakeEmbeddings())
    KI.ingest("bad", [("b.txt", b"other text to index")], embedder=FakeEmbeddings())
    manifest = data_dir / "kb" / "bad" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "files": "x"}))
    listed = cli("kb", "list", data_dir=data_dir)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert [kb["name"] for kb in json.loads(listed.stdout)] == ["good"]
    assert str(manifest) in listed.stderr and "damaged" in listed.stderr
    assert_clear_error(cli("kb", "files", "bad", data_dir=data_dir), str(manifest), '"files" is str')
