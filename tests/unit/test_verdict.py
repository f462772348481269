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
    assert text.startswith("RAG answers 24 of 30 questions correctly, the base model 0 of 30 (+80 points, 95% CI")
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
    assert built["verdict"].startswith("Hybrid (FT + RAG) answers 26 of 40 questions correctly, the base model 7 of 40 (+46 points")
    assert verdict_of({**example, "verdict": "x", "verdict_metric": "f1"}) == {"verdict": "x", "verdict_metric": "f1"}


def test_single_arm_report():
    out = build_verdict(_report("qa", {"rag": [1, 0, 1, 1] * 10}))
    assert out["verdict"].startswith("Only RAG was run: 75% on 40 questions")


def test_single_base_arm_does_not_ask_for_the_base_arm():
    out = build_verdict(_report("qa", {"base": [1, 0, 0, 0] * 10}))
    assert out["verdict"].startswith("Only the base model was run: 25% on 40 questions (10 of 40 correct)")
    assert "add the base arm" not in out["verdict"]
    assert "add RAG or a fine-tuned arm" in out["verdict"]


def test_counts_are_said_as_counts_not_points():
    report = _report("qa", {"base": [0] * 21 + [1] * 7, "rag": [1] * 12 + [0] * 16})
    text = build_verdict(report)["verdict"]
    assert "12 of 28" in text and "7 of 28" in text
    assert "points more of the" not in text


# ---------------------------------------------------------------- metrics that disagree, answer length


class _LengthArms:
    """Fake arms (unit test) whose answers come from a table; answer tokens = the answer's words."""

    adapter_meta: dict = {}
    engine = type("FakeEngine", (), {"describe": staticmethod(lambda: {"name": "fake"})})()
    adapter_mode = "raft"

    def __init__(self, table):
        self.table = table

    def title(self, arm):
        return {"rag": "RAG", "hybrid": "Hybrid (RAFT)"}.get(arm, arm)

    def answer_many(self, questions, labels=(), should_stop=None):
        from core.evaluation.arms import ArmAnswer

        return [{arm: ArmAnswer(arm, [], [], 5.0, rows[q], first_token_ms=10, total_ms=100, prompt_tokens=20,
                                answer_tokens=len(rows[q].split())) for arm, rows in self.table.items()}
                for q in questions]


def _verbose_vs_terse_report():
    """28 questions (the issue's case): RAG answers at length and mentions the gold answer among other
    candidates on 20; the RAFT hybrid answers in two words and is exactly right on 14."""
    from core.evaluation.arms import ArmSetup
    from core.evaluation.evalsets import EvalItem, EvalSet
    from core.evaluation.evaluate import evaluate

    items = [EvalItem(f"Which station model number {i}?", (f"Sky{i}",)) for i in range(28)]
    filler = "the station line includes several models such as Fjord Tarn Moss and others sold widely in the north"
    rag = {it.question: (f"It could be Sky{i} or Cloud{i} or Rain{i}; {filler}" if i < 20 else f"I am not sure; {filler}")
           for i, it in enumerate(items)}
    hybrid = {it.question: (f"Sky{i}" if i < 14 else f"Cloud{i}") for i, it in enumerate(items)}
    setup = ArmSetup(arms=("rag", "hybrid"), kb="kb", adapter="raft")
    return evaluate(EvalSet("issue-24", tuple(items)), setup, engine=_LengthArms({"rag": rag, "hybrid": hybrid}))


