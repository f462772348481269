"""Provenance: one retrieval setting per kb and where it came from, each Compare exchange's own
setup in its exports, the machine behind a report's latencies, single-answer latencies, and the
kb's own questions as the default eval set."""

from __future__ import annotations

import json

import pytest

from tests.unit.kb_helpers import FakeEmbeddings


@pytest.fixture
def kb(data_dir):
    from core.knowledge.retrieval import RetrievalConfig, set_kb_retrieval
    from core.knowledge.store import create_kb

    create_kb("mine", embedder=FakeEmbeddings())
    set_kb_retrieval("mine", RetrievalConfig(k=2, search_type="hybrid"), note="retrieval lab on mine.jsonl: hit@k 0.9")
    return "mine"


def raft_adapter(data_dir, name="raft-a", kb="mine", k=3, search_type="dense"):
    """An adapter folder whose meta says it was trained RAFT-style on `kb` with that setting
    (the weights are a placeholder: nothing here loads them)."""
    from core.knowledge.retrieval import RetrievalConfig

    folder = data_dir / "adapters" / name
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"placeholder")
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    (folder / "meta.json").write_text(json.dumps({
        "name": name, "duration_s": 3.0, "data": {"kind": "qa"},
        "mode": {"mode": "raft", "kb": kb, "retrieval": RetrievalConfig(k=k, search_type=search_type).as_dict()}}))
    return name


# ---------------------------------------------------------------- one setting per kb, said in one line


def test_the_kbs_setting_is_where_every_screen_starts_and_says_so(kb):
    from core.evaluation.arms import ArmSetup, starting_retrieval
    from core.knowledge.retrieval_setting import describe_setting

    config, base_from = starting_retrieval(kb)
    assert (config.search_type, config.k) == ("hybrid", 2)
    line = describe_setting(ArmSetup(arms=("rag",), kb=kb).retrieval_record())
    assert line.startswith("hybrid · k=2 · min relevance 0.3 · ")
    assert "chunks, the kb's setting, set by the Retrieval lab on 20" in line
    assert "override" not in line


def test_an_override_is_marked_with_the_kbs_own_value(kb):
    from dataclasses import replace

    from core.evaluation.arms import ArmSetup, starting_retrieval
    from core.knowledge.retrieval_setting import describe_setting

    base, _ = starting_retrieval(kb)
    record = ArmSetup(arms=("rag",), kb=kb, retrieval=replace(base, k=4)).retrieval_record()
    assert record["override"] == [{"field": "k", "value": 4, "base": 2}]
    assert "override: k=4, the kb's setting is k=2" in describe_setting(record)


def test_cli_setups_start_from_the_kbs_setting(kb):
    import argparse

    from core.commands.evaluate import build_setup

    args = argparse.Namespace(kb=kb, adapter=None, k=None, max_new_tokens=None, arms="rag")
    assert build_setup(args).retrieval.k == 2


# ---------------------------------------------------------------- a RAFT adapter at its training setting


def test_a_raft_adapter_is_evaluated_at_its_training_setting_and_a_change_is_reported(kb, data_dir):
    from dataclasses import replace

    from core.evaluation.arms import ArmSetup
    from core.evaluation.report import to_markdown, training_mismatch
    from core.knowledge.retrieval_setting import describe_setting

    adapter = raft_adapter(data_dir)
    setup = ArmSetup(arms=("hybrid",), kb=kb, adapter=adapter)
    assert (setup.retrieval.search_type, setup.retrieval.k) == ("dense", 3)  # trained with, not the kb's k=2
    record = setup.retrieval_record()
    assert record["base_from"] == "the setting adapter raft-a was trained with" and record["override"] == []
    assert "(the kb's own setting: hybrid, k=2)" in describe_setting(record)
    assert training_mismatch({"setup": setup.describe()}) is None

    changed = ArmSetup(arms=("hybrid",), kb=kb, adapter=adapter, retrieval=replace(setup.retrieval, k=4))
    report = {"setup": changed.describe(), "n": 1, "arms": {}, "kind": "qa", "meta": {}}
    note = training_mismatch(report)
    assert note.startswith("The RAFT adapter was trained with k=3 but evaluated with k=4")  # nothing to escape
    # The CLI's setup starts at the training setting too.
    import argparse

    from core.commands.evaluate import build_setup

    args = argparse.Namespace(kb=kb, adapter=adapter, k=None, max_new_tokens=None, arms="hybrid")
    assert build_setup(args).retrieval.k == 3
    assert "trained with k=3" in to_markdown(report | {"verdict": "x", "verdict_metric": "contains", "deltas": {}})


