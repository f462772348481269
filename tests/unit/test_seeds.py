"""Seed groups: hierarchical-bootstrap CIs (seeds, then questions), the merged report and its verdict."""

import numpy as np
import pytest

from core.evaluation import metrics
from core.evaluation.seeds import hierarchical_ci


def _width(ci):
    return ci[2] - ci[0]


@pytest.mark.parametrize("data_seed", range(5))
def test_resampling_seeds_gives_a_ci_at_least_as_wide_as_questions_only(data_seed):
    """Synthetic per-seed 0/1 scores: three seeds of one adapter land 20 points apart (seed noise)."""
    rng = np.random.default_rng(data_seed)
    n = 60
    ft = np.array([rng.random(n) < p for p in (0.35, 0.55, 0.45)], dtype=float)  # (seeds, questions)
    base = (rng.random(n) < 0.3).astype(float)
    hierarchical = hierarchical_ci(ft, base[None, :])
    questions_only = metrics.paired_bootstrap_ci(ft.mean(0).tolist(), base.tolist())
    assert hierarchical[1] == pytest.approx(questions_only[1])  # same point estimate
    assert _width(hierarchical) >= _width(questions_only)


def test_identical_seeds_add_no_width_and_joint_arms_share_their_seeds():
    rng = np.random.default_rng(3)
    row = (rng.random(80) < 0.5).astype(float)
    same = np.stack([row, row, row])
    other = (rng.random(80) < 0.5).astype(float)[None, :]
    h, q = hierarchical_ci(same, other), metrics.paired_bootstrap_ci(row.tolist(), other[0].tolist())
    assert abs(_width(h) - _width(q)) < 0.05  # only the bootstrap's own noise
    assert hierarchical_ci(same, same) == (0.0, 0.0, 0.0)  # ft vs hybrid of the same members: drawn together
    with pytest.raises(ValueError):
        hierarchical_ci(same, other[:, :10])


class _SeedArms:
    """Fake arms (unit test): the ft arm answers right on a share of questions that depends on the adapter."""

    engine = type("FakeEngine", (), {"describe": staticmethod(lambda: {"name": "fake"})})()
    adapter_mode = None
    adapter_meta = {"duration_s": 3.0, "trainable_params": 10}
    right = {"g-s1": 12, "g-s2": 20, "g-s3": 16}

    def __init__(self, adapter):
        self.adapter = adapter

    def title(self, arm):
        return {"base": "Base", "ft": "Fine-tuned"}[arm]

    def answer_many(self, questions, labels=(), should_stop=None):
        from core.evaluation.arms import ArmAnswer

        out = []
        for q in questions:
            i = int(q.split()[-1])
            answers = {"base": "gold" if i < 8 else "no"}
            if self.adapter:
                answers["ft"] = "gold" if i < self.right[self.adapter] else "no"
            out.append({arm: ArmAnswer(arm, [], [], None, text, first_token_ms=1, total_ms=10, prompt_tokens=5,
                                       answer_tokens=1) for arm, text in answers.items()})
        return out


def _group_report(data_dir, **kw):
    from core.evaluation.arms import ArmSetup
    from core.evaluation.evalsets import EvalItem, EvalSet
    from core.evaluation.evaluate import evaluate
    from core.evaluation.seeds import evaluate_group
    from core.training.seeds import read_group, write_group

    write_group("g", [{"adapter": f"g-s{i}", "seed": 41 + i} for i in (1, 2, 3)], 42)
    items = tuple(EvalItem(f"question {i}", ("gold",)) for i in range(40))

    def run(eval_set, setup, **kw):  # evaluate, with each member's fake engine
        return evaluate(eval_set, setup, engine=_SeedArms(setup.adapter), **kw)

    return evaluate_group(EvalSet("unit", items), ArmSetup(arms=("base", "ft"), adapter="g"), read_group("g"), run=run,
                          **kw)


def test_a_seed_group_is_evaluated_per_seed_and_reported_as_mean_and_spread(data_dir):
    report = _group_report(data_dir)
    ft = report["arms"]["ft"]
    assert ft["seeds"] == {"g-s1": pytest.approx({**ft["seeds"]["g-s1"], "contains": 0.30}),
                           "g-s2": pytest.approx({**ft["seeds"]["g-s2"], "contains": 0.50}),
                           "g-s3": pytest.approx({**ft["seeds"]["g-s3"], "contains": 0.40})}
    assert ft["contains"] == pytest.approx(0.40) and ft["seed_sd"]["contains"] == pytest.approx(0.10)
    assert report["setup"]["adapter"] == "g" and report["setup"]["seed_group"] == ["g-s1", "g-s2", "g-s3"]
    h = report["deltas"]["ft-base"]["contains"]
    q = report["seeds"]["deltas_questions_only"]["ft-base"]["contains"]
    assert h[1] == pytest.approx(0.20) and _width(h) >= _width(q)
    assert report["questions"][15]["scores"]["ft"]["contains"] == pytest.approx(2 / 3)  # right for s2, s3
    assert "The fine-tuned arms are the mean of 3 training seeds (the fine-tuned arm: 40% ± 10 points" in report["verdict"]
    from core.evaluation.report import to_markdown

    markdown = to_markdown(report)
    assert "## Training seeds" in markdown and "mean ± sd across 3 seeds" in markdown


def test_group_records_and_names(data_dir):
    from core.training.seeds import (
        default_seeds,
        member_names,
        read_group,
        representative,
        write_group,
    )

    assert member_names("x", 3) == ["x-s1", "x-s2", "x-s3"]
    assert read_group("x") is None and representative("x") == "x"
    write_group("x", [{"adapter": "x-s1", "seed": 42}, {"adapter": "x-s2", "seed": 43}], 42)
    assert read_group("x")["members"] == ["x-s1", "x-s2"] and representative("x") == "x-s1"
    assert default_seeds(None) == 1 and default_seeds(120) == 3 and default_seeds(600) == 1


def test_a_seed_evaluation_stopped_after_the_first_seed_is_partial_and_says_so(data_dir):
    calls = []

    def stop() -> bool:  # the second member's run is asked to stop before its first batch
        calls.append(1)
        return len(calls) > 10

    report = _group_report(data_dir, should_stop=stop, batch_size=4)
    assert report["partial"] and "seed_sd" not in report["arms"]["ft"]
    assert "stopped before every seed answered: the fine-tuned arms are g-s1 alone" in report["verdict"]
