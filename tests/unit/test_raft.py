"""RAFT rows (core/training/raft.py): P honoured, distractors, the shared prompt, rows without an oracle.

Retrieval is faked in most tests (a fixed ranking); the built rows then go through the real
training-file reader and the real chat format, which is what the worker trains on.
"""

from __future__ import annotations

import json
import random

import pytest

from core.knowledge.rag import rag_messages
from core.knowledge.retrieval import RetrievalConfig, Retrieved
from core.training import raft
from core.training.raft import QARow, RaftError, RaftOptions, build_row, find_oracle

CONFIG = RetrievalConfig(k=4, search_type="dense", min_score=None)


def chunk(i: int, text: str, source: str = "doc.md") -> Retrieved:
    return Retrieved(text=text, source=source, chunk=i, score=0.9 - i / 100, id=f"c{i}")


RANKED = [chunk(0, "The office opens at 9:00 on weekdays."),
          chunk(1, "Refunds take 14 business days.", "policy.md"),
          chunk(2, "The warranty lasts 3 years.", "policy.md"),
          chunk(3, "Parking is free for visitors."),
          chunk(4, "The CEO is Marisol Quennell.", "handbook.pdf"),
          chunk(5, "Lunch is served from noon.")]
ROW = QARow(1, "Who is the CEO?", "Marisol Quennell", "handbook.pdf")


def options(**kw) -> RaftOptions:
    return RaftOptions(kb="kb", retrieval=CONFIG, **kw).resolved()


def test_p_is_honoured_over_many_rows():
    for p in (0.0, 0.3, 0.8, 1.0):
        rng = random.Random(7)
        rows = [build_row(ROW, RANKED[4], RANKED, options(p=p), rng) for _ in range(2000)]
        share = sum(r.oracle_in_context for r in rows) / len(rows)
        assert share == pytest.approx(p, abs=0.03), (p, share)
        assert all((RANKED[4] in r.passages) == r.oracle_in_context for r in rows)


def test_distractors_never_include_the_oracle_and_count_is_a_setting():
    rng = random.Random(0)
    duplicate = Retrieved(text=RANKED[4].text, source="copy.pdf", chunk=9, score=0.5, id="dup")
    for n in (0, 1, 3):
        for _ in range(200):
            row = build_row(ROW, RANKED[4], [*RANKED, duplicate], options(distractors=n), rng)
            negatives = [c for c in row.passages if c.id != RANKED[4].id]
            assert all(c.text != RANKED[4].text for c in negatives)
            assert len(row.passages) == n + 1  # oracle + n, or n + 1 distractors: always the same size
    assert options().distractors == CONFIG.k - 1  # default: the arms' k - 1


def test_order_shuffled_and_seeded():
    first = [build_row(ROW, RANKED[4], RANKED, options(p=1.0), random.Random(3)).passages for _ in range(2)]
    assert first[0] == first[1]
    positions = {build_row(ROW, RANKED[4], RANKED, options(p=1.0), random.Random(s)).passages.index(RANKED[4])
                 for s in range(40)}
    assert len(positions) > 1


def test_training_prompt_is_the_arms_prompt(tmp_path):
    """The file the worker trains on, read back through the real reader and chat format, gives
    exactly the messages the rag/hybrid arms send for the same question and passages."""
    from core.training.chat_format import chat_messages
    from core.training.datasets import load_labeled

    rng = random.Random(1)
    rows = [build_row(QARow(i, f"Question {i}: who is the CEO?", "Marisol Quennell", "handbook.pdf"),
                      RANKED[4], RANKED, options(), rng) for i in range(12)]
    build = raft.RaftBuild(options(), rows, [])
    data = load_labeled(build.write_jsonl(tmp_path / "raft.jsonl")).require_valid()
    assert data.kind == "chat" and len(data.rows) == len(rows)
    for built, trained in zip(rows, data.rows, strict=True):
        assert chat_messages(trained) == rag_messages(built.question, built.passages)
        assert trained.target == "Marisol Quennell"  # the short answer


def test_oracle_by_source_then_by_answer():
    assert find_oracle(ROW, RANKED, lambda: []) == RANKED[4]
    # No source: a chunk containing the answer (SQuAD-normalised: case, punctuation, articles).
    no_source = QARow(2, "How long is the warranty?", "three YEARS.", None)
    text = Retrieved(text="The warranty lasts three years, parts included.", source="x.md", chunk=0, score=0.1, id="w")
    assert find_oracle(no_source, RANKED, lambda: [text]) == text
    # The source's chunks hold no answer: its best-ranked chunk.
    elsewhere = QARow(3, "Refund time?", "two weeks", "policy.md")
    assert find_oracle(elsewhere, RANKED, lambda: RANKED) == RANKED[1]
    assert find_oracle(QARow(4, "Unknown?", "nowhere", "missing.pdf"), RANKED, lambda: RANKED) is None


