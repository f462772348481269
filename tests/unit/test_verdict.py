"""The verdict every report opens with: the metric suits the eval set, the CIs decide the words."""

import json

from core.evaluation.verdict import build_verdict, verdict_metric, verdict_of
from tests.conftest import ROOT


def _report(kind, per_arm, golds=("27 days",)):
    """A report with per-question 0/1 scores (no stored deltas: the verdict bootstraps them)."""
    metric = "accuracy" if kind == "label" else "contains"
    n = len(next(iter(per_arm.values())))
    questions = [{"gold": list(golds), "scores": {arm: {metric: s[i], "f1": s[i]} for arm, s in per_arm.items()}}
                 for i in range(n)]
    arms = {arm: {metric: sum(s) / n, "f1": sum(s) / n} for arm, s in per_arm.items()}
    return {"kind": kind, "n": n, "arms": arms, "questions": questions, "deltas": {}}


def test_metric_suits_the_eval_set():
    assert verdict_metric({"kind": "label"}) == "accuracy"
    assert verdict_metric(_report("qa", {"base": [0]})) == "contains"
    long_gold = ("the warranty lasts thirty six months from the date of purchase on every station",)
    assert verdict_metric(_report("qa", {"base": [0]}, golds=long_gold)) == "f1"


def test_clear_winner_is_named_with_its_ci_and_the_rest_compared():
    report = _report("qa", {"base": [0] * 30, "rag": [1] * 24 + [0] * 6, "ft": [0] * 30,
                            "hybrid": [1] * 12 + [0] * 18})
    text = build_verdict(report)["verdict"]
    assert text.startswith("RAG answers 80 points more of the 30 questions correctly than the base model (95% CI")
    assert "the fine-tuned arm is no better than base" in text
    assert "hybrid beats base but is worse than RAG" in text
    assert text.endswith("Scored by whether the answer contains the gold answer.")


def test_no_clear_difference_says_so_and_small_sets_are_flagged():
    report = _report("label", {"base": [1, 0, 1, 0, 1, 0], "ft": [1, 1, 0, 0, 1, 0]})
    out = build_verdict(report)
    assert out["verdict_metric"] == "accuracy"
    assert "no arm beats the base model" in out["verdict"].lower() or "not clearly better" in out["verdict"]
    assert "with only 6 questions the intervals are wide" in out["verdict"]


def test_stored_verdict_is_kept_and_old_reports_get_one():
    example = json.loads((ROOT / "tests" / "fixtures" / "report_example.json").read_text())
    built = verdict_of(example)  # no stored verdict: built from its stored deltas
    assert built["verdict"].startswith("Hybrid (FT + RAG) answers 46 points more")
    assert verdict_of({**example, "verdict": "x", "verdict_metric": "f1"}) == {"verdict": "x", "verdict_metric": "f1"}


def test_single_arm_report():
    out = build_verdict(_report("qa", {"rag": [1, 0, 1, 1] * 10}))
    assert out["verdict"].startswith("Only RAG was run: 75% on 40 questions")
