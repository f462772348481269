"""Blind review: shuffled unlabelled order, resumable grades, the human metric, agreement, the verdict."""

import pytest

from core.evaluation import review


def _report(data_dir):
    """10 answers (5 questions x base, rag) from the evaluation code with fake arms, saved."""
    from core.evaluation.arms import ArmSetup
    from core.evaluation.evalsets import EvalSet
    from core.evaluation.evaluate import evaluate, save_report
    from tests.unit.test_evaluate import QUESTIONS, FakeArms, table

    report = evaluate(EvalSet("unit", tuple(QUESTIONS[:5])), ArmSetup(arms=("base", "rag"), kb="kb"),
                      engine=FakeArms(table()))
    save_report(report)
    return report


def test_order_is_shuffled_grouped_by_question_and_stable(data_dir):
    report = _report(data_dir)
    items = review.order(report)
    assert sorted(items) == [(i, arm) for i in range(5) for arm in ("base", "rag")]
    assert items == review.order(report)  # the same order after a reload
    questions = [i for i, _ in items]
    assert [questions[k] for k in range(0, 10, 2)] == [questions[k] for k in range(1, 10, 2)]  # a question's answers together
    assert questions != sorted(questions) or [a for _, a in items] != ["base", "rag"] * 5  # shuffled


def test_grades_resume_and_become_the_human_metric_that_the_verdict_uses(data_dir):
    from core.evaluation.evaluate import load_report

    def rule(i, arm):
        return "partly" if (arm, i) == ("rag", 4) else "correct" if arm == "rag" else "wrong"

    report = _report(data_dir)
    assert report["verdict_metric"] == "contains"
    for _ in range(4):  # four grades, then "a reload": everything comes back from the file
        i, arm = review.state(load_report(report["id"]))["next"]
        review.record(report["id"], i, arm, rule(i, arm))
    again = load_report(report["id"])
    assert review.state(again)["graded"] == 4 and "human" not in again["arms"]["rag"]
    while (nxt := review.state(again)["next"]) is not None:
        i, arm = nxt
        again = review.record(report["id"], i, arm, rule(i, arm))
    saved = load_report(report["id"])
    assert saved["review"]["finished"]
    assert saved["arms"]["rag"]["human"] == pytest.approx(0.9) and saved["arms"]["base"]["human"] == 0.0
    assert saved["deltas"]["rag-base"]["human"][1] == pytest.approx(0.9)
    # fake answers: rag right on all 5 by contains, base never; the grades disagree only on question 4 (partly)
    assert saved["review"]["agreement"]["contains"]["agreement"] == pytest.approx(0.95)
    assert saved["verdict_metric"] == "human"
    assert "Scored by your own blind-review grades" in saved["verdict"]
    assert "Your grades agree best with" in saved["verdict"]
    from core.evaluation.report import to_markdown

    assert "## Blind review" in to_markdown(saved) and "agrees with your grades on 95% of 10 answers" in to_markdown(saved)


def test_bad_grades_are_refused(data_dir):
    report = _report(data_dir)
    with pytest.raises(ValueError):
        review.grade(report, 0, "rag", "great")
    with pytest.raises(ValueError):
        review.grade(report, 0, "ft", "correct")