def test_a_closed_book_adapter_or_another_kb_keeps_the_kbs_setting(kb, data_dir):
    from core.evaluation.arms import starting_retrieval

    other = raft_adapter(data_dir, name="other-kb", kb="elsewhere")
    assert starting_retrieval(kb, other)[0].k == 2


# ---------------------------------------------------------------- Compare exchanges carry their own setup


def _answer(arm, text):
    from core.evaluation.arms import ArmAnswer

    return ArmAnswer(arm, [], text=text, total_ms=120.0, prompt_tokens=10, answer_tokens=3,
                     engine={"engine": "hf", "quantization": "fp32"})


def test_each_exchange_names_its_own_adapter_in_both_exports(kb):
    from core.evaluation.conversation import Conversation

    conversation = Conversation()
    for adapter, k in (("adapter-a", 2), ("adapter-b", 4)):
        setup = {"arms": ["ft"], "kb": kb, "adapter": adapter, "adapter_mode": "closed_book",
                 "retrieval": {"search_type": "hybrid", "k": k, "min_score": 0.3, "base_from": "the kb's setting",
                               "override": [] if k == 2 else [{"field": "k", "value": 4, "base": 2}]},
                 "engine": {"engine": "hf", "quantization": "fp32", "device": "cpu"}, "model": "bundled:tiny",
                 "decoding": {"max_new_tokens": 64, "do_sample": False}}
        conversation.add(f"question with {adapter}?", {"ft": _answer("ft", "yes")}, {"ft": "p"}, setup=setup)
    markdown = conversation.to_markdown()
    first, second = markdown.split("## 2.")
    assert "adapter\\-a (closed-book)" in first and "adapter\\-b" not in first
    assert "adapter\\-b (closed-book)" in second and "override\\: k=4, the kb's setting is k=2" in second
    assert "**Engine**: hf fp32 on cpu" in second and "**Model**: bundled\\:tiny" in second
    assert "{'" not in markdown and "{\"" not in markdown  # no Python or JSON dicts in the Markdown
    saved = json.loads(conversation.to_json())["exchanges"]
    assert [e["setup"]["adapter"] for e in saved] == ["adapter-a", "adapter-b"]
    again = Conversation.from_dict(json.loads(conversation.to_json()))
    assert again.exchanges[1].setup["retrieval"]["k"] == 4


def test_an_exchange_saved_before_setups_were_kept_says_so():
    from core.evaluation.conversation import Conversation

    old = Conversation.from_dict({"exchanges": [{"question": "q", "answers": {}}]})
    assert "not recorded" in old.to_markdown()


# ---------------------------------------------------------------- the machine behind the latencies


def test_a_report_records_the_machine_and_labels_batched_latencies(data_dir):
    from core.evaluation.arms import ArmSetup
    from core.evaluation.evalsets import EvalSet
    from core.evaluation.evaluate import evaluate
    from core.evaluation.report import latency_note
    from tests.unit.test_evaluate import QUESTIONS, FakeArms, table

    report = evaluate(EvalSet("unit", tuple(QUESTIONS[:4])), ArmSetup(arms=("base",)),
                      engine=FakeArms({"base": table()["base"]}), batch_size=2)
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["batch_size"] == 2
    assert len(machine["load_before"]) == 3 and machine["other_jobs_before"] == []
    assert latency_note(report).startswith("Latencies measured batched (2 questions generated together)")


