"""Compare and Evaluate pages in AppTest: empty workspace, and a saved report rendered in full."""

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

FIXTURE_REPORT = ROOT / "tests" / "fixtures" / "report_example.json"


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_compare_without_kb_or_adapter_offers_only_the_base_arm(data_dir):
    app = open_page("app_pages/compare.py")
    captions = " ".join(c.value for c in app.caption)
    assert "need a knowledge base" in captions
    assert "Engine ct2 (float32): faithful to hf fp32" in captions  # the default engine's measured fidelity
    assert app.chat_input[0].disabled is False


def test_evaluate_empty_workspace_says_how_to_start(data_dir):
    app = open_page("app_pages/evaluate.py")
    assert any("No reports yet" in i.value for i in app.info)


@pytest.fixture
def saved_report(data_dir):
    report = json.loads(FIXTURE_REPORT.read_text())
    report.setdefault("id", "example")
    (data_dir / "reports").mkdir()
    shutil.copy(FIXTURE_REPORT, data_dir / "reports" / "example.json")
    return report


def test_evaluate_renders_a_saved_report(saved_report):
    app = open_page("app_pages/evaluate.py")
    headers = [h.value for h in app.subheader]
    assert "Metrics by arm" in headers and "Per question" in headers
    assert len(app.dataframe) >= 3  # metrics, differences, per-question
    assert [b.label for b in app.get("download_button")] == ["JSON", "CSV (per question)", "Markdown"]


# ---------------------------------------------------------------- Compare: reproducible, persistent


def _record(answer: str) -> dict:
    return {"answer": answer, "sources": [], "retrieval_ms": None, "first_token_ms": 10.0, "total_ms": 100.0,
            "generation_ms": 100.0, "prompt_tokens": 20, "tokens": 5, "tokens_per_s": 50.0,
            "answered_without_generation": False, "prompt": "<|im_start|>user\nq<|im_end|>"}


def test_compare_answers_each_question_on_its_own_by_default(data_dir):
    app = open_page("app_pages/compare.py")
    switch = app.toggle(key="compare_use_history")
    assert switch.label == "Conversation mode" and switch.value is False
    assert any("answered on its own" in c.value for c in app.caption)


def test_compare_conversation_survives_a_reload_and_shows_history_use(data_dir):
    from core.evaluation.conversation import Conversation, Exchange, save_conversation

    save_conversation(Conversation(exchanges=[Exchange("How long is the warranty?", {"base": _record("Two years.")}),
                                              Exchange("And after that?", {"base": _record("Ask us.")},
                                                       history_turns=1)]))
    app = open_page("app_pages/compare.py")  # a new session: what a reload gives
    markdown = " ".join(m.value for m in app.markdown)
    assert "Two years" in markdown and "Ask us" in markdown
    captions = [c.value for c in app.caption]
    assert "Answered on its own (no history)" in captions
    assert "Conversation mode: each arm saw its own 1 earlier turn(s)" in captions
    app.toggle(key="compare_use_history").set_value(True).run()
    assert json.loads((data_dir / "compare" / "conversation.json").read_text())["use_history"] is True


def test_a_corrupt_conversation_file_is_reported_and_ignored(data_dir):
    (data_dir / "compare").mkdir()
    (data_dir / "compare" / "conversation.json").write_text("{nope")
    app = open_page("app_pages/compare.py")
    assert any("could not be read" in w.value for w in app.warning)
    assert list((data_dir / "compare").glob("conversation.json.corrupt-*"))  # kept, not lost
    assert not open_page("app_pages/compare.py").warning  # reported once, then a clean start


@pytest.mark.slow
def test_the_same_question_twice_gets_the_same_prompt_and_answer(model_data_dir):
    """Today the second answer was conditioned on the first exchange (a longer prompt, another answer)."""
    app = open_page("app_pages/compare.py")
    app.number_input[0].set_value(8).run()  # max new tokens: short answers keep this quick
    for _ in range(2):
        app.chat_input[0].set_value("How many days of leave do I get?").run()
        assert not app.exception, [e.value for e in app.exception]
    saved = json.loads((model_data_dir / "compare" / "conversation.json").read_text())["exchanges"]
    assert len(saved) == 2
    assert saved[0]["answers"]["base"]["prompt"] == saved[1]["answers"]["base"]["prompt"]
    assert saved[0]["answers"]["base"]["answer"] == saved[1]["answers"]["base"]["answer"]
    assert saved[1]["history_turns"] == 0


# ---------------------------------------------------------------- Evaluate: verdict, marks, drill-down


