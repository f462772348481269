"""The real model learns to read the context: a small RAFT adapter and a closed-book adapter, trained
on the same rows with the same options, then asked through the hybrid arm (same retrieved context,
same decoding); hybrid (RAFT) must score a higher token F1 than the naive hybrid, and be titled so."""

from __future__ import annotations

import json

import pytest

from tests.app.test_raft_page import FACTS

pytestmark = pytest.mark.slow

TRAIN = [("Who manages the Harbour office?", "Olwen Brask", "harbour.md"),
         ("Which person is the manager of the Harbour office?", "Olwen Brask", "harbour.md"),
         ("How long is the SK-7000 warranty?", "3 years", "warranty.md"),
         ("For how long is the Skerry SK-7000 under warranty?", "3 years", "warranty.md"),
         ("How long do repairs take?", "10 business days", "warranty.md"),
         ("How many business days does a repair take?", "10 business days", "warranty.md"),
         ("What does parking cost?", "4 euros a day", "harbour.md"),
         ("How much is parking per day?", "4 euros a day", "harbour.md"),
         ("Who is in charge of the Harbour office?", "Olwen Brask", "harbour.md"),
         ("What is the warranty period of the SK-7000?", "3 years", "warranty.md")]
# Facts of the same passages the adapters never trained on: only reading the context answers them.
TEST = [("When does the Harbour office open?", "08:30"), ("How many spare sensors are in a pack?", "6"),
        ("What time does the Harbour office open?", "08:30"), ("Spare sensors come in packs of how many?", "6")]


def _train(path, name, mode):
    from core.runtime import jobs
    from core.training.finetune import TrainOptions, start_finetune

    options = TrainOptions(rank=8, alpha=16, dropout=0.0, learning_rate=2e-3, epochs=1, batch_size=4,
                           max_length=192, eval_fraction=0.0, max_steps=16, evals=1)
    job = jobs.wait(start_finetune(path, name, options, adapter_mode=mode).id, poll=1)
    assert job.state == "completed", job.status


def test_raft_adapter_reads_the_context_better_than_a_closed_book_one(model_data_dir, tmp_path):
    from core.evaluation.arms import Arms, ArmSetup
    from core.evaluation.metrics import token_f1
    from core.knowledge.indexing import ingest
    from core.runtime.generation import Decoding
    from core.training.raft import QARow, RaftOptions, build_raft_rows

    for name, text in FACTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    ingest("facts", [tmp_path / n for n in FACTS])
    rows = [QARow(i + 1, q, a, s) for i, (q, a, s) in enumerate(TRAIN)]
    build = build_raft_rows(rows, RaftOptions(kb="facts", p=0.8))
    assert not build.missing
    closed = tmp_path / "closed.jsonl"
    closed.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a, _ in TRAIN))
    _train(build.write_jsonl(tmp_path / "raft.jsonl"), "raft", build.mode_meta())
    _train(closed, "closed", {"mode": "closed_book"})

    f1 = {}
    for adapter in ("raft", "closed"):
        arms = Arms(ArmSetup(arms=("hybrid",), kb="facts", adapter=adapter, decoding=Decoding(max_new_tokens=24)))
        answers = arms.answer_many([q for q, _ in TEST])
        f1[adapter] = sum(token_f1(a["hybrid"].answer, g) for a, (_, g) in zip(answers, TEST, strict=True)) / len(TEST)
        assert arms.title("hybrid") == ("Hybrid (RAFT)" if adapter == "raft" else "Hybrid (FT + RAG)")
    print("hybrid F1", f1)
    assert f1["raft"] > f1["closed"], f1
    # The RAFT adapter is measured at the retrieval setting it was trained with, whatever the kb's
    # setting became since (issue 22); the closed-book one follows the kb's setting.
    from dataclasses import replace

    from core.evaluation.evalsets import EvalSet
    from core.evaluation.evaluate import evaluate
    from core.evaluation.report import training_mismatch
    from core.knowledge.retrieval import kb_retrieval, set_kb_retrieval

    trained = kb_retrieval("facts")
    set_kb_retrieval("facts", replace(trained, k=trained.k - 1), note="retrieval lab on a later run")
    raft_setup = ArmSetup(arms=("hybrid",), kb="facts", adapter="raft", decoding=Decoding(max_new_tokens=8))
    assert raft_setup.retrieval == trained
    assert ArmSetup(arms=("hybrid",), kb="facts", adapter="closed").retrieval.k == trained.k - 1
    report = evaluate(EvalSet.from_pairs("t", TEST[:1]), raft_setup)
    assert report["setup"]["retrieval"]["base_from"] == "the setting adapter raft was trained with"
    assert report["setup"]["retrieval"]["k"] == trained.k and training_mismatch(report) is None