def test_latency_conditions_name_load_and_other_jobs():
    from core.runtime.machine import latency_conditions

    loaded = latency_conditions({"cores": 2, "load_before": [8.2, 5, 3], "load_after": [11.0, 9, 4], "batch_size": 1,
                                 "other_jobs_before": [{"id": "x", "kind": "finetune"}]})
    assert loaded["loaded"] and not loaded["batched"]
    assert loaded["label"] == "under load (load average 11.0 on 2 cores); while other jobs ran (finetune)"
    idle = latency_conditions({"cores": 16, "load_before": [0.5, 0, 0], "load_after": [1.0, 0, 0], "batch_size": 1})
    assert idle["label"] == "one at a time on an idle machine (16 cores)"
    assert latency_conditions(None, 4)["label"].startswith("conditions not recorded; batched")


# ---------------------------------------------------------------- single answers feed the projection


def test_single_answers_feed_the_projection_and_the_estimate(data_dir):
    from core.decision.projection import projection
    from core.evaluation.estimate import estimate_seconds
    from core.runtime.answer_times import record_answers, single_answer_latency
    from core.runtime.machine import conditions

    assert estimate_seconds(10, ["rag"], 48) is None
    record_answers("Ask", {"rag": {"total_ms": 9000.0, "tokens": 20, "generated": True}}, None)
    record_answers("Compare", {"rag": {"total_ms": 11000.0, "tokens": 20},
                               "base": {"total_ms": 8000.0, "tokens": 20, "load_ms": 40000.0}}, 64)
    single = single_answer_latency(data_dir)
    assert set(single) == {"rag"}  # the answer that waited for the model to load times something else
    assert single["rag"]["p50_ms"] == 10000.0 and single["rag"]["n"] == 2
    estimate = estimate_seconds(10, ["rag"], 48)
    assert estimate["seconds"] == 100.0 and "timed one at a time on Ask and Compare" in estimate["basis"]

    report = {"arms": {"rag": {"latency_p50_ms": 38800.0, "latency_p95_ms": 50000.0, "prompt_tokens_mean": 300},
                       "base": {"latency_p50_ms": 20000.0, "prompt_tokens_mean": 40}},
              "machine": conditions({"cores": 2, "load_avg": [8.0, 8, 8]}, {"cores": 2, "load_avg": [11.0, 9, 9]}, 4)}
    proj = projection({"queries_per_day": 500}, report, single=single)
    rows = {r["arm"]: r for r in proj["arms"]}
    assert rows["rag"]["latency_p50_ms"] == 10000.0 and rows["rag"]["serving_seconds_per_day"] == 5000.0
    assert rows["rag"]["latency_from"].startswith("p50 of 2 single answer(s) timed on Ask and Compare")
    assert rows["base"]["latency_p50_ms"] == 20000.0
    assert rows["base"]["latency_from"].startswith("evaluation report, batched (4 questions generated together); "
                                                   "under load (load average 11.0 on 2 cores)")


# ---------------------------------------------------------------- the kb's own questions by default


def test_the_kbs_own_questions_are_the_default_and_the_demo_set_needs_consent(kb, data_dir):
    from core.evaluation import evalset_choice as C
    from core.evaluation.evalsets import EvalSetError

    sources = (C.KB_FILE, C.HELDOUT, C.CLOZE, C.UPLOAD, C.DEMO)
    assert C.default_source(kb, None, sources) == C.CLOZE
    assert C.default_source(kb, "some-adapter", sources) == C.HELDOUT
    assert C.default_source("demo", None, sources) == C.DEMO
    with pytest.raises(EvalSetError, match="demo's documents"):
        C.demo_set(kb)
    assert len(C.demo_set(kb, consent=True)) == 40
    kept = C.keep_with_kb(kb, "../mine.jsonl", b'{"question": "q?", "answer": "a"}\n')
    assert len(kept) == 1 and C.kb_eval_files(kb) == ["mine.jsonl"]
    assert C.default_source(kb, "some-adapter", sources) == C.KB_FILE
    assert len(C.load_kb_eval_file(kb, "mine.jsonl")) == 1
