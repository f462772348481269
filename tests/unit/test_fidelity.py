"""Fidelity as a measured property: the comparison (identical share, paired metric differences,
the "faithful" rule), the reader that reports, Compare and `core info` use, and (slow) the
default CPU engine against the fp32 reference on a small sample of real passages."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.evaluation.fidelity import compare, passage_messages
from core.runtime.engines.fidelity import engine_fidelity, engine_speed, is_faithful
from core.runtime.settings import BUNDLED_GENERATOR

ROOT = Path(__file__).resolve().parents[2]


def test_faithful_needs_enough_prompts_identical_answers_and_narrow_cis():
    assert is_faithful(0.9, (-1.0, 2.0), (-2.5, 2.9), 200)
    assert not is_faithful(0.79, (-1.0, 2.0), (-1.0, 1.0), 200)  # too few identical answers
    assert not is_faithful(0.95, (-3.5, 0.0), (-1.0, 1.0), 200)  # contains CI reaches past -3 points
    assert not is_faithful(0.95, (-1.0, 1.0), (-1.0, 3.1), 200)  # F1 CI past +3 points
    assert not is_faithful(1.0, (0.0, 0.0), (0.0, 0.0), 199)  # too small a sample to say


def test_compare_counts_identical_answers_and_pairs_the_metric_differences():
    reference = ["It was grafted in 1871.", "The answer is Oslo."] * 100
    same = compare(reference, list(reference), [["1871"], ["Oslo"]] * 100)
    assert same["identical"] == 1.0 and same["contains_diff"] == {"low": 0.0, "mean": 0.0, "high": 0.0}
    assert same["faithful"]
    worse = compare(reference, ["It was 1922.", "The answer is Oslo."] * 100, [["1871"], ["Oslo"]] * 100)
    assert worse["identical"] == 0.5 and worse["contains"] == {"reference": 1.0, "engine": 0.5}
    assert worse["contains_diff"]["mean"] == -50.0 and not worse["faithful"]


def test_the_reader_says_not_measured_unless_the_results_hold_this_engine_and_model(tmp_path):
    path = tmp_path / "fidelity.json"
    assert engine_fidelity("ct2", "bundled:x", path) == {"measured": False, "faithful": None,
                                                         "label": "fidelity not measured"}
    entry = {"prompts": 261, "identical": 0.95, "faithful": True,
             "contains_diff": {"low": -1.0, "mean": 0.0, "high": 1.0}, "f1_diff": {"low": -0.5, "mean": 0.1, "high": 0.8}}
    path.write_text(json.dumps({"generator": "bundled:x", "engines": {"ct2": entry, "ct2-int8": {**entry, "faithful": False}}}))
    ct2 = engine_fidelity("ct2", "bundled:x", path)
    assert ct2["measured"] and ct2["faithful"] and ct2["label"].startswith("faithful to hf fp32: 95%")
    assert engine_fidelity("ct2-int8", "bundled:x", path)["label"].startswith("fast, approximate; not faithful")
    assert not engine_fidelity("ct2", "/some/other/model", path)["measured"]  # measured on another model
    assert engine_fidelity("hf", "bundled:x", path)["reference"]
    assert engine_speed("ct2", BUNDLED_GENERATOR, tmp_path / "none.json")["label"] == "speed not measured"
    speed = tmp_path / "engine.json"
    speed.write_text(json.dumps({"generator": "bundled:x", "vs_hf": {"ct2": {
        "single_stream": 1.3, "four_arm_answer": 1.8, "evaluation": 1.7}}}))
    assert engine_speed("ct2", "bundled:x", speed)["label"].startswith("1.3x hf fp32 on one stream")
    assert engine_speed("ct2", "/some/other/model", speed)["label"] == "speed not measured for this model"


def test_the_shipped_results_cover_the_default_engine():
    """bench/results/fidelity.json (python -m bench.fidelity) is what reports quote."""
    for name in ("ct2", "ct2-int8"):
        assert engine_fidelity(name, BUNDLED_GENERATOR)["measured"], name


def test_a_report_names_its_engine_with_the_measured_fidelity():
    from core.evaluation.report import engine_line, to_markdown
    from core.runtime.text import md_escape

    record = {"engine": "ct2-int8", "quantization": "int8",
              "fidelity": {"label": "fast, approximate; not faithful to hf fp32: 6% of greedy answers identical"},
              "speed": {"label": "3.1x hf fp32 on one stream"}}
    line = engine_line(record)
    assert line.startswith("Engine: ct2-int8 int8 · fast, approximate") and "3.1x hf fp32" in line
    report = {"id": "r", "n": 0, "arms": {}, "deltas": {}, "questions": [], "engine": record, "kind": "qa"}
    assert f"- {md_escape(line)}" in to_markdown(report).splitlines()  # escaped like every line of the export


def _sample_prompts(n: int) -> list[dict]:
    """Fill-in-the-blank questions from the demo documents' text (the project's own cloze
    generator), each with its paragraph as the context of the RAG prompt."""
    from core.knowledge.cloze import cloze_items

    chunks = []
    for path in sorted((ROOT / "demo" / "sources").glob("*.txt")):
        for i, paragraph in enumerate(p for p in path.read_text().split("\n\n") if len(p) > 120):
            chunks.append({"text": paragraph, "source": path.name, "chunk_id": f"{path.stem}-{i}"})
    by_id = {c["chunk_id"]: c["text"] for c in chunks}
    return [{"messages": passage_messages(item.question, [by_id[item.chunk_id]]), "golds": [item.answer]}
            for item in cloze_items(chunks, n=n, seed=0)]


@pytest.mark.slow
def test_the_default_engine_answers_like_the_reference_on_real_passages(model_data_dir):
    from core.runtime.engines import engine_name, get_engine
    from core.runtime.generation import ChatRow, Decoding
    from core.runtime.settings import get_settings

    settings = get_settings()
    default = engine_name(settings)
    assert default == "ct2"  # the CPU default: CTranslate2 float32
    prompts = _sample_prompts(12)
    assert len(prompts) == 12
    rows = [ChatRow(p["messages"]) for p in prompts]
    decoding = Decoding(max_new_tokens=48)
    texts = {}
    for name in ("hf", default):  # each engine batches as it does in an evaluation
        texts[name], _ = get_engine(replace(settings, engine=name)).generate(rows, decoding)
    figures = compare(texts["hf"], texts[default], [p["golds"] for p in prompts], n_resamples=500)
    for metric in ("contains_diff", "f1_diff"):
        assert figures[metric]["low"] <= figures[metric]["mean"] <= figures[metric]["high"]
    assert figures["identical"] >= 0.8, (figures, texts)
