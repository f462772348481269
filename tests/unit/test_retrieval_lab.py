"""The retrieval lab on a small fixture (real embedded Chroma, fake embedder, real tokenizer),
and `python -m core tune-retrieval` JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.evaluation.evalsets import EvalSet
from core.evaluation.retrieval_lab import LabCancelled, LabError, apply_best, run_lab
from core.knowledge import indexing as KI
from core.knowledge import manifest as KM
from core.knowledge import retrieval
from core.knowledge import store as KS
from core.knowledge.documents import ChunkSettings
from tests.unit.kb_helpers import FakeEmbeddings

ROOT = Path(__file__).resolve().parents[2]
FAKE = FakeEmbeddings()
FACTS = [("valve.txt", "Error code ZX-4471 means the coolant valve is stuck.", "what does ZX-4471 mean", "coolant valve"),
         ("pump.txt", "The pump QR-9 runs at 1450 rpm on weekdays.", "how fast does QR-9 run", "1450 rpm"),
         ("fan.txt", "Fan unit BT-22 is cleaned every 6 weeks.", "how often is BT-22 cleaned", "6 weeks")]


class CharTokenizer:
    """Counts one token per 4 characters (the real tokenizer is exercised by the CLI test)."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(range(len(text) // 4))}


@pytest.fixture
def lab_kb(data_dir):
    filler = {f"log{i}.txt": f"Routine maintenance log {i}: the plant ran normally and nothing unusual happened."
              for i in range(8)}
    docs = {**filler, **{name: text for name, text, _, _ in FACTS}}
    KI.ingest("lab", [(n, t.encode()) for n, t in docs.items()], embedder=FAKE, chunking=ChunkSettings(120, 20))
    retrieval.set_kb_retrieval("lab", retrieval.RetrievalConfig(k=1, search_type="dense", min_score=None))
    return "lab"


def eval_set(with_source: bool) -> EvalSet:
    plain = EvalSet.from_pairs("facts", [(q, a) for _, _, q, a in FACTS])
    if not with_source:
        return plain
    return EvalSet("facts", [replace(item, source=name) for item, (name, *_) in zip(plain.items, FACTS, strict=True)])


def test_the_lab_finds_the_best_setting_applies_it_and_removes_temporary_collections(lab_kb):
    before = {c.name for c in KS.chroma_client().list_collections()}
    seen = []
    result = run_lab(lab_kb, eval_set(False), search_types=("dense", "keyword", "hybrid"), ks=(1, 3),
                     chunk_sizes=(60,), embedder=FAKE, tokenizer=CharTokenizer(), progress=seen.append)
    assert result["n_settings"] == 3 * 2 * 2 >= 8
    rows = {r["label"]: r for r in result["settings"]}
    assert rows["keyword · k=1 · 120/20"]["hit_at_k"] == 1.0  # rare codes: BM25 finds each at rank 1
    assert all(r["gold_rule"] == "answer" for r in rows.values())  # no source given: the answer text decides
    current = [r for r in result["settings"] if r["current"]]
    assert len(current) == 1 and current[0]["label"] == "dense · k=1 · 120/20"
    best = result["best"]
    assert best["hit_at_k"] == 1.0 and best["setting"]["k"] == 1  # k=1 finds all: fewer tokens than k=3
    assert best["hit_at_k_vs_current"]["diff"] >= 0
    assert rows["dense · k=3 · 120/20"]["context_tokens"] > rows["dense · k=1 · 120/20"]["context_tokens"]
    assert seen and seen[-1].done == seen[-1].total
    # the temporary collection and kb of chunk size 60 are gone, and no list ever showed them
    assert {c.name for c in KS.chroma_client().list_collections()} == before
    assert [kb["name"] for kb in KM.list_kbs()] == ["lab"]
    applied = apply_best(lab_kb, result, embedder=FAKE)
    assert retrieval.kb_retrieval(lab_kb) == applied
    assert applied.search_type == best["setting"]["search_type"]
    if best["setting"]["chunking"]["size"] != 120:
        assert KM.read_manifest(lab_kb)["chunking"]["size"] == best["setting"]["chunking"]["size"]


def test_labels_decide_when_given_and_cancel_cleans_up(lab_kb):
    result = run_lab(lab_kb, eval_set(True), search_types=("dense",), ks=(1,), embedder=FAKE, tokenizer=CharTokenizer())
    assert result["settings"][0]["gold_rule"] == "source"
    by_answer = run_lab(lab_kb, eval_set(True), search_types=("dense",), ks=(1,), gold="answer", embedder=FAKE,
                        tokenizer=CharTokenizer())
    assert by_answer["settings"][0]["gold_rule"] == "answer"
    before = {c.name for c in KS.chroma_client().list_collections()}
    calls = []
    with pytest.raises(LabCancelled):
        run_lab(lab_kb, eval_set(False), ks=(1,), chunk_sizes=(60,), embedder=FAKE, tokenizer=CharTokenizer(),
                should_stop=lambda: calls.append(1) or len(calls) > 4)
    assert {c.name for c in KS.chroma_client().list_collections()} == before
    with pytest.raises(LabError):
        run_lab(lab_kb, eval_set(False), search_types=("magic",), embedder=FAKE, tokenizer=CharTokenizer())
    with pytest.raises(LabError):
        run_lab(lab_kb, EvalSet.from_labels("l", [("q", "a")], labels=["a", "b"]), embedder=FAKE,
                tokenizer=CharTokenizer())


@pytest.mark.slow
def test_cli_tune_retrieval_json_and_apply(data_dir, tmp_path):
    env = {**os.environ, "CROSSROADS_DATA_DIR": str(data_dir)}
    demo = ROOT / "demo"
    ok = subprocess.run([sys.executable, "-m", "core", "ingest", "--kb", "cli", "--quiet",
                         str(demo / "docs" / "support_policy.md"), str(demo / "docs" / "price_list.csv")],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-2000:]
    data = tmp_path / "qa.jsonl"
    rows = [json.loads(line) for line in (demo / "qa_test.jsonl").read_text().splitlines()]
    data.write_text("\n".join(json.dumps({"question": r["question"], "answer": r["answer"]})
                              for r in rows if r["source"] in ("support_policy.md", "price_list.csv")))
    out = subprocess.run([sys.executable, "-m", "core", "tune-retrieval", "--kb", "cli", "--data", str(data),
                          "--ks", "1,3", "--search-types", "dense,hybrid", "--apply"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["n_settings"] == 6 and sum  # k=1,3 and the current k=4, two search types(r["best"] for r in result["settings"]) == 1
    assert result["applied"]["search_type"] == result["best"]["setting"]["search_type"]
    assert "retrievals" in out.stderr  # progress went to stderr
    manifest = json.loads((data_dir / "kb" / "cli" / "manifest.json").read_text())
    assert manifest["retrieval"]["k"] == result["best"]["setting"]["k"]
    bad = subprocess.run([sys.executable, "-m", "core", "tune-retrieval", "--kb", "nope", "--data", str(data)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "does not exist" in bad.stderr


def test_lab_progress_says_what_its_eta_leaves_out():
    from core.evaluation.retrieval_lab import LabProgress

    text = LabProgress(10, 40, 5.0, "dense", to_index=2).describe()
    assert "about 15 s more for the retrievals" in text and "plus indexing 2 more chunk sizes" in text
    assert "indexing" not in LabProgress(10, 40, 5.0, "dense").describe()
