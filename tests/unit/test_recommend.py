"""The recommendation engine: scenario table, gates, measured evidence, what-if, CLI, report."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.decision.answers import AnswerError
from core.decision.decision_report import to_markdown
from core.decision.engine import flips, recommend, what_if
from core.decision.evidence import choose_metric, hybrid_is_raft
from core.decision.inputs import (
    RecommendInputError,
    kb_corpus_tokens,
    latest_finished_report,
    list_reports,
    load_answers,
    measured_update_times,
    resolve_report,
    workspace_assets,
)
from core.decision.projection import corpus_tokens_from_manifest, projection
from core.decision.questions import OPTIONS, QUESTION_BY_ID, QUESTIONS, STEPS
from core.decision.rules import GATES, RULES
from core.decision.wizard_file import load_wizard, save_wizard, wizard_path

ROOT = Path(__file__).resolve().parents[2]
REPORT = json.loads((ROOT / "tests/fixtures/report_example.json").read_text())

# (name, answers, expected choice, expected top reason factor)
SCENARIOS = [
    ("weekly facts + citations", {"volatility": "weekly", "citations": "required"}, "rag", "volatility"),
    ("weekly facts + citations + goal", {"goal": "facts", "volatility": "weekly", "citations": "required"}, "rag", "goal"),
    ("2,000 tickets to classify, static data",
     {"goal": "behaviour", "task": "classification", "labeled_examples": 2000, "volatility": "static"},
     "finetune", "goal"),
    ("facts + strict output format",
     {"goal": "both", "task": "extraction", "labeled_examples": 300, "jargon": "yes",
      "baseline": "failing_both"}, "hybrid", "goal"),
    ("5 examples and no baseline", {"labeled_examples": 5, "baseline": "none"}, "prompt_first", "baseline"),
    ("small corpus fits the window",
     {"goal": "facts", "corpus_tokens": 2000, "context_window": 8192, "novel_knowledge": "yes"},
     "prompt_first", "corpus_fit"),
    ("big corpus of new facts", {"goal": "facts", "corpus_tokens": 5_000_000, "novel_knowledge": "yes"},
     "rag", "goal"),
    ("noisy retrieval + 500 Q&A pairs -> RAFT",
     {"goal": "facts", "noisy_retrieval": "yes", "labeled_examples": 500, "task": "qa",
      "baseline": "failing_knowledge"}, "hybrid", "raft"),
    ("strict latency, behaviour, strong team",
     {"goal": "behaviour", "latency": "strict", "labeled_examples": 800, "compute": "gpu", "team": "strong"},
     "finetune", "goal"),
    ("no ML team, CPU, no labels", {"goal": "facts", "team": "none", "compute": "cpu", "labeled_examples": 0},
     "rag", "goal"),
    ("model churn, 30 examples", {"goal": "behaviour", "model_churn": "often", "labeled_examples": 30},
     "prompt_first", "examples"),
    ("whole-document summaries", {"goal": "behaviour", "task": "summarization", "summaries": "yes",
                                  "labeled_examples": 400}, "finetune", "goal"),
    ("baseline already good enough", {"baseline": "good_enough", "labeled_examples": 20},
     "prompt_first", "baseline"),
    ("citations gate beats strong fine-tune scores",
     {"goal": "behaviour", "task": "classification", "labeled_examples": 5000, "citations": "required",
      "latency": "strict"}, "hybrid", "examples"),
    ("25 examples: few-shot first", {"goal": "behaviour", "labeled_examples": 25, "task": "generation"},
     "prompt_first", "examples"),
    ("DSL output with 150 examples", {"goal": "behaviour", "jargon": "yes", "labeled_examples": 150,
                                      "task": "generation", "compute": "some_gpu"}, "finetune", "goal"),
    ("weekly facts + extraction schema", {"goal": "both", "volatility": "weekly", "labeled_examples": 400,
                                          "task": "extraction"}, "hybrid", "goal"),
    ("per-user privacy, facts", {"goal": "facts", "privacy": "per_user", "labeled_examples": 2000},
     "rag", "goal"),
    ("own the model, labels", {"goal": "behaviour", "privacy": "own_model", "labeled_examples": 60,
                               "baseline": "failing_format"}, "finetune", "goal"),
    ("the example answers file", json.loads((ROOT / "examples/answers.json").read_text()), "rag", "goal"),
]


@pytest.mark.parametrize("name,answers,choice,top", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenario_table(name, answers, choice, top):
    rec = recommend(answers)
    assert rec["choice"] == choice, (name, rec["scores"], rec["gates"])
    assert rec["reasons"][0]["factor"] == top
    assert rec["reasons"][0]["direction"] == "for"
    assert rec["reasons"][0]["source"]
    assert 0.5 <= rec["confidence"] <= 0.97


def test_scenario_table_is_big_enough_and_covers_every_option():
    assert len(SCENARIOS) >= 15
    assert {s[2] for s in SCENARIOS} == set(OPTIONS)


def test_raft_variant_flagged():
    rec = recommend(SCENARIOS[7][1])
    assert rec["variant"] == "raft"
    assert "RAFT" in rec["choice_label"]
    assert any("RAFT" in s["text"] for s in rec["next_steps"])


def test_every_reason_and_gate_has_a_source_and_every_rule_is_known():
    for factor, values in RULES.items():
        for value, effect in values.items():
            assert effect.source and effect.text, (factor, value)
            assert set(dict(effect.weights)) <= set(OPTIONS)
            if factor in QUESTION_BY_ID:
                assert value in QUESTION_BY_ID[factor].values, (factor, value)
    for gate in GATES.values():
        assert gate.source and set(gate.blocks) <= set(OPTIONS)
        assert "rag" not in gate.blocks  # something is always allowed
    step_ids = [q for _, qs in STEPS for q in qs]
    assert sorted(step_ids) == sorted(q.id for q in QUESTIONS)
    for q in QUESTIONS:
        assert q.why and q.prompt


def test_required_ids_and_values_accepted():
    required = {
        "goal": ["facts", "behaviour", "both"], "volatility": ["static", "monthly", "weekly"],
        "citations": ["required", "nice", "no"], "novel_knowledge": ["yes", "mixed", "no"],
        "task": ["qa", "classification", "extraction", "summarization", "generation"],
        "latency": ["strict", "moderate", "relaxed"], "compute": ["cpu", "some_gpu", "gpu"],
        "team": ["none", "some", "strong"],
        "baseline": ["none", "failing_knowledge", "failing_format", "failing_both"],
    }
    for qid, values in required.items():
        for v in values:
            assert recommend({qid: v})["choice"] in OPTIONS
    assert recommend({"labeled_examples": 42})["answers"]["labeled_examples"] == 42
    assert recommend({"labeled_examples": "1000"})["answers"]["labeled_examples"] == 1000


def test_unanswered_is_neutral_and_unknown_ids_are_noted():
    empty = recommend({})
    assert set(empty["scores"].values()) == {0.0}
    assert empty["close_call"] and empty["confidence"] == 0.5
    none = recommend({"goal": None, "task": ""})
    assert none["scores"] == empty["scores"]
    rec = recommend({"favourite_colour": "blue"})
    assert any("favourite_colour" in n for n in rec["notes"])


@pytest.mark.parametrize("bad", [{"goal": "vibes"}, {"labeled_examples": -3},
                                 {"labeled_examples": "many"}, {"labeled_examples": True},
                                 {"labeled_examples": json.loads("1e400")}, {"labeled_examples": float("nan")},
                                 {"queries_per_day": 1e15}])
def test_bad_answers_raise(bad):
    with pytest.raises(AnswerError):
        recommend(bad)


def test_gates_override_scores():
    strong_ft = {"goal": "behaviour", "task": "classification", "labeled_examples": 5000,
                 "latency": "strict", "team": "strong", "compute": "gpu"}
    assert recommend(strong_ft)["choice"] == "finetune"
    gated = recommend({**strong_ft, "citations": "required"})
    assert gated["scores"]["finetune"] > gated["scores"]["hybrid"]  # scores still favour FT
    assert gated["choice"] == "hybrid"
    assert "finetune" in gated["blocked"]
    assert [g["id"] for g in gated["gates"]] == ["citations_required"]
    assert any("gate ruled it out" in n for n in gated["notes"])
    few = recommend({**strong_ft, "labeled_examples": 3})
    assert few["choice"] not in ("finetune", "hybrid")
    assert "too_few_examples" in [g["id"] for g in few["gates"]]
    weekly = recommend({**strong_ft, "goal": "both", "volatility": "weekly"})
    assert weekly["choice"] != "finetune"


def test_report_is_a_baseline():
    answers = {"labeled_examples": 300, "baseline": "none"}
    assert "no_baseline" in [g["id"] for g in recommend(answers)["gates"]]
    assert "no_baseline" not in [g["id"] for g in recommend(answers, REPORT)["gates"]]


def _report_with(pair: str, interval: list[float]) -> dict:
    rep = copy.deepcopy(REPORT)
    rep["deltas"] = {pair: {"f1": interval}}
    return rep


def test_clear_measurement_overrides_the_prior():
    ft_prior = {"goal": "behaviour", "task": "classification", "labeled_examples": 2000}
    assert recommend(ft_prior)["choice"] == "finetune"
    rec = recommend(ft_prior, _report_with("rag-ft", [0.05, 0.10, 0.15]), evidence_id="r1")
    assert rec["choice"] == "rag"
    assert rec["prior_choice"] == "finetune"
    assert rec["overrides"] and rec["overrides"][0]["prior_choice"] == "finetune"
    assert "the measurement is clear" in rec["overrides"][0]["text"]
    assert rec["runner_up"] == "finetune" and rec["margin"] is None
    assert rec["reasons"][0]["kind"] == "evidence" and rec["reasons"][0]["source"].endswith("r1")
    assert not rec["close_call"]


def test_unclear_measurement_does_not_override():
    ft_prior = {"goal": "behaviour", "task": "classification", "labeled_examples": 2000}
    rec = recommend(ft_prior, _report_with("rag-ft", [-0.02, 0.05, 0.12]))
    assert rec["choice"] == "finetune" and not rec["overrides"]
    ev = [r for r in rec["reasons"] if r["kind"] == "evidence"]
    assert ev and "not clear" in ev[0]["text"] and ev[0]["direction"] == "neutral"


def test_negative_interval_means_the_second_arm_won():
    rag_prior = {"goal": "facts", "novel_knowledge": "yes"}
    rec = recommend(rag_prior, _report_with("rag-ft", [-0.2, -0.12, -0.04]))
    assert rec["choice"] == "finetune" and rec["overrides"]


def test_measurement_never_beats_a_gate():
    rec = recommend({"citations": "required", "goal": "facts"},
                      _report_with("rag-ft", [-0.2, -0.12, -0.04]))
    assert rec["choice"] == "rag"  # FT measured better, but citations are required
    assert not rec["overrides"]


def test_clear_supporting_evidence_raises_confidence():
    answers = {"goal": "facts", "volatility": "monthly"}
    without = recommend(answers)
    with_ev = recommend(answers, REPORT)
    assert with_ev["choice"] == without["choice"] == "rag"
    assert with_ev["confidence"] >= 0.9 > without["confidence"]
    assert with_ev["evidence"]["metric"] == "contains"  # short answers: the verdict's metric
    assert with_ev["evidence"]["n"] == 40


def test_classification_prefers_accuracy():
    rep = copy.deepcopy(REPORT)
    rep["deltas"]["rag-ft"]["accuracy"] = [-0.3, -0.2, -0.1]
    assert choose_metric(rep, "classification")[0] == "accuracy"
    assert choose_metric(rep, "qa")[0] == "contains"
    rep["kind"] = "label"
    assert choose_metric(rep, "qa")[0] == "accuracy"  # the report's kind decides, not the answer


def test_what_if_flips_and_flips_list():
    answers = {"goal": "behaviour", "labeled_examples": 2000, "task": "classification"}
    same = what_if(answers, "volatility", "monthly")
    assert not same["flipped"] and same["after"] == "finetune"
    flip = what_if(answers, "citations", "required")
    assert flip["flipped"] and flip["after"] == "hybrid"
    assert answers.get("citations") is None  # the caller's answers are untouched
    changes = flips(answers)
    assert {"question": "citations", "value": "required"}.items() <= next(
        f for f in changes if f["question"] == "citations").items()
    assert all(f["choice"] != "finetune" for f in changes)
    with pytest.raises(AnswerError):
        what_if(answers, "nope", 1)


def test_corpus_from_manifest():
    by_chunks = {"settings": {"chunk_size": 800}, "files": [{"name": "a", "chunks": 10},
                                                            {"name": "b", "chunks": ["x", "y"]}]}
    est = corpus_tokens_from_manifest(by_chunks)
    assert est["chunks"] == 12 and est["tokens"] == 12 * 800 // 4 and "upper bound" in est["method"]
    exact = {"files": [{"chunks": 3, "tokens": 1000}, {"chunks": 1, "tokens": 24}]}
    assert corpus_tokens_from_manifest(exact)["tokens"] == 1024
    assert corpus_tokens_from_manifest({"files": [{"chunks": 2}]})["tokens"] is None
    assert corpus_tokens_from_manifest({"files": [{"chunks": 2, "chars": 4000}]})["tokens"] == 1000


def test_projection_uses_measured_numbers_only():
    p = projection({"queries_per_day": 1000, "volatility": "weekly"}, REPORT)
    rag = next(r for r in p["arms"] if r["arm"] == "rag")
    assert rag["latency_p50_ms"] == 820.0 and rag["serving_seconds_per_day"] == 820.0
    assert rag["prompt_tokens_per_query"] == 540.0 and rag["prompt_tokens_per_day"] == 540000
    assert p["updates"]["train_seconds"] == 312.0 and p["updates"]["reindex_seconds"] == 14.5
    assert p["updates"]["reindex_seconds_per_month"] == round(52 / 12 * 14.5, 1)
    assert p["missing"] == []
    empty = projection({})
    assert empty["arms"] == [] and empty["updates"]["train_seconds"] is None
    assert any("not measured yet" in m for m in empty["missing"])


def test_markdown_report_is_self_contained():
    rec = recommend(json.loads((ROOT / "examples/answers.json").read_text()), REPORT, evidence_id="x")
    md = to_markdown(rec, projection(rec["answers"], REPORT), created="2025-01-01")
    for needle in ("# Crossroads decision report", "## Reasons", "## Gates that fired",
                   "## Measured evidence", "## Cost and latency projection", "## Your answers",
                   "## Next steps", "Ovadia", "rag-ft"):
        assert needle in md
    json.dumps(rec)  # the record is JSON-ready


PURE_MODULES = ("questions", "rules", "answers", "evidence", "engine", "next_steps", "projection",
                "decision_report", "task_evidence")
PURE_IMPORTS = {"__future__", "collections.abc", "dataclasses", "typing", "math", "statistics"}


def test_engine_is_pure():
    """The engine's modules import only the standard library's pure parts and each other."""
    import ast

    for name in PURE_MODULES:
        path = ROOT / "core/decision" / f"{name}.py"
        src = path.read_text()
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                pure = mod in PURE_IMPORTS or mod.removeprefix("core.decision.") in PURE_MODULES
                assert pure, (name, mod)
        for forbidden in ("open(", "Path(", "requests", "os.", "time."):
            assert forbidden not in src, (name, forbidden)
        assert len(src.splitlines()) <= 400, name


# ---------------------------------------------------------------- I/O and CLI


def test_io_lists_reports_and_measured_times(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "good.json").write_text(json.dumps(REPORT))
    (tmp_path / "reports" / "broken.json").write_text("{not json")
    entries = {e["id"]: e for e in list_reports(tmp_path)}
    assert entries["good"]["ok"] and entries["good"]["n"] == 40
    assert not entries["broken"]["ok"]
    rid, rep = resolve_report("good", tmp_path)
    assert rid == "good" and rep["n"] == 40
    with pytest.raises(RecommendInputError):
        resolve_report("broken", tmp_path)

    rep2 = copy.deepcopy(REPORT)
    rep2["meta"] = {"kb": "docs", "adapter": "ad1"}
    assert measured_update_times(tmp_path, rep2)["train_seconds"] is None
    (tmp_path / "adapters" / "ad1").mkdir(parents=True)
    (tmp_path / "adapters" / "ad1" / "meta.json").write_text('{"duration_s": 99.5}')
    (tmp_path / "kb" / "docs").mkdir(parents=True)
    (tmp_path / "kb" / "docs" / "manifest.json").write_text(json.dumps(
        {"settings": {"chunk_size": 400}, "files": [{"chunks": 5, "seconds": 1.5},
                                                     {"chunks": 5, "seconds": 2.0}]}))
    t = measured_update_times(tmp_path, rep2)
    assert t["train_seconds"] == 99.5 and t["reindex_seconds"] == 3.5
    assert "ad1" in t["train_from"] and "docs" in t["reindex_from"]
    assert kb_corpus_tokens(tmp_path, "docs")["tokens"] == 10 * 400 // 4


def test_load_answers_errors(tmp_path):
    bad = tmp_path / "a.json"
    bad.write_text('{"goal": "vibes"}')
    with pytest.raises(RecommendInputError, match="goal must be one of"):
        load_answers(bad)
    bad.write_text("[1, 2")
    with pytest.raises(RecommendInputError, match="not valid JSON"):
        load_answers(bad)


def _cli(*args, data_dir):
    return subprocess.run(
        [sys.executable, "-m", "core", "--data-dir", str(data_dir), "recommend", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )


def test_cli_end_to_end(tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"goal": "behaviour", "task": "classification",
                                   "labeled_examples": 2000, "volatility": "static"}))
    out = _cli("--answers", str(answers), data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["choice"] == "finetune"
    assert {"choice", "confidence", "scores", "reasons", "gates"} <= set(rec)
    assert all({"text", "source"} <= set(r) for r in rec["reasons"])

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "ev1.json").write_text(json.dumps(REPORT))
    md = tmp_path / "report.md"
    out = _cli("--answers", str(answers), "--evidence", "ev1", "--markdown", str(md), data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["choice"] == "rag" and rec["overrides"]  # RAG measured clearly better than FT
    assert rec["projection"]["updates"]["train_seconds"] == 312.0
    assert "Measurement override" in md.read_text()


def test_cli_errors_are_one_line(tmp_path):
    out = _cli("--answers", str(tmp_path / "missing.json"), data_dir=tmp_path)
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.strip().count("\n") == 0 and "not found" in out.stderr


def test_comparisons_not_involving_the_choice_are_neutral():
    rec = recommend({"goal": "behaviour", "task": "classification", "labeled_examples": 2000}, REPORT)
    assert rec["choice"] == "rag"
    by_pair = {r["answer"]: r["direction"] for r in rec["reasons"] if r["kind"] == "evidence"}
    assert by_pair["rag-ft"] == "for" and by_pair["rag-base"] == "for"
    assert by_pair["ft-base"] == "neutral" and by_pair["hybrid-base"] == "neutral"
    assert "measurement decided" in rec["confidence_reading"]


def test_readme_documents_every_answer_id():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Recommendation wizard", 1)[1].split("\n## ", 1)[0]
    for q in QUESTIONS:
        assert f"| `{q.id}` |" in section, q.id
        for value in q.values:
            assert f"`{value}`" in section, (q.id, value)


def test_corpus_from_a_knowledge_py_manifest():
    manifest = {
        "chunking": {"size": 500, "overlap": 50, "unit": "chars"},
        "files": {
            "f1": {"name": "a.pdf", "status": "complete", "chunks": 20, "chunk_ids": ["x"] * 20,
                   "chunking": {"size": 500, "overlap": 50, "unit": "chars"}},
            "f2": {"name": "b.md", "status": "complete", "chunks": 4,
                   "chunking": {"size": 200, "overlap": 20, "unit": "tokens"}},
            "f3": {"name": "c.md", "status": "pending", "chunks": 99},
        },
    }
    est = corpus_tokens_from_manifest(manifest)
    # The documents' own text: overlapping chunks repeat 50 characters / 20 tokens each time.
    assert est["chunks"] == 24 and est["tokens"] == int((500 + 19 * 450) / 4 + 200 + 3 * 180)
    # Indexing records each file's parsed characters: those win over any chunk arithmetic.
    manifest["files"]["f1"]["chars"] = 3860 * 4
    assert corpus_tokens_from_manifest(manifest)["tokens"] == 3860 + 200 + 3 * 180
    assert corpus_tokens_from_manifest({"chunking": {"size": 500}, "files": {}})["tokens"] is None


# ---------------------------------------------------------------- evidence it has (issue 10.5, 15.5)


def _contains_clear_f1_not() -> dict:
    """RAG clearly ahead of the fine-tune on "contains", not on F1."""
    rep = copy.deepcopy(REPORT)
    rep["deltas"] = {"rag-ft": {"f1": [-0.02, 0.04, 0.10], "contains": [0.10, 0.20, 0.30]}}
    return rep


FT_PRIOR = {"goal": "behaviour", "task": "qa", "labeled_examples": 2000}


def test_the_reports_verdict_metric_decides():
    rep = _contains_clear_f1_not()
    rep["verdict_metric"] = "contains"
    rec = recommend(FT_PRIOR, rep)
    assert rec["evidence"]["metric"] == "contains"
    assert rec["choice"] == "rag" and rec["overrides"]  # the clear contains gap is not "not clear"
    assert "contains the gold answer" in rec["overrides"][0]["text"]
    cmp = rec["evidence"]["comparisons"][0]
    assert [o["metric"] for o in cmp["other_metrics"]] == ["f1"] and not cmp["other_metrics"][0]["clear"]
    rep["verdict_metric"] = "f1"  # a report that says F1 is read on F1
    assert recommend(FT_PRIOR, rep)["choice"] == "finetune"


def test_metric_without_a_verdict_follows_the_eval_set():
    rep = _contains_clear_f1_not()
    assert choose_metric(rep)[0] == "contains"  # short (or unknown) gold answers
    rep["questions"] = [{"gold": ["the warranty covers parts and labour for two full years"]}] * 3
    metric, why = choose_metric(rep)
    assert metric == "f1" and "long" in why
    rep["kind"] = "label"
    rep["deltas"]["rag-ft"]["accuracy"] = [0.1, 0.2, 0.3]
    assert choose_metric(rep)[0] == "accuracy"


def test_runner_up_gap_has_a_unit():
    rec = recommend({"goal": "facts", "volatility": "monthly"})
    assert rec["runner_up"] and "prior-score points" in rec["runner_up_gap"]
    md = to_markdown(rec, None)
    assert "**Runner-up:**" in md and "prior-score points behind" in md


def test_next_steps_do_not_ask_for_what_exists():
    both = {"goal": "both", "labeled_examples": 300, "task": "extraction"}
    bare = " ".join(s["text"] for s in recommend(both)["next_steps"])
    assert "Build a knowledge base" in bare and "Train a LoRA adapter" in bare
    assets = {"kbs": ["handbook"], "adapters": [{"name": "tickets-v1", "mode": "closed_book"}], "reports": 2}
    steps = recommend(both, assets=assets)["next_steps"]
    text = " ".join(s["text"] for s in steps)
    assert "Build a knowledge base" not in text and "Train a LoRA adapter" not in text
    assert "'handbook'" in text and "'tickets-v1' exists" in text
    assert "2 finished evaluation reports" in text


def _raft_report(where: str) -> dict:
    rep = copy.deepcopy(REPORT)
    rep["verdict_metric"] = "f1"
    rep["deltas"]["hybrid-rag"] = {"f1": [0.22, 0.34, 0.47], "contains": [-0.2, -0.12, -0.02]}
    if where == "mode":
        rep["adapter_mode"] = "raft"
    elif where == "title":
        rep["arm_titles"] = {"hybrid": "Hybrid (RAFT)"}
    return rep


@pytest.mark.parametrize("where", ["mode", "title"])
def test_hybrid_raft_clearly_beating_rag_overrides_the_prior(where):
    rag_prior = {"goal": "facts", "novel_knowledge": "yes", "volatility": "monthly"}
    assert recommend(rag_prior)["choice"] == "rag"
    rec = recommend(rag_prior, _raft_report(where), evidence_id="raft1")
    assert rec["choice"] == "hybrid" and rec["overrides"] and rec["variant"] == "raft"
    assert "RAFT" in rec["choice_label"] and rec["evidence"]["raft_hybrid"]
    assert "hybrid (RAFT) beat RAG by 34 points on token F1" in rec["overrides"][0]["text"]
    raft_step = next(s for s in rec["next_steps"] if "RAFT" in s["text"])
    assert 'mode "for use with retrieval (RAFT)"' in raft_step["text"]
    assert raft_step["page"] == "app_pages/finetune.py" and "RAFT" in raft_step["link"]
    # with a RAFT adapter already trained, the step evaluates it instead of training one again
    again = recommend(rag_prior, _raft_report(where), assets={"adapters": [{"name": "r1", "mode": "raft"}]})
    assert not any("Train an adapter" in s["text"] for s in again["next_steps"])
    # a naive hybrid winning also overrides, but is not called RAFT
    naive = recommend(rag_prior, _raft_report("none"))
    assert naive["choice"] == "hybrid" and naive["variant"] is None


def test_partial_reports_are_never_preselected(tmp_path):
    (tmp_path / "reports").mkdir()
    done = {**REPORT, "created": "2026-01-01T10:00:00+00:00"}
    cut = {**REPORT, "created": "2026-01-02T10:00:00+00:00", "partial": True, "complete": False}
    (tmp_path / "reports" / "done.json").write_text(json.dumps(done))
    (tmp_path / "reports" / "cut.json").write_text(json.dumps(cut))
    entries = list_reports(tmp_path)
    assert [e["id"] for e in entries] == ["cut", "done"]  # newest first, by `created`
    assert entries[0]["partial"] and not entries[1]["partial"]
    assert latest_finished_report(entries) == "done"
    assert workspace_assets(tmp_path)["reports"] == 1
    assert latest_finished_report([e for e in entries if e["partial"]]) is None
    rec = recommend({}, cut)
    assert any("partial" in n for n in rec["notes"])


def trained_adapter(data_dir: Path, name: str, meta: dict) -> None:
    """An adapter folder as the training store lists it (weights and config present)."""
    folder = data_dir / "adapters" / name
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"")


def test_projection_reads_adapters_and_kbs_without_a_report(tmp_path):
    assert measured_update_times(tmp_path, None)["train_seconds"] is None
    for name, secs, day in (("old", 50.0, 1), ("new", 75.5, 2)):
        trained_adapter(tmp_path, name, {"duration_s": secs, "mode": "raft", "created": f"2026-01-0{day}T10:00"})
    (tmp_path / "adapters" / "half").mkdir()  # a half-written one (no weights) does not count
    (tmp_path / "adapters" / "half" / "meta.json").write_text(json.dumps({"duration_s": 1.0, "created": "2027"}))
    (tmp_path / "kb" / "docs").mkdir(parents=True)
    (tmp_path / "kb" / "docs" / "manifest.json").write_text(json.dumps(
        {"files": {"a": {"chunks": 3, "seconds": 1.25}, "b": {"chunks": 2, "seconds": 0.75}}}))
    t = measured_update_times(tmp_path, None)
    assert t["train_seconds"] == 75.5 and "new" in t["train_from"]
    assert t["reindex_seconds"] == 2.0 and "docs" in t["reindex_from"]
    p = projection({"volatility": "weekly"}, None, train_seconds=t["train_seconds"],
                   reindex_seconds=t["reindex_seconds"])
    assert p["updates"]["train_seconds_per_month"] == round(52 / 12 * 75.5, 1)
    assert not any("Retraining time" in m or "Re-index time" in m for m in p["missing"])
    assert workspace_assets(tmp_path)["adapters"][0] == {"name": "new", "mode": "raft"}


def test_a_report_learns_its_adapter_mode_from_the_adapter(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "r.json").write_text(json.dumps(REPORT))  # meta.adapter = demo-qa
    (tmp_path / "adapters" / "demo-qa").mkdir(parents=True)
    (tmp_path / "adapters" / "demo-qa" / "meta.json").write_text(json.dumps({"mode": "raft"}))
    _, rep = resolve_report("r", tmp_path)
    assert hybrid_is_raft(rep)


def test_wizard_answers_round_trip_and_a_corrupt_file_is_reported(tmp_path):
    assert load_wizard(tmp_path, 11) == ({}, 0, None)
    save_wizard(tmp_path, {"goal": "facts", "labeled_examples": 40, "task": None}, 3)
    assert wizard_path(tmp_path) == tmp_path / "ui" / "wizard.json"
    assert load_wizard(tmp_path, 11) == ({"goal": "facts", "labeled_examples": 40}, 3, None)
    assert not list((tmp_path / "ui").glob(".*tmp"))  # written through a temporary file
    for bad in ("{not json", json.dumps([1, 2]), json.dumps({"answers": {"goal": "vibes"}})):
        wizard_path(tmp_path).write_text(bad)
        answers, step, problem = load_wizard(tmp_path, 11)
        assert (answers, step) == ({}, 0) and "could not be used" in problem
        assert not wizard_path(tmp_path).exists()
    kept = sorted(p.read_text() for p in (tmp_path / "ui").glob("wizard.unreadable-*.json"))
    assert kept  # moved aside, not lost
