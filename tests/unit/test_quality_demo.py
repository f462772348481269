"""The published pattern, reproduced on the demo workspace with the real model (Ovadia et al.):

- new facts: RAG beats the base model on held-out questions (contains and token F1) and a LoRA
  fine-tune on "contains the gold answer", with the paired-bootstrap 95% interval of the
  difference above zero. Token F1 of RAG against the fine-tune is printed, not asserted: the
  fine-tune learns the short answer form from qa_train.jsonl (paraphrases of the same facts), so
  its F1 can match RAG's rambling 135M answers — a measured fact, not a property (the hybrid
  trained with RAFT is the arm that gets both, see test_raft_slow);
- labels: the fine-tuned adapter beats the base model on the held-out tickets;
- verdicts do not depend on the engine: the same evaluation on hf (fp32) finds no clear
  difference from the default engine (ct2 float32 on CPU) for any arm — the paired-bootstrap 95%
  interval of each arm's per-question `contains` difference spans 0.

Everything runs through the same code as the app: the ingest pipeline, the fine-tuning worker,
core.evaluation.evaluate over core.evaluation.arms.
"""

import json
from dataclasses import replace

import pytest

from core.evaluation import metrics
from core.evaluation.arms import Arms, ArmSetup
from core.evaluation.evalset_files import load_eval_file
from core.evaluation.evaluate import evaluate
from core.evaluation.heldout import heldout_set
from core.runtime import jobs
from core.runtime.generation import Decoding
from core.training.finetune import KIND, TrainOptions, run_worker
from tests.conftest import ROOT, data_dir_env, module_data_dir

pytestmark = pytest.mark.slow
DEMO = ROOT / "demo"


def train(data_path, name: str, options: TrainOptions) -> None:
    spec = {"mode": "train", "name": name, "options": options.as_dict(), "data_file": "data" + data_path.suffix,
            "data_name": data_path.name, "schema": None}
    run_dir = jobs.create(KIND, "core.training.finetune", spec, group="train", files={spec["data_file"]: data_path})
    run_worker(run_dir)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed", status


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory, converted_models):
    from core.knowledge import demo as KD

    with data_dir_env(module_data_dir(tmp_path_factory, converted_models, "quality")) as data_dir:
        assert KD.load_demo_workspace().ok
        yield data_dir


def above_zero(report, pair: str, metric: str) -> bool:
    low, mean, high = report["deltas"][pair][metric]
    print(f"{pair} {metric}: {mean:+.3f} [{low:+.3f}, {high:+.3f}]")
    return low > 0


@pytest.fixture(scope="module")
def qa_evaluation(demo_workspace):
    """The demo-qa adapter trained once, its questions evaluated once on the default engine."""
    train(DEMO / "qa_train.jsonl", "demo-qa", TrainOptions(
        rank=16, alpha=32, dropout=0.0, learning_rate=2e-3, epochs=3, batch_size=8, max_length=96,
        eval_fraction=0.0, evals=1))
    eval_set = load_eval_file(DEMO / "qa_test.jsonl")
    # Built after the workspace is loaded: the setup reads the knowledge base's retrieval setting.
    setup = ArmSetup(arms=("base", "rag", "ft"), kb="demo", adapter="demo-qa", decoding=Decoding(max_new_tokens=32))
    return eval_set, setup, evaluate(eval_set, setup, batch_size=8)


def test_rag_beats_base_and_finetune_on_new_facts(qa_evaluation):
    _, _, report = qa_evaluation
    print({arm: {m: round(v[m], 3) for m in ("contains", "f1")} for arm, v in report["arms"].items()})
    assert report["n"] == 40
    for metric in ("contains", "f1"):
        assert above_zero(report, "rag-base", metric)
    assert above_zero(report, "rag-ft", "contains")
    above_zero(report, "rag-ft", "f1")  # printed for the record


def test_both_engines_reach_the_same_verdicts(qa_evaluation):
    from core.runtime.settings import get_settings

    eval_set, setup, default = qa_evaluation
    assert default["engine"]["engine"] == "ct2"  # the default on a CPU machine
    settings = replace(get_settings(), engine="hf")
    reports = {"ct2": default, "hf": evaluate(eval_set, setup, settings=settings, batch_size=8,
                                              engine=Arms(setup, settings))}
    assert reports["hf"]["engine"]["engine"] == "hf"
    for arm in setup.arms:
        scores = {name: [q["scores"][arm]["contains"] for q in report["questions"]] for name, report in reports.items()}
        low, mean, high = metrics.paired_bootstrap_ci(scores["ct2"], scores["hf"])
        print(f"{arm} contains: hf {sum(scores['hf']) / 40:.3f}, ct2 {sum(scores['ct2']) / 40:.3f}, "
              f"ct2-hf {mean:+.3f} [{low:+.3f}, {high:+.3f}]")
        assert low <= 0 <= high, arm


def test_finetune_beats_base_on_held_out_tickets(demo_workspace):
    # 12 steps of 8 rows (about half an epoch of the 176 training rows) is enough to learn the labels.
    train(DEMO / "tickets.csv", "demo-tickets", TrainOptions(
        rank=8, alpha=16, dropout=0.0, learning_rate=2e-3, epochs=1, max_steps=12, batch_size=8, max_length=128,
        eval_fraction=0.2, evals=1))
    eval_set = heldout_set("demo-tickets")
    assert eval_set.kind == "label" and len(eval_set) == 44
    # 16 tokens leave the base model room to name a label after a preamble ("The label is ...").
    setup = ArmSetup(arms=("base", "ft"), adapter="demo-tickets", decoding=Decoding(max_new_tokens=16))
    report = evaluate(eval_set, setup, batch_size=22)
    print({arm: round(v["accuracy"], 3) for arm, v in report["arms"].items()})
    assert above_zero(report, "ft-base", "accuracy")
