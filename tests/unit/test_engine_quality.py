"""Verdicts do not depend on the engine: the demo quality evaluation on ct2 (int8) and hf (fp32)
finds no clear difference between them for any arm (the paired-bootstrap 95% interval of each
arm's per-question `contains` difference spans 0), and the default engine keeps the published
pattern (tests/unit/test_quality_demo.py runs it on the default engine)."""

from dataclasses import replace

import pytest

from core.evaluation import metrics
from core.evaluation.arms import Arms, ArmSetup
from core.evaluation.evalset_files import load_eval_file
from core.evaluation.evaluate import evaluate
from core.runtime.generation import Decoding
from core.training.finetune import TrainOptions
from tests.conftest import ROOT, data_dir_env, module_data_dir
from tests.unit.test_quality_demo import train

pytestmark = pytest.mark.slow
DEMO = ROOT / "demo"


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory, converted_models):
    from core.knowledge import demo as KD

    with data_dir_env(module_data_dir(tmp_path_factory, converted_models, "engine-quality")) as data_dir:
        assert KD.load_demo_workspace().ok
        yield data_dir


def test_both_engines_reach_the_same_verdicts(demo_workspace):
    from core.runtime.settings import get_settings

    train(DEMO / "qa_train.jsonl", "demo-qa", TrainOptions(
        rank=16, alpha=32, dropout=0.0, learning_rate=2e-3, epochs=3, batch_size=8, max_length=96,
        eval_fraction=0.0, evals=1))
    eval_set = load_eval_file(DEMO / "qa_test.jsonl")
    setup = ArmSetup(arms=("base", "rag", "ft"), kb="demo", adapter="demo-qa", decoding=Decoding(max_new_tokens=32))
    reports = {}
    for name in ("hf", "ct2"):
        settings = replace(get_settings(), engine=name)
        arms = Arms(setup, settings)
        reports[name] = evaluate(eval_set, setup, settings=settings, batch_size=8, engine=arms)
        assert reports[name]["engine"]["engine"] == name
    for arm in setup.arms:
        scores = {name: [q["scores"][arm]["contains"] for q in report["questions"]] for name, report in reports.items()}
        low, mean, high = metrics.paired_bootstrap_ci(scores["ct2"], scores["hf"])
        print(f"{arm} contains: hf {sum(scores['hf']) / 40:.3f}, ct2 {sum(scores['ct2']) / 40:.3f}, "
              f"ct2-hf {mean:+.3f} [{low:+.3f}, {high:+.3f}]")
        assert low <= 0 <= high, arm