def test_verdict_reads_every_metric_when_contains_and_f1_point_opposite_ways(data_dir):
    report = _verbose_vs_terse_report()
    rag, hybrid = report["arms"]["rag"], report["arms"]["hybrid"]
    assert rag["contains"] > hybrid["contains"] and rag["f1"] < hybrid["f1"]  # the disagreement
    assert report["deltas"]["hybrid-rag"]["contains"][2] < 0  # contains: the hybrid is clearly worse ...
    assert report["deltas"]["hybrid-rag"]["f1"][0] > 0  # ... F1: clearly better
    # The choice: the arms' answers differ a lot in length, so the primary metric is contains-concise.
    assert report["verdict_metric"] == "contains_concise"
    text = report["verdict"]
    assert text.startswith("Hybrid (RAFT) answers 14 of 28 questions correctly, RAG 0 of 28 (+50 points, 95% CI")
    # The wording: the disagreeing metric is named with its CI, and so is the cause.
    assert "Other metrics disagree: contains −21 points (95% CI" in text
    assert "finds hybrid (RAFT) worse than RAG, where contains-concise finds the opposite (+50 points)" in text
    assert "The usual cause is answer length: hybrid (RAFT)'s answers average 1.0 tokens, RAG's 24.9" in text
    assert "differ a lot in length" in text and "Scored by contains-concise" in text
    assert rag["answer_tokens_mean"] > 20 * hybrid["answer_tokens_mean"]  # shown in the metrics table
    from core.evaluation.report import metric_rows

    assert all("Answer length (tokens)" in row for row in metric_rows(report))


def test_a_lenient_primary_names_the_strict_metrics_that_disagree():
    """Same lengths (no switch to contains-concise), contains unclear, F1 and EM clear: both are named."""
    def row(c, f):
        return {"contains": c, "f1": f, "exact_match": f, "contains_concise": c, "rougeL": f}

    n = 30
    questions = [{"gold": ["x"], "answers": {"rag": "a b c", "hybrid": "a b c"},
                  "scores": {"rag": row(1.0 if i < 15 else 0.0, 0.1), "hybrid": row(1.0 if i < 13 else 0.0,
                                                                                    1.0 if i < 13 else 0.0)}}
                 for i in range(n)]
    arms = {a: {m: sum(q["scores"][a][m] for q in questions) / n for m in ("contains", "f1", "exact_match")}
            for a in ("rag", "hybrid")}
    report = {"kind": "qa", "n": n, "arms": arms, "questions": questions, "deltas": {}}
    out = build_verdict(report)
    assert out["verdict_metric"] == "contains"
    assert "token F1" in out["verdict"] and "exact match" in out["verdict"]
    assert "where contains shows no clear difference" in out["verdict"]
    assert "would detect" in out["verdict"]  # no clear winner: the sample that would settle it


def test_a_lenient_metric_that_stays_unclear_is_named_with_the_length_cause():
    """The demo's pattern: RAG's long answers keep contains level with the RAFT hybrid's, every
    strict metric finds the hybrid far better; the verdict names contains as not confirming it."""
    n = 40
    long_answer = " ".join(["word"] * 57)

    def scores(contains, concise):
        return {"contains": contains, "contains_concise": concise, "f1": concise, "exact_match": concise,
                "rougeL": concise}

    questions = [{"gold": ["x"], "answers": {"rag": long_answer, "hybrid": "four words long here"},
                  "scores": {"rag": scores(float(i < 26), float(i < 7)), "hybrid": scores(float(3 <= i < 32),
                                                                                          float(3 <= i < 32))}}
                 for i in range(n)]
    arms = {a: {m: sum(q["scores"][a][m] for q in questions) / n for m in scores(0, 0)} | {"title": t}
            for a, t in (("rag", "RAG"), ("hybrid", "Hybrid (RAFT)"))}
    out = build_verdict({"kind": "qa", "n": n, "arms": arms, "questions": questions, "deltas": {}})
    assert out["verdict_metric"] == "contains_concise"
    assert out["verdict"].startswith("Hybrid (RAFT) answers 29 of 40 questions correctly, RAG 7 of 40")
    assert "Not every metric agrees: contains +8 points (95% CI" in out["verdict"]
    assert "shows no clear difference between hybrid (RAFT) and RAG, where contains-concise finds" in out["verdict"]
    assert "The usual cause is answer length: hybrid (RAFT)'s answers average 4.0 tokens, RAG's 57.0" in out["verdict"]
