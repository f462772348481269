"""The Recommend wizard in AppTest: walk every step, go back, change an answer, see the result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.decision.engine import recommend
from core.decision.questions import OPTION_LABELS, QUESTION_BY_ID, STEPS
from tests.unit.test_recommend import trained_adapter

ROOT = Path(__file__).resolve().parents[2]
PAGE = "app_pages/recommend.py"

# One answer per step (first question of the step), chosen to give a fine-tune prior.
WALK = {
    "goal": "behaviour",
    "volatility": "static",
    "citations": "no",
    "corpus_tokens": 500_000,
    "labeled_examples": 2000,
    "task": "classification",
    "noisy_retrieval": "no",
    "latency": "strict",
    "compute": "some_gpu",
    "privacy": "none",
    "baseline": "failing_format",
}


def _open(data_dir: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def _picker(at: AppTest):
    """The report selector (a new widget, with a new key, each time it comes back on screen)."""
    return next(box for box in at.selectbox if box.label.startswith("Measured evidence"))


def _step(at: AppTest) -> int:
    return at.session_state["rec_step"]


def _set(at: AppTest, qid: str, value) -> None:
    key = f"rec_q_{qid}"
    if QUESTION_BY_ID[qid].kind == "number":
        at.number_input(key=key).set_value(value)
    else:
        at.radio(key=key).set_value(value)


def _walk(at: AppTest) -> None:
    for i, (title, qids) in enumerate(STEPS):
        assert _step(at) == i
        assert at.get("progress")[0].proto.text.startswith(f"Step {i + 1} of {len(STEPS)}: {title}")
        assert [r.label for r in at.radio] + [n.label for n in at.number_input] != []
        captions = " ".join(c.value for c in at.caption)
        assert captions.count("Why we ask") == len(qids)
        first = qids[0]
        if first in WALK:
            _set(at, first, WALK[first])
        at.button(key="rec_next").click().run()
        assert not at.exception


def test_walk_every_step_go_back_and_change_an_answer(data_dir):
    at = _open(data_dir)
    assert at.button(key="rec_back").disabled
    _walk(at)
    assert _step(at) == len(STEPS)
    assert at.session_state["rec_answers"]["labeled_examples"] == 2000
    rec = recommend({k: v for k, v in at.session_state["rec_answers"].items() if v is not None})
    assert rec["choice"] == "finetune"
    assert "Fine-tune (LoRA)" in at.success[0].value
    assert [m.label for m in at.metric] == ["Confidence", "Close call?", "Questions answered"]
    assert at.metric[0].value == f"{rec['confidence']:.2f}"

    # Back from the result to the last step, then back to step 1: answers are kept.
    at.button(key="rec_to_questions").click().run()
    assert _step(at) == len(STEPS) - 1
    assert at.radio(key="rec_q_baseline").value == "failing_format"
    for _ in range(len(STEPS) - 1):
        at.button(key="rec_back").click().run()
    assert _step(at) == 0
    assert at.radio(key="rec_q_goal").value == "behaviour"

    # Change an answer: facts instead of behaviour, then walk forward again.
    at.radio(key="rec_q_goal").set_value("facts").run()
    at.button(key="rec_next").click().run()
    _set(at, "volatility", "weekly")
    at.run()
    at.button(key="rec_next").click().run()
    assert at.radio(key="rec_q_citations").value == "no"  # kept from the first walk
    at.radio(key="rec_q_citations").set_value("required").run()
    at.button(key="rec_skip").click().run()
    assert _step(at) == len(STEPS)
    answers = at.session_state["rec_answers"]
    assert answers["goal"] == "facts" and answers["citations"] == "required"
    rec = recommend({k: v for k, v in answers.items() if v is not None})
    assert rec["choice"] in ("rag", "hybrid")  # citations required: the answer includes RAG
    assert OPTION_LABELS[rec["choice"]] in at.success[0].value
    gates = " ".join(str(t.value) for t in at.table)
    assert "Citations are required" in gates


def test_answers_survive_a_page_switch(data_dir):
    at = _open(data_dir)
    at.radio(key="rec_q_goal").set_value("both").run()
    at.button(key="rec_next").click().run()
    at.switch_page("app_pages/home.py").run()
    at.switch_page(PAGE).run()
    assert _step(at) == 1
    at.button(key="rec_back").click().run()
    assert at.radio(key="rec_q_goal").value == "both"


def test_result_with_a_report_shows_evidence_override_and_what_if(data_dir):
    (data_dir / "reports").mkdir()
    shutil.copy(ROOT / "tests/fixtures/report_example.json", data_dir / "reports" / "demo-eval.json")
    at = _open(data_dir)
    for qid, value in {"goal": "behaviour"}.items():
        _set(at, qid, value)
    at.run()
    at.session_state["rec_answers"].update(labeled_examples=2000, task="classification")
    at.button(key="rec_skip").click().run()
    assert _picker(at).value == "demo-eval"  # the latest finished report
    assert "RAG" in at.success[0].value

    _picker(at).set_value("(none: use my answers only)").run()
    assert "Fine-tune" in at.success[0].value  # the prior, no evidence
    assert not at.warning
    at.button(key="rec_to_questions").click().run()  # the picker leaves the screen ...
    at.button(key="rec_next").click().run()
    assert _picker(at).value == "(none: use my answers only)"  # ... the pick is kept

    _picker(at).set_value("demo-eval").run()
    assert not at.exception
    assert "RAG" in at.success[0].value
    assert any("overrode the prior" in w.value for w in at.warning)
    frames = [df.value for df in at.dataframe]
    evidence = next(f for f in frames if "comparison" in f.columns)
    assert "yes" in set(evidence["clear?"]) and "no (includes 0)" in set(evidence["clear?"])
    projection = next(f for f in frames if "p50 latency (ms)" in f.columns)
    assert len(projection) == 4
    updates = next(f for f in frames if "per update (s)" in f.columns)
    assert list(updates["per update (s)"]) == ["14.5", "312.0"]

    # What-if: the answer that flips it.
    at.selectbox(key="rec_whatif_q").set_value("citations").run()
    at.radio(key="rec_whatif_v_citations").set_value("required").run()
    assert not at.exception
    assert at.session_state["rec_answers"].get("citations") is None  # saved answers untouched

    labels = [b.label for b in at.get("download_button")]
    assert any("Markdown" in str(b.proto.label) for b in at.get("download_button")), labels


def test_what_if_reports_a_flip(data_dir):
    at = _open(data_dir)
    at.session_state["rec_answers"].update(goal="behaviour", labeled_examples=2000, task="classification")
    at.button(key="rec_skip").click().run()
    at.selectbox(key="rec_whatif_q").set_value("citations").run()
    at.radio(key="rec_whatif_v_citations").set_value("required").run()
    assert any("flips" in w.value for w in at.warning)
    at.radio(key="rec_whatif_v_citations").set_value("no").run()
    assert any("stays" in i.value for i in at.info)


def test_corpus_computed_from_a_knowledge_base(data_dir):
    kb = data_dir / "kb" / "handbook"
    kb.mkdir(parents=True)
    (kb / "manifest.json").write_text(json.dumps(
        {"settings": {"chunk_size": 1000}, "files": [{"name": "a.md", "chunks": 30}]}))
    at = _open(data_dir)
    corpus_step = next(i for i, (_, q) in enumerate(STEPS) if "corpus_tokens" in q)
    at.session_state["rec_step"] = corpus_step
    at.run()
    at.button(key="rec_kb_compute").click().run()
    assert at.number_input(key="rec_q_corpus_tokens").value == 30 * 1000 // 4
    assert at.session_state["rec_answers"]["corpus_tokens"] == 7500
    assert any("handbook" in c.value for c in at.caption)


@pytest.mark.parametrize("bad", ["{oops", json.dumps({"arms": 3})])
def test_broken_report_is_not_offered(data_dir, bad):
    (data_dir / "reports").mkdir()
    (data_dir / "reports" / "broken.json").write_text(bad)
    at = _open(data_dir)
    at.button(key="rec_skip").click().run()
    assert not at.exception
    assert _picker(at).options == ["(none: use my answers only)"]


def _report(data_dir: Path, rid: str, **extra) -> None:
    (data_dir / "reports").mkdir(exist_ok=True)
    report = json.loads((ROOT / "tests/fixtures/report_example.json").read_text())
    (data_dir / "reports" / f"{rid}.json").write_text(json.dumps({**report, **extra}))


def test_latest_finished_report_is_preselected_never_a_partial_one(data_dir):
    _report(data_dir, "older", created="2026-01-01T09:00:00+00:00")
    _report(data_dir, "newer", created="2026-01-02T09:00:00+00:00")
    _report(data_dir, "cancelled", created="2026-01-03T09:00:00+00:00", partial=True, complete=False)
    at = _open(data_dir)
    at.button(key="rec_skip").click().run()
    box = _picker(at)
    assert box.value == "newer"
    assert box.options[-1].startswith("cancelled (PARTIAL")  # offered, labelled, last
    assert "Report **newer**" in " ".join(m.value for m in at.markdown)


def test_reading_uses_the_reports_metric_and_names_it(data_dir):
    _report(data_dir, "r1", verdict_metric="contains", verdict="RAG answers 44 points more questions.",
            deltas={"rag-ft": {"f1": [-0.02, 0.04, 0.10], "contains": [0.10, 0.20, 0.30]}})
    at = _open(data_dir)
    at.session_state["rec_answers"].update(goal="behaviour", labeled_examples=2000, task="qa")
    at.button(key="rec_skip").click().run()
    assert "RAG" in at.success[0].value  # the clear "contains" gap overrides the fine-tune prior
    evidence = next(df.value for df in at.dataframe if "comparison" in df.value.columns)
    assert list(evidence["clear?"]) == ["yes"] and "token F1" in evidence["other metrics"][0]
    text = " ".join(m.value for m in at.markdown)
    assert "contains the gold answer" in text
    assert any("RAG answers 44 points" in i.value for i in at.info)


def test_no_report_still_projects_measured_training_and_indexing(data_dir):
    trained_adapter(data_dir, "tickets", {"duration_s": 123.4})
    (data_dir / "kb" / "docs").mkdir(parents=True)
    (data_dir / "kb" / "docs" / "manifest.json").write_text(json.dumps(
        {"files": {"a": {"name": "a.md", "status": "complete", "chunks": 4, "seconds": 2.5}}}))
    at = _open(data_dir)
    at.session_state["rec_answers"].update(goal="both", labeled_examples=300, volatility="monthly")
    at.button(key="rec_skip").click().run()
    updates = next(df.value for df in at.dataframe if "per update (s)" in df.value.columns)
    assert list(updates["per update (s)"]) == ["2.5", "123.4"]
    assert "tickets" in updates["measured from"][1] and "docs" in updates["measured from"][0]
    steps = " ".join(m.value for m in at.markdown)
    assert "Build a knowledge base" not in steps and "Train a LoRA adapter" not in steps
    assert "'docs'" in steps and "'tickets' exists" in steps


def test_gap_to_the_runner_up_has_a_unit(data_dir):
    at = _open(data_dir)
    at.session_state["rec_answers"].update(goal="facts", volatility="monthly")
    at.button(key="rec_skip").click().run()
    assert any("prior-score points behind" in c.value for c in at.caption)


def test_raft_variant_links_to_the_raft_mode(data_dir):
    at = _open(data_dir)
    at.session_state["rec_answers"].update(goal="facts", noisy_retrieval="yes", labeled_examples=500,
                                           task="qa", baseline="failing_knowledge")
    at.button(key="rec_skip").click().run()
    assert "RAFT" in at.success[0].value
    links = [(el.proto.label, el.proto.page) for el in at.get("page_link")]
    assert any(label == "Open Fine-tune (RAFT mode)" and page == "finetune" for label, page in links), links
    assert any('mode "for use with retrieval (RAFT)"' in m.value for m in at.markdown)


def test_answers_survive_a_reload(data_dir):
    at = _open(data_dir)
    at.radio(key="rec_q_goal").set_value("both").run()
    at.button(key="rec_next").click().run()
    at.radio(key="rec_q_volatility").set_value("weekly").run()
    saved = json.loads((data_dir / "ui" / "wizard.json").read_text())
    assert saved["answers"] == {"goal": "both", "volatility": "weekly"} and saved["step"] == 1

    fresh = _open(data_dir)  # a new browser session: nothing in session_state
    assert _step(fresh) == 1
    assert fresh.radio(key="rec_q_volatility").value == "weekly"
    fresh.button(key="rec_back").click().run()
    assert fresh.radio(key="rec_q_goal").value == "both"

    fresh.button(key="rec_skip").click().run()  # the result page is restored too
    assert _open(data_dir).session_state["rec_step"] == len(STEPS)


def test_a_corrupt_saved_file_is_reported_and_ignored(data_dir):
    (data_dir / "ui").mkdir()
    (data_dir / "ui" / "wizard.json").write_text('{"answers": {"goal": ')
    at = _open(data_dir)
    assert not at.exception
    assert _step(at) == 0 and at.radio(key="rec_q_goal").value == "__skip__"
    assert any("could not be used" in w.value for w in at.warning)
    assert list((data_dir / "ui").glob("wizard.unreadable-*.json"))  # kept aside
