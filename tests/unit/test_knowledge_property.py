"""Property: any sequence of ingest / re-ingest / edit / delete keeps the index and the manifest
in step: collection.count() == sum of manifest chunks, no duplicate ids (tiny fake embedder)."""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.knowledge import indexing as KI
from core.knowledge import manifest as KM
from core.knowledge import store as KS
from core.knowledge.documents import ChunkSettings
from tests.unit.kb_helpers import FakeEmbeddings
from tests.unit.test_knowledge import invariant

NAMES = ("alpha.txt", "beta.md", "gamma.txt")
FAKE = FakeEmbeddings()


def body(name: str, version: int) -> bytes:
    words = " ".join(f"{name} version {version} sentence {i} with value {i * version}." for i in range(8 + 5 * version))
    return words.encode()


op = st.one_of(
    st.tuples(st.just("ingest"), st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 2)), min_size=1, max_size=3)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("rebuild"), st.sampled_from([150, 250])),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=6))
def test_any_sequence_keeps_count_equal_to_manifest(data_dir, ops):
    kb = "p" + uuid.uuid4().hex[:10]
    KS.create_kb(kb, ChunkSettings(200, 30), embedder=FAKE)
    current: dict[str, int] = {}
    for kind, arg in ops:
        if kind == "ingest":
            report = KI.ingest(kb, [(name, body(name, v)) for name, v in arg], embedder=FAKE)
            last = {name: i for i, (name, _) in enumerate(arg)}
            for i, ((name, _), result) in enumerate(zip(arg, report.files, strict=True)):
                assert result.status == ("indexed" if last[name] == i else "error")
            for name, v in arg:  # bodies embed their name, so no two names share content
                current[name] = v
        elif kind == "delete":
            manifest = KM.read_manifest(kb)
            for fid, entry in list(manifest["files"].items()):
                if entry["name"] == arg:
                    KI.delete_file(kb, fid, embedder=FAKE)
                    current.pop(arg, None)
        else:
            KI.rebuild(kb, ChunkSettings(arg, 30), embedder=FAKE)
        manifest = invariant(kb, FAKE)
        names = {e["name"]: e for e in manifest["files"].values()}
        assert set(names) == set(current)
        for name, version in current.items():
            assert names[name]["sha256"] == hashlib.sha256(body(name, version)).hexdigest()
    KS.delete_kb(kb)
