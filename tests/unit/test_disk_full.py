"""A full disk during an ingestion is a clear error (not chromadb's raw InternalError), and the
knowledge base stays consistent: the next write removes the partial file, the ingestion completes."""

from __future__ import annotations

import errno

import pytest
from chromadb.errors import InternalError

from core.knowledge import indexing as KI
from core.knowledge import manifest as KM
from core.knowledge import store as KS
from core.knowledge.pipeline import DiskFull, raise_if_disk_full


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 InternalError("Error executing plan: database or disk is full")])
def test_disk_full_errors_are_recognised(exc):
    with pytest.raises(DiskFull, match="The disk is full"):
        raise_if_disk_full(exc)


def test_other_errors_pass_through():
    raise_if_disk_full(InternalError("something else"))  # not raised as DiskFull


def test_a_full_disk_mid_ingest_is_clear_and_the_next_run_completes(data_dir, monkeypatch):
    from chromadb.api.models.Collection import Collection

    real = Collection.upsert
    calls = {"n": 0}

    def filling_up(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise InternalError("Error executing plan: database or disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setenv("CROSSROADS_INGEST_BATCH", "4")
    monkeypatch.setattr(KS, "EMBED_BATCH", 4)
    monkeypatch.setattr(Collection, "upsert", filling_up)
    files = [(f"n{i}.txt", (f"Note {i}. " + " ".join(f"Line {j} of note {i}." for j in range(40))).encode())
             for i in range(3)]
    with pytest.raises(DiskFull) as caught:
        KI.ingest("full", files)
    assert "Free some disk space" in caught.value.hint
    monkeypatch.setattr(Collection, "upsert", real)
    report = KI.ingest("full", files)
    assert report.ok, report.as_dict()
    manifest = KM.read_manifest("full")
    vs, _ = KS.open_store("full")
    stored = vs.get(include=[])["ids"]
    assert sorted(stored) == sorted(KM.claimed_ids(manifest))  # nothing partial left behind