def test_rows_without_oracle_reported_closed_book_or_dropped(monkeypatch):
    monkeypatch.setattr(raft, "retrieve", lambda kb, q, cfg, **kw: RANKED[: cfg.k])
    monkeypatch.setattr(raft, "_kb_chunks", lambda kb, settings: RANKED)
    rows = [ROW, QARow(2, "What is the moon made of?", "green cheese", None)]
    built = raft.build_raft_rows(rows, RaftOptions(kb="kb", retrieval=CONFIG))
    assert [r.number for r in built.missing] == [2]
    assert [r.closed_book for r in built.rows] == [False, True]
    assert built.rows[1].messages == ({"role": "user", "content": "What is the moon made of?"},
                                      {"role": "assistant", "content": "green cheese"})
    dropped = raft.build_raft_rows(rows, RaftOptions(kb="kb", retrieval=CONFIG, missing="drop"))
    assert [r.number for r in dropped.rows] == [1] and [r.number for r in dropped.missing] == [2]
    meta = dropped.mode_meta()
    assert meta["mode"] == "raft" and meta["p"] == 0.8 and meta["distractors"] == 3
    assert meta["retrieval"]["search_type"] == "dense" and meta["rows_without_oracle"] == 1
    with pytest.raises(RaftError):
        raft.build_raft_rows(rows[1:], RaftOptions(kb="kb", retrieval=CONFIG, missing="drop"))


def test_p_reaches_the_rows_through_the_public_builder(monkeypatch):
    """Unlike gorilla raft.py (which parses --p and never passes it on), P changes the rows."""
    monkeypatch.setattr(raft, "retrieve", lambda kb, q, cfg, **kw: RANKED[: cfg.k])
    monkeypatch.setattr(raft, "_kb_chunks", lambda kb, settings: RANKED)
    rows = [QARow(i, f"Who is the CEO ({i})?", "Marisol Quennell", "handbook.pdf") for i in range(400)]
    for p in (0.2, 0.8):
        built = raft.build_raft_rows(rows, RaftOptions(kb="kb", p=p, retrieval=CONFIG))
        assert built.oracle_share == pytest.approx(p, abs=0.06)
        assert built.mode_meta()["p"] == p


@pytest.mark.parametrize("bad", [dict(p=1.5), dict(p=-0.1), dict(distractors=-1), dict(missing="keep")])
def test_bad_options_refused_with_hint(bad):
    with pytest.raises(RaftError):
        RaftOptions(kb="kb", **bad)


def test_normalisation_matches_the_evaluation_metric():
    from core.evaluation.metrics import normalize_answer

    for text in ("The SK-7000, v4.2!", "an Apple  a day", "€1,299.00 (incl. VAT)", "“Quoted” — dash"):
        assert raft._normalise(text) == normalize_answer(text)


def test_adapter_mode_and_arm_title():
    from core.evaluation.arms import arm_title

    assert raft.adapter_mode({"mode": {"mode": "raft"}}) == "raft"
    assert raft.adapter_mode({}) == raft.adapter_mode(None) == "closed_book"
    assert arm_title("hybrid", "raft") == "Hybrid (RAFT)"
    assert arm_title("hybrid", "closed_book") == "Hybrid (FT + RAG)" and arm_title("rag", "raft") == "RAG"
    # The RAFT adapter's "fine-tuned" arm answers without context, and says so.
    assert arm_title("ft", "raft") == "Fine-tuned (RAFT, no context)" and arm_title("ft") == "Fine-tuned"


def test_raft_fine_tuned_arm_is_named_so_in_reports_verdicts_and_the_wizard():
    from core.decision.evidence import arm_labels
    from core.evaluation.report import report_arm_title
    from core.evaluation.verdict import _names

    old = {"meta": {"adapter_mode": "raft"}, "arms": {"ft": {"title": "Fine-tuned"}, "hybrid": {"title": "Hybrid (RAFT)"}}}
    assert report_arm_title(old, "ft") == "Fine-tuned (RAFT, no context)"  # a report from before the title
    assert "without context" in _names(old)[0]["ft"]
    assert "without context" in arm_labels(old)["ft"] and arm_labels(old)["hybrid"] == "hybrid (RAFT)"
    plain = {"meta": {"adapter_mode": "closed_book"}, "arms": {"ft": {}, "hybrid": {}}}
    assert arm_labels(plain)["ft"] == "fine-tuned" and report_arm_title(plain, "ft") == "Fine-tuned"


