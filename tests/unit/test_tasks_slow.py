"""Classification and extraction end to end with the real model (slow): `finetune --task` trains a
few real steps once per module, then `evaluate --arms all --train-data` runs every arm, `ask`
answers a pasted text, a learning curve runs; bad files fail with a clear message."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, module_data_dir

pytestmark = pytest.mark.slow
DEMO = ROOT / "demo"


def _run(data_dir, *args):
    return subprocess.run([sys.executable, "-m", "core", *args, "--data-dir", str(data_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


def _cli(data_dir, *args):
    out = _run(data_dir, *args)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, converted_models):
    """Small training files from the demo data and one adapter per task (2 real steps each)."""
    data_dir = module_data_dir(tmp_path_factory, converted_models, "tasks")
    folder = data_dir.parent
    with (DEMO / "reviews_train.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    picked = [r for label in ("negative", "neutral", "positive") for r in [x for x in rows if x["label"] == label][:5]]
    reviews = folder / "reviews.csv"
    with reviews.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["text", "label"])
        writer.writeheader()
        writer.writerows(picked)
    tickets = folder / "tickets.jsonl"
    lines = (DEMO / "tickets_entities_train.jsonl").read_text(encoding="utf-8").splitlines()
    tickets.write_text("\n".join(lines[:24]) + "\n", encoding="utf-8")
    for name, path, task in (("rev", reviews, "classification"), ("tix", tickets, "extraction")):
        summary = _cli(data_dir, "finetune", "--task", task, "--data", str(path), "--name", name, "--max-steps", "2",
                       "--batch-size", "2", "--max-length", "160", "--quiet")
        assert summary["steps"] == 2 and summary["adapter"] == name
    return {"dir": data_dir, "reviews": reviews, "tickets": tickets}


def _check_report(report, task, metric):
    assert report["kind"] == report["task"] == task and report["n"] == 4
    assert list(report["arms"]) == ["base", "examples", "ft", "hybrid"]
    assert set(report["deltas"]) == {"examples-base", "ft-base", "hybrid-base", "ft-examples", "hybrid-examples"}
    for arm in report["arms"].values():
        assert 0 <= arm[metric] <= 1 and len(arm["ci"][metric]) == 3
    assert report["verdict_metric"] == metric and report["verdict"]
    for q in report["questions"]:  # the test text is never one of its own demonstrations
        assert set(q["demos"]) == {"examples", "hybrid"} and q["demos"]["examples"] == q["demos"]["hybrid"]
        assert len(q["demos"]["examples"]) == 2
        assert set(q["answers"]) == {"base", "examples", "ft", "hybrid"}


def test_classification_every_arm_with_paired_cis(workspace):
    meta = json.loads((workspace["dir"] / "adapters" / "rev" / "meta.json").read_text())
    assert meta["mode"]["task"] == "classification" and meta["data"]["labels"] == ["negative", "neutral", "positive"]
    report = _cli(workspace["dir"], "evaluate", "--data", str(DEMO / "reviews_test.csv"), "--train-data",
                  str(workspace["reviews"]), "--adapter", "rev", "--arms", "all", "--k", "2", "--limit", "4",
                  "--engine", "hf")
    _check_report(report, "classification", "accuracy")
    base = report["arms"]["base"]
    assert set(base["per_label"]) == {"negative", "neutral", "positive"}
    assert base["confusion"]["columns"][-1] == "(unmapped)" and sum(map(sum, base["confusion"]["matrix"])) == 4
    assert "mapped" in report["setup"]["mapping"]
    assert "macro_f1" in report["deltas"]["ft-base"]


def test_extraction_every_arm_with_entity_f1(workspace):
    report = _cli(workspace["dir"], "evaluate", "--data", str(DEMO / "tickets_entities_test.jsonl"), "--train-data",
                  str(workspace["tickets"]), "--adapter", "tix", "--arms", "all", "--k", "2", "--limit", "4",
                  "--engine", "hf")
    _check_report(report, "extraction", "entity_f1")
    arm = report["arms"]["examples"]
    assert {"lenient_f1", "invalid_json_rate", "per_type"} <= set(arm)
    assert report["eval_set"]["entity_types"] == ["DATE", "ORDER_ID", "PRODUCT"]


def test_ask_a_pasted_text_with_every_arm(workspace):
    out = _cli(workspace["dir"], "ask", "--task", "extraction", "--train-data", str(workspace["tickets"]),
               "--adapter", "tix", "--arms", "all", "--k", "2", "--engine", "hf",
               "My Larkspur LD-900 from order BIW-555123 died on 3 March.")
    assert out["task"] == "extraction" and list(out["arms"]) == ["base", "examples", "ft", "hybrid"]
    assert len(out["arms"]["examples"]["demos"]) == 2 and out["arms"]["base"]["demos"] == []


def test_learning_curve_of_the_arms_without_training(workspace):
    curve = _cli(workspace["dir"], "evaluate", "--data", str(DEMO / "reviews_test.csv"), "--train-data",
                 str(workspace["reviews"]), "--learning-curve", "--arms", "base,examples", "--k", "1",
                 "--limit", "3", "--engine", "hf")
    assert curve["fractions"] == [0.25, 0.5, 1.0] and curve["metric"] == "accuracy"
    assert [p["n_train"] for p in curve["points"]] == [3, 6, 15]  # 25% / 50% of 5 rows per label
    assert all(set(p["arms"]) == {"base", "examples"} for p in curve["points"])


def test_bad_task_files_fail_with_a_clear_message(workspace, tmp_path):
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"row {i},spam\n" for i in range(12)))
    out = _run(workspace["dir"], "finetune", "--task", "classification", "--data", str(one_class), "--name", "x")
    assert out.returncode != 0 and "Only one label ('spam')" in out.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "Order 12 is late", "entities": "ORDER_ID: 12"}) + "\n")
    out = _run(workspace["dir"], "evaluate", "--data", str(bad), "--train-data", str(workspace["tickets"]))
    assert out.returncode != 0 and "Malformed entities column" in out.stderr


def test_task_evaluation_runs_as_a_background_job(workspace):
    from core.evaluation.evaluate import load_report
    from core.evaluation.tasks.job import start_task_evaluation
    from core.runtime import jobs
    from tests.conftest import data_dir_env

    with data_dir_env(workspace["dir"]):
        job = start_task_evaluation(DEMO / "reviews_test.csv", train_path=workspace["reviews"],
                                    arms=("base", "examples"), k=1, limit=2)
        job = jobs.wait(job.id, timeout=600)
        assert job.state == "completed", job.status
        report = load_report(job.status["result"]["report"])
    assert report["task"] == "classification" and report["n"] == 2 and list(report["arms"]) == ["base", "examples"]
