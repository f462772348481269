"""The wizard's few-shot vs fine-tune reading: the published priors as hypotheses, confirmed or overturned
by a task report's ft - retrieved-examples interval."""

from __future__ import annotations

from core.decision.engine import recommend
from core.decision.task_evidence import prior_for, task_evidence


def _report(interval, task="classification", pair="ft-examples", metric="macro_f1", train_rows=40):
    return {"task": task, "kind": task, "n": 30, "setup": {"train_data": {"rows": train_rows}}, "verdict_metric": metric,
            "arms": {"base": {}, "examples": {}, "ft": {}},
            "deltas": {pair: {metric: interval}, "examples-base": {metric: [0.1, 0.2, 0.3]}}}


def test_priors_band_the_example_count():
    assert prior_for(5)["expects"] == "examples"
    assert prior_for(30)["band"] == "10_49"
    assert prior_for(70)["expects"] is None
    assert prior_for(100)["expects"] == "ft"
    assert prior_for(None) is None


def test_qa_task_has_no_task_evidence():
    assert task_evidence({"task": "qa"}, None) is None
    assert task_evidence({}, {"arms": {"base": {}}, "deltas": {}}) is None


def test_unmeasured_states_the_hypothesis_only():
    ev = task_evidence({"task": "classification", "labeled_examples": 30}, None)
    assert ev["outcome"] == "not measured"
    assert "10-49 labeled examples" in ev["text"] and "Not measured" in ev["text"]


def test_fine_tune_clearly_better_overturns_the_few_shot_prior():
    ev = task_evidence({"task": "classification", "labeled_examples": 30}, _report([0.05, 0.15, 0.25]))
    assert ev["outcome"] == "overturned"
    assert ev["measured"]["winner"] == "ft"
    assert "overturned" in ev["text"] and "+15 points of macro-F1" in ev["text"]


def test_examples_minus_ft_is_read_with_the_sign_flipped():
    ev = task_evidence({"labeled_examples": 200}, _report([0.02, 0.1, 0.2], pair="examples-ft", task="extraction",
                                                        metric="entity_f1"))
    # the task and the example count come from the report / the answers; examples beat ft: the >=100 prior falls
    assert ev["task"] == "extraction"
    assert ev["measured"]["winner"] == "examples" and ev["outcome"] == "overturned"


def test_unclear_difference_does_not_settle_and_n_comes_from_the_report():
    ev = task_evidence({}, _report([-0.1, 0.02, 0.12], train_rows=150))
    assert ev["n"] == 150 and "training rows" in ev["n_from"]
    assert ev["outcome"] == "not settled"


def test_confirmed_and_carried_in_the_recommendation_record():
    rec = recommend({"task": "classification", "labeled_examples": 300}, _report([0.05, 0.1, 0.2]))
    assert rec["task_evidence"]["outcome"] == "confirmed"
