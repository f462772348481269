"""Classification and extraction end to end with the real model (slow): `finetune --task` trains a
few real steps once per module (CLI), then every arm is evaluated (`evaluate --arms all
--train-data` for classification, in process for extraction), every arm answers a pasted text,
a learning curve and a background evaluation job run; bad files fail with a clear message."""

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


@pytest.fixture
def in_process(workspace):
    """The module's data directory for in-process calls, on the hf engine like the CLI calls."""
    import os

    from core.runtime.settings import reset_settings
    from tests.conftest import data_dir_env

    old = os.environ.get("CROSSROADS_ENGINE")
    os.environ["CROSSROADS_ENGINE"] = "hf"
    try:
        with data_dir_env(workspace["dir"]):
            yield workspace
    finally:
        if old is None:
            os.environ.pop("CROSSROADS_ENGINE", None)
        else:
            os.environ["CROSSROADS_ENGINE"] = old
        reset_settings()


def test_extraction_every_arm_with_entity_f1(in_process):
    from core.evaluation.tasks.evaluate import evaluate_task
    from core.training.tasks import load_task_data

    test = load_task_data(DEMO / "tickets_entities_test.jsonl", purpose="test", min_rows=1)
    train = load_task_data(in_process["tickets"])
    report = evaluate_task(test, arms=("base", "examples", "ft", "hybrid"), train=train, adapter="tix", k=2, limit=4)
    _check_report(report, "extraction", "entity_f1")
    arm = report["arms"]["examples"]
    assert {"lenient_f1", "invalid_json_rate", "per_type"} <= set(arm)
    assert report["eval_set"]["entity_types"] == ["DATE", "ORDER_ID", "PRODUCT"]
    texts = {r.number: r.text for r in train.rows}
    for q in report["questions"]:
        assert q["text"] not in [texts[n] for n in q["demos"]["examples"]]


def test_every_arm_on_a_pasted_text(in_process):
    from core.evaluation.tasks.arms import TaskArms
    from core.evaluation.tasks.evaluate import task_spec
    from core.training.tasks import load_task_data

    train = load_task_data(in_process["tickets"])
    arms = TaskArms(task_spec(train, train), adapter="tix", train_rows=train.rows, k=2)
    answers = arms.answer("My Larkspur LD-900 from order BIW-555123 died on 3 March.")
    assert list(answers) == ["base", "examples", "ft", "hybrid"]
    assert len(answers["examples"].demos) == 2 and answers["base"].demos == []
    assert answers["hybrid"].messages == answers["examples"].messages  # only the weights differ
    assert answers["ft"].messages == answers["base"].messages


def test_learning_curve_of_the_arms_without_training(in_process):
    from core.evaluation.tasks.evaluate import learning_curve
    from core.training.tasks import load_task_data

    test = load_task_data(DEMO / "reviews_test.csv", purpose="test", min_rows=1)
    curve = learning_curve(test, load_task_data(in_process["reviews"]), arms=("base", "examples"), k=1, limit=3)
    assert curve["fractions"] == [0.25, 0.5, 1.0] and curve["metric"] == "accuracy"
    assert [p["n_train"] for p in curve["points"]] == [3, 6, 15]  # 25% / 50% of 5 rows per label
    assert all(set(p["arms"]) == {"base", "examples"} for p in curve["points"])


def test_task_evaluation_runs_as_a_background_job(in_process):
    from core.evaluation.evaluate import load_report
    from core.evaluation.tasks.job import start_task_evaluation
    from core.runtime import jobs

    job = start_task_evaluation(DEMO / "reviews_test.csv", train_path=in_process["reviews"],
                                arms=("base", "examples"), k=1, limit=2)
    job = jobs.wait(job.id, timeout=600)
    assert job.state == "completed", job.status
    report = load_report(job.status["result"]["report"])
    assert report["task"] == "classification" and report["n"] == 2 and list(report["arms"]) == ["base", "examples"]
    # the report says what produced its latencies: the machine (its own job not counted as another) and the model
    assert report["machine"]["cores"] and report["machine"]["batch_size"] == 2
    assert job.id not in [j["id"] for j in report["machine"]["other_jobs_before"]]
    assert report["meta"]["model"]


def test_bad_task_files_fail_with_a_clear_message(workspace, tmp_path):
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"row {i},spam\n" for i in range(12)))
    out = _run(workspace["dir"], "finetune", "--task", "classification", "--data", str(one_class), "--name", "x")
    assert out.returncode != 0 and "Only one label ('spam')" in out.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "Order 12 is late", "entities": "ORDER_ID: 12"}) + "\n")
    out = _run(workspace["dir"], "evaluate", "--data", str(bad), "--train-data", str(workspace["tickets"]))
    assert out.returncode != 0 and "Malformed entities column" in out.stderr

