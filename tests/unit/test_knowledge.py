"""Knowledge bases: ingest, re-ingest, edit, delete, rename, rebuild, lock, embedder checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.knowledge import demo as KD
from core.knowledge import indexing as KI
from core.knowledge import manifest as KM
from core.knowledge import store as KS
from core.knowledge.documents import ChunkSettings
from tests.unit.kb_helpers import FakeEmbeddings

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "docs"


@pytest.fixture
def fake():
    return FakeEmbeddings()


def text_file(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def story(topic: str, n: int = 30) -> str:
    return " ".join(f"{topic} fact number {i} says the {topic} value is {i * 7}." for i in range(n))


def invariant(kb: str, fake) -> dict:
    """count == sum of complete manifest chunks, ids unique and exactly those of the manifest."""
    vs, manifest = KS.open_store(kb, embedder=fake)
    got = vs.get(include=[])["ids"]
    assert len(got) == len(set(got))
    complete = [e for e in manifest["files"].values() if e["status"] == "complete"]
    expected = [cid for e in complete for cid in e["chunk_ids"]]
    assert len(expected) == len(set(expected))
    assert vs._collection.count() == sum(e["chunks"] for e in complete) == len(expected)
    assert set(got) == set(expected)
    # the keyword index holds exactly the same chunks, saved (not just rebuilt in memory)
    from core.knowledge import keyword_index
    from core.runtime.settings import get_settings

    assert keyword_index.stored_ids(kb, get_settings()) == sorted(expected)
    return manifest


def test_ingest_reingest_edit_delete(data_dir, tmp_path, fake):
    a = text_file(tmp_path, "a.txt", story("apple"))
    b = text_file(tmp_path, "b.md", story("banana"))
    report = KI.ingest("kb1", [a, b], embedder=fake, chunking=ChunkSettings(200, 20))
    assert report.ok and [f.status for f in report.files] == ["indexed", "indexed"]
    assert report.chunks_total == sum(f.chunks for f in report.files) > 4
    first = invariant("kb1", fake)
    # Each file's own text length is recorded: the wizard sizes the corpus from it, not from
    # overlapping chunks (which repeat 20 characters each).
    from core.decision.inputs import kb_corpus_tokens

    assert sorted(e["chars"] for e in first["files"].values()) == sorted(len(story(t)) for t in ("apple", "banana"))
    assert kb_corpus_tokens(data_dir, "kb1")["tokens"] == int((len(story("apple")) + len(story("banana"))) / 4)

    # Same file again: nothing added.
    again = KI.ingest("kb1", [a], embedder=fake)
    assert again.files[0].note.startswith("already indexed")
    assert invariant("kb1", fake)["files"].keys() == first["files"].keys()

    # Same content under another name: not added twice.
    twin = text_file(tmp_path, "copy-of-a.txt", story("apple"))
    dup = KI.ingest("kb1", [twin], embedder=fake)
    assert "same content" in dup.files[0].note
    assert len(invariant("kb1", fake)["files"]) == 2

    # Edited file: its chunks are replaced, the other file is untouched.
    a.write_text(story("apricot", 10), encoding="utf-8")
    edited = KI.ingest("kb1", [a], embedder=fake)
    assert edited.ok
    manifest = invariant("kb1", fake)
    names = sorted(e["name"] for e in manifest["files"].values())
    assert names == ["a.txt", "b.md"]
    vs, _ = KS.open_store("kb1", embedder=fake)
    texts = " ".join(vs.get()["documents"])
    assert "apricot" in texts and "apple" not in texts and "banana" in texts

    # Delete one file: exactly its chunks go, and its kept original.
    b_id = next(fid for fid, e in manifest["files"].items() if e["name"] == "b.md")
    b_chunks = manifest["files"][b_id]["chunks"]
    before = vs._collection.count()
    assert KI.delete_file("kb1", b_id, embedder=fake) == b_chunks
    assert vs._collection.count() == before - b_chunks
    assert not (KM.kb_dir("kb1") / "files" / b_id).exists()
    invariant("kb1", fake)


def test_originals_are_kept_under_generated_ids(data_dir, fake):
    hostile = "../../outside.txt"
    report = KI.ingest("kb2", [(hostile, b"some text about lakes and rivers " * 20)], embedder=fake)
    result = report.files[0]
    assert result.status == "indexed" and result.name == "outside.txt"
    stored = list((KM.kb_dir("kb2") / "files").iterdir())
    assert [p.name for p in stored] == [result.file_id]
    assert not (data_dir.parent / "outside.txt").exists()
    for path in data_dir.parent.rglob("*outside*"):
        raise AssertionError(f"a file was written from the uploaded name: {path}")


def test_each_file_gets_its_own_error_and_the_others_ingest(data_dir, tmp_path, fake):
    good = text_file(tmp_path, "good.txt", story("cherry"))
    report = KI.ingest("kb3", [good, ("broken.pdf", b"%PDF-1.4 garbage"), ("empty.txt", b""),
                              ("bin.txt", bytes(range(256)) * 4)], embedder=fake)
    status = {f.name: f.status for f in report.files}
    assert status == {"good.txt": "indexed", "broken.pdf": "error", "empty.txt": "error", "bin.txt": "error"}
    errors = {f.name: f.error for f in report.files if f.error}
    assert "broken.pdf" in errors["broken.pdf"] and "empty" in errors["empty.txt"]
    manifest = invariant("kb3", fake)
    assert [e["name"] for e in manifest["files"].values()] == ["good.txt"]
    assert len(list((KM.kb_dir("kb3") / "files").iterdir())) == 1  # no originals kept for failures


def test_progress_reports_files_chunks_and_eta(data_dir, tmp_path, fake):
    files = [text_file(tmp_path, f"f{i}.txt", story(f"topic{i}", 40)) for i in range(4)]
    seen = []
    KI.ingest("kb4", files, embedder=fake, progress=seen.append)
    assert seen[-1].files_done == seen[-1].files_total == 4
    assert seen[-1].chunks_done == seen[-1].chunks_total > 0
    assert any(p.eta_s is not None for p in seen)
    assert "4/4 files" in seen[-1].describe()


def test_batches_respect_max_batch_size(data_dir, tmp_path, fake, monkeypatch):
    client = KS.chroma_client()
    monkeypatch.setattr(type(client), "get_max_batch_size", lambda self: 7)
    from chromadb.api.models.Collection import Collection

    sizes = []
    original = Collection.upsert
    monkeypatch.setattr(Collection, "upsert", lambda self, ids, **kw: (sizes.append(len(ids)) or original(self, ids, **kw)))
    KI.ingest("kb5", [text_file(tmp_path, "long.txt", story("kiwi", 60))], embedder=fake,
             chunking=ChunkSettings(100, 10))
    assert sizes and max(sizes) <= 7 and sum(sizes) > 7
    invariant("kb5", fake)


def test_create_rename_delete_and_names(data_dir, tmp_path, fake):
    KS.create_kb("alpha", embedder=fake)
    with pytest.raises(KM.KBExists):
        KS.create_kb("alpha", embedder=fake)
    for bad in ("", "../x", "a b", "x" * 49, "-lead"):
        with pytest.raises(KM.KnowledgeError):
            KS.create_kb(bad, embedder=fake)
    KI.ingest("alpha", [text_file(tmp_path, "a.txt", story("plum"))], embedder=fake)
    KS.rename_kb("alpha", "beta")
    assert [kb["name"] for kb in KM.list_kbs()] == ["beta"]
    assert KM.list_kbs()[0]["files"] == 1
    invariant("beta", fake)
    KS.delete_kb("beta")
    assert KM.list_kbs() == []
    with pytest.raises(KM.KBNotFound):
        KM.read_manifest("beta")


def test_rebuild_with_new_chunking(data_dir, tmp_path, fake):
    KI.ingest("kb6", [text_file(tmp_path, "a.txt", story("grape", 40))], embedder=fake, chunking=ChunkSettings(500, 50))
    before = invariant("kb6", fake)
    n_before = sum(e["chunks"] for e in before["files"].values())
    report = KI.rebuild("kb6", ChunkSettings(150, 20), embedder=fake)
    assert report.ok
    after = invariant("kb6", fake)
    assert after["collection"] != before["collection"]
    assert after["chunking"] == {"size": 150, "overlap": 20, "unit": "chars"}
    assert sum(e["chunks"] for e in after["files"].values()) > n_before
    vs, _ = KS.open_store("kb6", embedder=fake)
    assert vs._collection.metadata["chunk_size"] == 150
    names = [c.name for c in KS.chroma_client().list_collections()]
    assert before["collection"] not in names


def test_embedder_mismatch_says_rebuild_required(data_dir, tmp_path, fake):
    KI.ingest("kb7", [text_file(tmp_path, "a.txt", story("pear"))], embedder=fake)

    class Other(FakeEmbeddings):
        name = "other-embedder"

    with pytest.raises(KM.RebuildRequired, match="Rebuild required"):
        KS.open_store("kb7", embedder=Other())
    KI.rebuild("kb7", embedder=Other())
    vs, manifest = KS.open_store("kb7", embedder=Other())
    assert manifest["embedder"] == "other-embedder" and vs._collection.count() > 0


def test_second_writer_process_gets_index_in_use(data_dir):
    code = ("import time,sys; from core.knowledge import manifest as KM\n"
            "with KM.writer():\n print('locked', flush=True); time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(KM.IndexInUse, match="in use"):
            with KM.writer(timeout=0.5):
                pass
    finally:
        proc.kill()
        proc.wait()
    with KM.writer(timeout=5):
        pass


def test_demo_workspace_with_the_real_embedder(data_dir):
    report = KD.load_demo_workspace()
    assert report.ok, report.as_dict()
    assert len(report.files) == len(list(DEMO.glob("*")))
    kbs = {kb["name"]: kb for kb in KM.list_kbs()}
    assert kbs["demo"]["chunks"] == report.chunks_total
    again = KD.load_demo_workspace()
    assert all((f.note or "").startswith("already") for f in again.files)
    # files listing for the UI
    files = KM.kb_files("demo")
    assert {f["kind"] for f in files} >= {"pdf", "docx", "html", "md", "txt", "csv"}
    pdf = next(f for f in files if f["kind"] == "pdf")
    assert pdf["pages"] >= 1 and pdf["chunks"] > 0
    chunks = KS.file_chunks("demo", pdf["id"])
    assert [c["chunk"] for c in chunks] == list(range(pdf["chunks"]))
    assert all(c["source"] == pdf["name"] and c["page"] >= 1 for c in chunks)


def test_cli_ingest_and_kb_commands(data_dir, tmp_path):
    good = text_file(tmp_path, "notes.txt", story("mango"))
    bad = tmp_path / "src" / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 nope")
    env_cmd = [sys.executable, "-m", "core", "--data-dir", str(data_dir)]
    out = subprocess.run(env_cmd + ["ingest", "--kb", "cli", str(good), str(bad), "--chunk-size", "300",
                                    "--chunk-overlap", "30", "--quiet"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr  # one file failed
    payload = json.loads(out.stdout)
    assert payload["kb"] == "cli" and payload["chunks_total"] > 0 and payload["seconds"] >= 0
    assert [(f["name"], f["status"]) for f in payload["files"]] == [("notes.txt", "indexed"), ("bad.pdf", "error")]
    assert "error" in payload["files"][1] and "chunks" in payload["files"][0]
    listed = json.loads(subprocess.run(env_cmd + ["kb", "list"], cwd=ROOT, capture_output=True, text=True,
                                       timeout=120).stdout)
    assert listed[0]["name"] == "cli" and listed[0]["chunking"]["size"] == 300
    deleted = subprocess.run(env_cmd + ["kb", "delete", "cli"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert json.loads(deleted.stdout)["deleted"] is True
    missing = subprocess.run(env_cmd + ["kb", "delete", "cli"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_a_parse_timeout_costs_only_its_own_file(data_dir, tmp_path, fake, monkeypatch):
    """Every file of an upload is submitted to the parser up front; one that exceeds the time
    limit killed the worker and cancelled the parses queued behind it ("could not be read
    (CancelledError)"). Now only that file fails; the others are parsed on the fresh worker."""
    from core.knowledge import parsing
    from core.knowledge.documents import Limits
    from tests.helpers import slow_parse

    monkeypatch.setattr(parsing, "_parse_in_worker", slow_parse.parse)
    limits = Limits(parse_timeout_s=20)  # slack for a fresh worker's start on a loaded machine
    files = [text_file(tmp_path, f"{name}.txt", story(name)) for name in ("apple", "slow", "cherry", "damson")]
    try:
        report = KI.ingest("kbslow", files, embedder=fake, limits=limits)
    finally:
        parsing.shutdown_parsers()  # the next test's pool starts without the patched function
    status = {f.name: f.status for f in report.files}
    assert status == {"apple.txt": "indexed", "slow.txt": "error", "cherry.txt": "indexed", "damson.txt": "indexed"}
    assert "longer than 20 s" in next(f.error for f in report.files if f.name == "slow.txt")


def test_long_names_that_differ_past_the_cut_stay_two_files(data_dir, tmp_path, fake):
    # names were cut at 120 characters: the second upload replaced the first and deleted its chunks
    from core.knowledge.documents import safe_display_name

    stem = "quarterly-report-" + "x" * 140
    first, second = stem + "-north.txt", stem + "-south.txt"
    assert safe_display_name(first) != safe_display_name(second)
    assert safe_display_name(first) == safe_display_name(first) and len(safe_display_name(first)) <= 120
    KI.ingest("kblong", [(first, story("apple").encode())], embedder=fake)
    report = KI.ingest("kblong", [(second, story("cherry").encode())], embedder=fake)
    assert [f.status for f in report.files] == ["indexed"] and not report.files[0].note
    manifest = invariant("kblong", fake)
    assert sorted(e["name"] for e in manifest["files"].values()) == sorted(map(safe_display_name, (first, second)))
    assert all(e["chunks"] > 0 for e in manifest["files"].values())


def test_a_damaged_keyword_index_is_detected_and_rebuilt(data_dir, tmp_path, fake):
    """Garbage in the saved BM25 files with index.json still in step: every hybrid answer failed
    with a JSONDecodeError and no re-ingest or rebuild repaired it (sync saw matching ids)."""
    from core.knowledge import keyword_index
    from core.knowledge.retrieval import retrieve
    from core.runtime.settings import get_settings

    KI.ingest("kbbm", [text_file(tmp_path, "lakes.txt", story("lakes"))], embedder=fake)
    root = KM.kb_dir("kbbm") / "keyword"
    generation = json.loads((root / "index.json").read_text())["generation"]
    for saved in (root / generation).iterdir():
        saved.write_bytes(b"\x00garbage{")
    keyword_index._cache.clear()
    hits = retrieve("kbbm", "lakes", search_type="keyword", k=2, embedder=fake)  # answered from memory
    assert hits and all(h.source == "lakes.txt" for h in hits)
    KI.ingest("kbbm", [text_file(tmp_path, "lakes.txt", story("lakes"))], embedder=fake)  # unchanged file
    repaired = json.loads((root / "index.json").read_text())
    assert repaired["generation"] != generation and keyword_index._intact(root, repaired)
    assert keyword_index.stored_ids("kbbm", get_settings()) == sorted(KM.claimed_ids(KM.read_manifest("kbbm")))


@pytest.mark.parametrize("payload", [b"", b"  \n\t\n"])
def test_an_empty_upload_is_refused_before_any_job_starts(data_dir, payload):
    from core.knowledge import ingest_job as IJ
    from core.runtime import jobs

    with pytest.raises(jobs.JobError, match=r"Nothing to index in empty\.txt"):
        IJ.start_ingest("kb1", [("empty.txt", payload)])
    assert jobs.list_jobs() == []  # refused at once: no worker, no run directory

