"""Server mode: a real `chroma run` on 127.0.0.1, the settings pointed at it, the same
ingest -> retrieve -> delete flow as embedded mode."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.knowledge import indexing as KI
from core.knowledge import manifest as KM
from core.knowledge import retrieval
from core.knowledge import store as KS
from core.knowledge.documents import ChunkSettings
from tests.unit.kb_helpers import FakeEmbeddings

CHROMA = Path(sys.executable).parent / "chroma"
DEMO = Path(__file__).resolve().parents[2] / "demo" / "docs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    if not CHROMA.exists() and not shutil.which("chroma"):
        pytest.skip("the chroma CLI is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "wb")
    proc = subprocess.Popen([str(CHROMA if CHROMA.exists() else shutil.which("chroma")), "run", "--host", "127.0.0.1",
                             "--port", str(port), "--path", str(path / "db")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((path / "server.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield port, path / "db"
    finally:
        proc.kill()
        proc.wait()
        log.close()


@pytest.fixture
def server_settings(data_dir, chroma_server, monkeypatch):
    from core.runtime.settings import get_settings, reset_settings

    port, db = chroma_server
    monkeypatch.setenv("CROSSROADS_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CROSSROADS_CHROMA_PORT", str(port))
    reset_settings()
    KS.reset_clients()
    settings = get_settings()
    assert settings.chroma_mode == "server"
    yield settings, db
    KS.reset_clients()


def test_server_mode_ingest_retrieve_delete(server_settings, tmp_path):
    settings, db = server_settings
    fake = FakeEmbeddings()
    report = KI.ingest("srv", [("boats.txt", b"Sailing boats use wind. The keel keeps the boat upright. " * 5),
                              ("soup.md", b"Tomato soup needs tomatoes, onion and salt. Simmer the soup. " * 5),
                              ("broken.pdf", b"%PDF-1.4 nope")], embedder=fake, chunking=ChunkSettings(150, 20))
    assert [f.status for f in report.files] == ["indexed", "indexed", "error"]
    assert not (settings.data_dir / "chroma").exists()  # nothing embedded: vectors live in the server
    client = KS.chroma_client(settings)
    assert type(client).__name__ != "PersistentClient" and client.heartbeat() > 0
    vs, manifest = KS.open_store("srv", embedder=fake)
    assert vs._collection.count() == sum(e["chunks"] for e in manifest["files"].values())
    for search_type in retrieval.SEARCH_TYPES:  # every search type against the server
        hits = retrieval.retrieve("srv", "keel of a sailing boat", k=2, search_type=search_type, min_score=0.05,
                                  embedder=fake)
        assert hits[0].source == "boats.txt", search_type
    from core.knowledge import keyword_index

    assert keyword_index.stored_ids("srv", settings) == sorted(KM.claimed_ids(manifest))
    soup = next(fid for fid, e in manifest["files"].items() if e["name"] == "soup.md")
    gone = KI.delete_file("srv", soup, embedder=fake)
    assert keyword_index.stored_ids("srv", settings) == sorted(KM.claimed_ids(KM.read_manifest("srv")))
    assert {h.source for h in retrieval.retrieve("srv", "tomato soup onion", k=5, search_type="keyword",
                                                 min_score=0.0, embedder=fake)} <= {"boats.txt"}
    assert vs._collection.count() == sum(e["chunks"] for e in manifest["files"].values()) - gone
    assert {h.source for h in retrieval.retrieve("srv", "tomato soup", k=5, min_score=0.0, embedder=fake)} == {"boats.txt"}
    KS.delete_kb("srv")
    assert manifest["collection"] not in [c.name for c in client.list_collections()]


def test_server_mode_with_the_real_embedder(server_settings):
    report = KI.ingest("srvreal", [DEMO / "support_policy.md"])
    assert report.ok
    hits = retrieval.retrieve("srvreal", "How long is the Skerry warranty?", k=2)
    assert hits and hits[0].source == "support_policy.md" and hits[0].score > 0.3
    KS.delete_kb("srvreal")
