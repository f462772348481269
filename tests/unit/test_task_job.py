"""The task evaluation job (core.evaluation.tasks.job): a bad file is a clear error before any job starts;
the learning curve's 100% point is the main report's own arms."""

from __future__ import annotations

import json

import pytest

from core.evaluation.tasks.job import _curve_point, start_task_evaluation
from core.runtime.errors import CrossroadsError
from tests.conftest import ROOT


def test_a_single_label_test_file_is_refused_before_a_job_starts(data_dir, tmp_path):
    test = tmp_path / "one.csv"
    test.write_text("text,label\n" + "\n".join(f"Parcel {i} late,shipping" for i in range(12)))
    with pytest.raises(CrossroadsError, match="Only one label"):
        start_task_evaluation(test, arms=["base"])
    assert not (data_dir / "runs").exists() or not list((data_dir / "runs").iterdir())


def test_malformed_training_entities_are_refused_before_a_job_starts(data_dir, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"text": f"Order BIW-{i} is late", "entities": "BIW"}) for i in range(12)))
    with pytest.raises(CrossroadsError, match="Malformed entities"):
        start_task_evaluation(ROOT / "demo" / "tickets_entities_test.jsonl", arms=["base", "examples"],
                              train_path=train)


def test_the_full_point_of_the_curve_is_the_report_itself():
    report = json.loads((ROOT / "tests" / "fixtures" / "task_report_classification.json").read_text())
    point = _curve_point(report, 1.0, 142, None)
    assert point["fraction"] == 1.0 and point["n_train"] == 142 and point["report"] == report["id"]
    assert point["arms"]["base"]["accuracy"] == report["arms"]["base"]["accuracy"]
    assert point["arms"]["examples"]["ci"] == report["arms"]["examples"]["ci"]