@pytest.fixture
def measured_reports(data_dir):
    """Two reports from the evaluation code (fake arms): an older finished one and a newer partial one."""
    from core.evaluation.arms import ArmSetup
    from core.evaluation.evalsets import EvalSet
    from core.evaluation.evaluate import evaluate, save_report
    from core.knowledge.retrieval import RetrievalConfig
    from tests.unit.test_evaluate import QUESTIONS, FakeArms, table

    setup = ArmSetup(arms=("base", "rag"), kb="kb", retrieval=RetrievalConfig(k=3))
    done = evaluate(EvalSet("unit", tuple(QUESTIONS)), setup, engine=FakeArms(table()), batch_size=5)
    done["id"] = "20260101-000000-done"
    engine = FakeArms(table())
    partial = evaluate(EvalSet("unit", tuple(QUESTIONS)), setup, engine=engine, batch_size=5,
                       should_stop=lambda: getattr(engine, "calls", 0) >= 1)
    partial["id"] = "20260102-000000-part"
    save_report(done)
    save_report(partial)
    return done, partial


def test_report_opens_with_its_verdict_and_partial_reports_are_not_preselected(measured_reports):
    done, partial = measured_reports
    app = open_page("app_pages/evaluate.py")
    picker = app.selectbox(key="eval_report")
    assert picker.value == done["id"]  # the newest finished report, not the newer partial one
    assert "partial (cancelled)" in picker.format_func(partial["id"])
    verdict = app.success[0].value
    assert verdict.startswith("**Verdict.** RAG answers 10 of 12 questions correctly, the base model 0 of 12")
    assert "contains the gold answer" in verdict


def test_per_question_marks_and_drill_down_show_chunks_and_full_answers(measured_reports):
    app = open_page("app_pages/evaluate.py")
    table = next(df.value for df in app.dataframe if "Base ✓" in df.value.columns)
    assert set(table["Base ✓"]) == {"✗"} and "✓" in set(table["RAG ✓"])
    drill = app.selectbox(key="report-drill")
    drill.set_value(10).run()  # the question RAG got wrong with the right document retrieved
    texts = [t.value for t in app.text]
    assert "wrong" in texts and "context about q10" in texts  # the full answer, the chunk it read
    assert any("generation error" in m.value for m in app.markdown)


def test_empty_retrieval_columns_are_explained(data_dir):
    report = json.loads(FIXTURE_REPORT.read_text())
    for arm in report["arms"].values():
        arm.pop("hit_at_k", None)
    (data_dir / "reports").mkdir()
    (data_dir / "reports" / "nosource.json").write_text(json.dumps(report))
    app = open_page("app_pages/evaluate.py")
    assert any("no `source`" in c.value.replace("\\", "") for c in app.caption)  # notes are escaped markdown


def test_an_estimate_is_shown_before_an_evaluation_starts(measured_reports):
    app = open_page("app_pages/evaluate.py")
    app.expander[0]  # "New evaluation"
    captions = " ".join(c.value for c in app.caption)
    assert "Estimated" in captions and "s per answer, measured in report" in captions


def test_an_unexpected_error_in_one_section_keeps_the_others(data_dir):
    # a report the renderer cannot read (its "n" is missing): the page showed "This app has
    # encountered an error" and the Freshness section vanished; now the error stays in Reports
    report = json.loads(FIXTURE_REPORT.read_text())
    del report["n"]
    (data_dir / "reports").mkdir()
    (data_dir / "reports" / "broken.json").write_text(json.dumps(report))
    app = open_page("app_pages/evaluate.py")
    headers = [h.value for h in app.header]
    assert "Reports" in headers and "Freshness test" in headers
    assert any("Reports section could not be shown" in e.value.replace("\\", "") for e in app.error)


def _running_evaluation():
    """A just-created evaluation job (queued, no worker yet: active for its first 30 s)."""
    from core.runtime import jobs

    spec = {"setup": {"arms": ["base"], "kb": None, "adapter": None, "retrieval": {"search_type": "hybrid", "k": 3},
                      "decoding": {"max_new_tokens": 24}},
            "batch_size": 4, "eval_set": {"name": "my questions", "kind": "qa", "labels": []}}
    return jobs.create("evaluate", "core.evaluation.evaluate", spec, group="evaluate")


def test_after_a_reload_evaluate_says_what_runs_and_its_form_starts_from_it(data_dir):
    _running_evaluation()
    app = open_page("app_pages/evaluate.py")
    text = " ".join(m.value for m in app.markdown)
    assert "Evaluating Base on **my questions**" in text and "max 24 new tokens" in text
    assert next(n for n in app.number_input if n.label == "Max new tokens").value == 24
    # (no kb in this run: its retrieval controls are not shown; with a kb they start from the run's setting)
    assert app.session_state["eval_arms"] == ["base"]


def test_home_lists_every_running_job_with_a_link(data_dir):
    _running_evaluation()
    app = open_page("app_pages/home.py")
    text = " ".join(m.value for m in app.markdown)
    assert "Running now" in " ".join(h.value for h in app.subheader)
    assert "Evaluating Base on **my questions**" in text
    links = [link.proto.page for link in app.get("page_link")]
    assert any(p.endswith("evaluate.py") or p.endswith("evaluate") for p in links), links
