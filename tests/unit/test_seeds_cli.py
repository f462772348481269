"""`finetune --seeds 2` then `evaluate --adapter GROUP`: real training (2 steps per seed) and real
answers, per-seed results and hierarchical CIs in the report (slow)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, module_data_dir

pytestmark = pytest.mark.slow


def _cli(data_dir, *args):
    out = subprocess.run([sys.executable, "-m", "core", *args, "--data-dir", str(data_dir)], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_finetune_seeds_then_evaluate_every_seed(tmp_path_factory, converted_models):
    data_dir = module_data_dir(tmp_path_factory, converted_models, "seeds")
    facts = data_dir.parent / "facts.jsonl"
    facts.write_text("".join(json.dumps({"question": f"What is the code of locker {i}?", "answer": f"K{i}7"}) + "\n"
                             for i in range(12)))
    group = _cli(data_dir, "finetune", "--data", str(facts), "--name", "g", "--seeds", "2", "--max-steps", "2",
                 "--max-length", "64", "--eval-split", "0.25", "--quiet")
    assert group["members"] == ["g-s1", "g-s2"] and group["seeds"] == [42, 43]
    metas = [json.loads((data_dir / "adapters" / m / "meta.json").read_text()) for m in group["members"]]
    assert [m["options"]["seed"] for m in metas] == [42, 43]  # the seed moves data order and LoRA init ...
    assert metas[0]["split"] == metas[1]["split"]  # ... never the held-out rows
    test = data_dir.parent / "test.jsonl"
    test.write_text("".join(json.dumps({"question": f"What is the code of locker {i}?", "answer": f"K{i}7"}) + "\n"
                            for i in range(3)))
    report = _cli(data_dir, "evaluate", "--adapter", "g", "--data", str(test), "--arms", "base,ft",
                  "--max-new-tokens", "4", "--engine", "hf")
    assert set(report["arms"]["ft"]["seeds"]) == {"g-s1", "g-s2"}
    assert set(report["arms"]["ft"]["seed_sd"]) >= {"contains", "f1"}
    assert report["deltas"]["ft-base"] and report["seeds"]["deltas_questions_only"]["ft-base"]
    assert report["setup"]["seed_group"] == ["g-s1", "g-s2"] and report["n"] == 3
    assert "The fine-tuned arms are the mean of 2 training seeds" in report["verdict"]