def test_report_pairs_on_shared_questions():
    from core.evaluation.report import report_arm_title
    from core.evaluation.report_pairs import pair_reports

    def report(rid, mode, scores):
        return {"id": rid, "meta": {"adapter_mode": mode}, "arms": {"hybrid": {}, "rag": {}},
                "questions": [{"question": q, "scores": {"hybrid": {"f1": s, "contains": s, "exact_match": s},
                                                        "rag": {"f1": 0.0, "contains": 0.0, "exact_match": 0.0}}}
                              for q, s in scores.items()]}

    a = report("a", "raft", {f"q{i}": 1.0 for i in range(30)})
    b = report("b", "closed_book", {**{f"q{i}": 0.0 for i in range(20)}, "other": 1.0})
    assert report_arm_title(a, "hybrid") == "Hybrid (RAFT)" and report_arm_title(b, "hybrid") == "Hybrid (FT + RAG)"
    out = pair_reports(a, "hybrid", b, "hybrid")
    assert out["n"] == 20 and out["a"]["title"] == "Hybrid (RAFT)"
    assert out["metrics"]["f1"]["low"] == out["metrics"]["f1"]["diff"] == 1.0


def test_mode_meta_json_roundtrip(tmp_path):
    build = raft.RaftBuild(options(), [build_row(ROW, RANKED[4], RANKED, options(), random.Random(0))], [])
    assert json.loads(json.dumps(build.mode_meta()))["kb"] == "kb"


def test_cli_raft_flags_and_errors(tmp_path):
    """`python -m core finetune --raft`: flags listed; a missing --kb and a bad P are refused with
    the reason before anything trains."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "core", "finetune", *args, "--data-dir", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=180)

    helptext = cli("--help").stdout
    for flag in ("--raft", "--kb", "--raft-p", "--distractors", "--no-oracle"):
        assert flag in helptext
    data = str(ROOT / "demo" / "qa_train.jsonl")
    no_kb = cli("--raft", "--data", data, "--name", "r")
    assert no_kb.returncode == 1 and "--raft needs --kb" in no_kb.stderr
    bad_p = cli("--raft", "--kb", "demo", "--raft-p", "1.5", "--data", data, "--name", "r")
    assert bad_p.returncode == 1 and "P must be between 0 and 1" in bad_p.stderr
    assert not (tmp_path / "runs").exists()


def test_qa_generated_from_the_documents_is_recorded_and_kept_apart_from_a_cloze_eval(data_dir, tmp_path):
    """No Q&A file: rows made offline from the knowledge base name their file and chunk; an
    adapter trained on them records those chunks, and a cloze evaluation leaves them out."""
    from core.evaluation.cloze import cloze_set, held_apart
    from core.knowledge.indexing import ingest

    facts = [(f"sheet{i}.txt", (f"The Model-{i} logger was released on {i + 1} March 2021. "
                                 f"It weighs {200 + i} grams and runs for {10 + i} days on one battery. "
                                 f"Its designer was Ada Lovelace-{i} of the Carrowhaven office.").encode())
             for i in range(20)]
    assert ingest("facts", facts).ok
    path = raft.generate_qa_file("facts", 12, tmp_path / "generated.jsonl")
    rows = raft.qa_rows_from_file(path)
    assert len(rows) == 12 and all(r.source and r.chunk_id and r.question.startswith("Fill in the blank") for r in rows)
    mode = raft.generated_mode(path)
    assert mode["kb"] == "facts" and mode["rows"] == 12 and set(mode["chunk_ids"]) == {r.chunk_id for r in rows}
    assert raft.generated_mode(tmp_path / "elsewhere.jsonl") is None  # a user's own file is not "generated"
    build = raft.build_raft_rows(rows, RaftOptions(kb="facts", retrieval=RetrievalConfig(k=3, search_type="keyword")))
    assert not build.missing  # every generated row finds its oracle

    adapter = data_dir / "adapters" / "gen"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "meta.json").write_text(json.dumps({"mode": {"mode": "raft", "generated": mode}}))
    apart = held_apart("facts", "gen")
    assert set(apart) == set(mode["chunk_ids"])
    assert held_apart("other", "gen") == [] and held_apart("facts", None) == []
    evaluated = cloze_set("facts", n=30, adapter="gen")
    assert len(evaluated) and not {i.chunk_id for i in evaluated.items} & set(apart)
    assert {i.chunk_id for i in cloze_set("facts", n=30).items} & set(apart)  # without the adapter they would overlap
