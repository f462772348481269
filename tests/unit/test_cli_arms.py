"""The stable CLI of the four arms: `ask` with every arm, and `evaluate` writing a report."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers.adapters import make_random_adapter

pytestmark = pytest.mark.slow
DEMO = ROOT / "demo" / "docs"


@pytest.fixture
def workspace(model_data_dir):
    from core.knowledge import indexing as KI

    KI.ingest("cli", [DEMO / "support_policy.md"])
    make_random_adapter(model_data_dir, "rnd")
    return model_data_dir


def cli(data_dir, *args, timeout=600):
    out = subprocess.run([sys.executable, "-m", "core", "--data-dir", str(data_dir), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_ask_every_arm(workspace):
    payload = cli(workspace, "ask", "--kb", "cli", "--adapter", "rnd", "--arms", "base,rag,ft,hybrid",
                  "--max-new-tokens", "16", "How long is the warranty on a Skerry weather station?")
    assert list(payload["arms"]) == ["base", "rag", "ft", "hybrid"]
    for arm, record in payload["arms"].items():
        for key in ("answer", "sources", "retrieval_ms", "first_token_ms", "total_ms", "tokens_per_s"):
            assert key in record, (arm, key)
    assert payload["arms"]["rag"]["sources"][0]["file"] == "support_policy.md"
    assert payload["arms"]["rag"]["sources"] == payload["arms"]["hybrid"]["sources"]  # same context
    assert payload["arms"]["base"]["sources"] == [] and payload["arms"]["ft"]["retrieval_ms"] is None


def test_evaluate_writes_a_report(workspace, tmp_path):
    data = tmp_path / "eval.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [
        {"question": "How long is the warranty on a Skerry weather station?", "answer": "36 months",
         "source": "support_policy.md"},
        {"question": "Who leads customer support at Brindlemoor?", "answer": "Henrike Solvang",
         "source": "support_policy.md"},
        {"question": "What is the capital of France?", "answer": "Paris"},
    ]))
    out = tmp_path / "report.json"
    report = cli(workspace, "evaluate", "--kb", "cli", "--adapter", "rnd", "--data", str(data),
                 "--arms", "base,rag,ft,hybrid", "--max-new-tokens", "16", "--out", str(out))
    assert json.loads(out.read_text())["id"] == report["id"]
    assert report["n"] == 3
    assert set(report["arms"]) == {"base", "rag", "ft", "hybrid"}
    for arm, values in report["arms"].items():
        for key in ("exact_match", "f1", "contains", "rougeL"):
            assert 0.0 <= values[key] <= 1.0, (arm, key)
        assert values["latency_p50_ms"] > 0
    assert "hit_at_k" in report["arms"]["rag"] and "hit_at_k" not in report["arms"]["base"]
    assert set(report["deltas"]) >= {"rag-base", "ft-base", "hybrid-base", "rag-ft"}
    assert len(report["questions"]) == 3 and set(report["questions"][0]["answers"]) == set(report["arms"])
    assert (workspace / "reports" / f"{report['id']}.json").is_file()


def test_evaluate_without_kb_runs_the_arms_that_need_none(model_data_dir, tmp_path):
    data = tmp_path / "eval.csv"
    data.write_text("question,answer\nWhat is 2+2?,4\nWhat colour is the sky on a clear day?,blue\n")
    report = cli(model_data_dir, "evaluate", "--data", str(data), "--max-new-tokens", "8")
    assert list(report["arms"]) == ["base"]
