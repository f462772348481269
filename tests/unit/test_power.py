"""How many questions are enough: the minimum detectable effect against its closed form."""

import math

import numpy as np

from core.evaluation import power
from core.evaluation.verdict import build_verdict

Z_975, Z_80 = 1.959963984540054, 0.8416212335729143  # standard normal quantiles (tables)


def test_mde_and_sample_size_match_the_closed_form():
    assert math.isclose(power.z_sum(), Z_975 + Z_80, rel_tol=1e-9)
    for sd, n in ((0.5, 100), (0.7071, 40), (0.3, 28)):
        assert math.isclose(power.mde(sd, n), (Z_975 + Z_80) * sd / math.sqrt(n), rel_tol=1e-9)
    assert power.n_needed(0.5, 0.10) == math.ceil(((Z_975 + Z_80) * 0.5 / 0.10) ** 2) == 197
    # the assumed spread: 0/1 scores, arms disagreeing on half the questions -> sd sqrt(0.5), 393 for 10 points
    assert math.isclose(power.assumed_sd(), math.sqrt(0.5))
    plan = power.plan(40)
    assert plan["n_for_10_points"] == math.ceil(((Z_975 + Z_80) * math.sqrt(0.5) / 0.10) ** 2) == 393
    assert math.isclose(plan["mde"], (Z_975 + Z_80) * math.sqrt(0.5) / math.sqrt(40), abs_tol=1e-4)
    assert power.mde(0.5, 0) is None and power.n_needed(0.5, 0) is None


def test_paired_sd_is_the_sample_sd_of_the_differences():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 50).tolist(), rng.integers(0, 2, 50).tolist()
    expected = float(np.std(np.array(a) - np.array(b), ddof=1))
    assert math.isclose(power.paired_sd(a, b), expected, rel_tol=1e-12)
    assert power.paired_sd([1, None, 0], [0, 1, None]) is None  # one complete pair: no spread


def test_equivalence_is_claimed_only_when_the_whole_ci_is_inside_5_points():
    assert "equivalent within ±5 points" in power.settle_sentence((-0.04, 0.0, 0.04), 0.2, 400)
    wide = power.settle_sentence((-0.06, 0.0, 0.04), 0.2, 400)
    assert "equivalent" not in wide
    assert "questions would detect a difference of 10 points" in wide
    measured = power.settle_sentence((-0.1, 0.08, 0.25), 0.5, 40)
    assert measured.startswith(f"about {power.n_needed(0.5, 0.08)} questions would detect a true difference of 8")


def _report(per_arm):
    n = len(next(iter(per_arm.values())))
    questions = [{"gold": ["g"], "scores": {a: {"contains": s[i]} for a, s in per_arm.items()}} for i in range(n)]
    return {"kind": "qa", "n": n, "questions": questions, "deltas": {},
            "arms": {a: {"contains": sum(s) / n} for a, s in per_arm.items()}}


def test_no_clear_winner_says_what_sample_would_settle_it():
    base = [1, 0] * 20
    rag = [1, 0] * 18 + [1, 1, 0, 0]  # +0 points: unclear
    text = build_verdict(_report({"base": base, "rag": rag}))["verdict"]
    assert "would detect a difference of 10 points with 80% power" in text
    same = build_verdict(_report({"base": [1, 0] * 300, "rag": [1, 0] * 300}))["verdict"]
    assert "equivalent within ±5 points" in same  # identical answers on 600 questions: CI [0, 0]
    few = build_verdict(_report({"base": [1, 0, 0], "rag": [1, 0, 0]}))["verdict"]
    assert "equivalent within" not in few and "too few to call them equivalent" in few  # CI [0, 0] on 3 questions
    assert "rule of three" in power.settle_sentence((0.0, 0.0, 0.0), 0.0, 60)
    assert "equivalent within ±5 points" in power.settle_sentence((0.0, 0.0, 0.0), 0.0, 61)


def test_the_report_stores_the_figures_before_and_after_the_run(data_dir):
    from core.evaluation import planning
    from core.evaluation.arms import ArmSetup
    from core.evaluation.evalsets import EvalSet
    from core.evaluation.evaluate import evaluate, save_report
    from tests.unit.test_evaluate import QUESTIONS, FakeArms, table

    first = evaluate(EvalSet("unit", tuple(QUESTIONS)), ArmSetup(arms=("base", "rag"), kb="kb"), engine=FakeArms(table()))
    assert first["power"]["before_run"]["basis"].startswith("assumed")  # nothing measured yet
    observed = first["power"]["observed"]["rag-base"]
    diffs = [q["scores"]["rag"]["contains"] - q["scores"]["base"]["contains"] for q in first["questions"]]
    assert math.isclose(observed["sd"], float(np.std(diffs, ddof=1)), abs_tol=1e-4)
    assert math.isclose(observed["mde"], (Z_975 + Z_80) * observed["sd"] / math.sqrt(12), abs_tol=1e-3)
    save_report(first)
    later = planning.before_run(30, "qa")  # a measured spread now plans the next run
    assert later["basis"].startswith(f"measured in report {first['id']}") and later["sd"] == observed["sd"]
    assert planning.before_run(30, "label")["basis"].startswith("assumed")  # another kind: not comparable
    from core.evaluation.report import to_markdown

    assert "## How many questions are enough" in to_markdown(first)
