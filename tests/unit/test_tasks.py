"""Classification / extraction tasks without the generator: detection, validation, CoNLL, prompts,
metrics (hand-computed), label mapping, paired CIs, the retrieved-examples index (real embedder)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.evaluation.tasks import metrics as tm
from core.evaluation.tasks.arms import TASK_ARMS, TaskArmsError, adapter_task, parse_task_arms
from core.evaluation.tasks.verdict import task_verdict
from core.training.chat_format import chat_messages, classification_row
from core.training.task_prompts import TaskSpec, task_messages, write_training_file
from core.training.task_splits import fraction_rows, split_rows
from core.training.tasks import (
    Entity,
    TaskDataError,
    TaskRow,
    bio_entities,
    detect_task,
    load_task_data,
    preview_row,
)


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _labels_csv(n_per_label=5, labels=("good", "bad")) -> bytes:
    lines = ["text,label"] + [f"review number {i} is {lab},{lab}" for lab in labels for i in range(n_per_label)]
    return ("\n".join(lines) + "\n").encode()


# ------------------------------------------------------------------------------ detection / validation

def test_detects_each_task_from_its_columns():
    assert detect_task(["text", "label"]) == "classification"
    assert detect_task(["Sentence", "Category"]) == "classification"
    assert detect_task(["text", "entities"]) == "extraction"
    assert detect_task(["question", "answer"]) == "qa"
    assert detect_task(["foo", "bar"]) is None


def test_classification_file_reads_rows_and_labels():
    data = load_task_data(_labels_csv(), name="r.csv")
    assert data.ok and data.task == "classification"
    assert data.labels == ("bad", "good") and len(data.rows) == 10
    assert data.rows[0].target == data.rows[0].label


def test_a_label_column_with_one_class_is_a_clear_error():
    data = load_task_data(_labels_csv(labels=("good",), n_per_label=12), name="r.csv")
    assert not data.ok
    assert "Only one label ('good')" in data.report.reason()
    with pytest.raises(TaskDataError, match="classification needs at least two"):
        data.require_valid()


def test_a_held_out_file_may_hold_few_rows_of_a_label():
    raw = b"text,label\nnice,good\nawful,bad\nfine,good\n"
    assert not load_task_data(raw, name="t.csv").ok  # a training file needs 3 per label and 10 rows
    assert load_task_data(raw, name="t.csv", purpose="test", min_rows=1).ok


def _entity_rows(n=10):
    return [{"text": f"Order BIW-{1000 + i} for the Skerry SK-{i} arrived on {i} May.",
             "entities": [{"text": f"BIW-{1000 + i}", "type": "ORDER_ID"}, {"text": f"Skerry SK-{i}", "type": "PRODUCT"},
                          {"text": f"{i} May", "type": "DATE"}]} for i in range(n)]


def test_extraction_jsonl_reads_entities_and_types():
    data = load_task_data(_jsonl(_entity_rows()), name="e.jsonl")
    assert data.ok and data.task == "extraction"
    assert data.entity_types == ("DATE", "ORDER_ID", "PRODUCT")
    assert data.rows[0].entities[0] == Entity("BIW-1000", "ORDER_ID")
    assert json.loads(data.rows[0].target)[1] == {"text": "Skerry SK-0", "type": "PRODUCT"}


def test_extraction_csv_takes_entities_as_a_json_string():
    rows = _entity_rows()
    lines = ["text,entities"] + ['"{}","{}"'.format(r["text"], json.dumps(r["entities"]).replace('"', '""')) for r in rows]
    data = load_task_data(("\n".join(lines) + "\n").encode(), name="e.csv")
    assert data.ok, data.report.reason()
    assert len(data.rows) == 10 and data.rows[3].entities[2] == Entity("3 May", "DATE")


def test_malformed_entities_column_is_a_clear_error_naming_the_rows():
    rows = _entity_rows()
    rows[2]["entities"] = "not json at all"
    rows[4]["entities"] = [{"text": "x"}]  # no type
    rows[6]["entities"] = {"text": "BIW-1006", "type": "ORDER_ID"}  # not a list
    data = load_task_data(_jsonl(rows), name="e.jsonl")
    assert not data.ok
    messages = " | ".join(i.text() for i in data.report.errors)
    assert "Malformed entities column" in messages
    assert "rows 3" in messages and "rows 5" in messages and "rows 7" in messages


def test_entity_text_not_in_the_text_is_a_clear_error():
    rows = _entity_rows()
    rows[1]["entities"] = [{"text": "Larkspur LD-900", "type": "PRODUCT"}]
    data = load_task_data(_jsonl(rows), name="e.jsonl")
    assert not data.ok
    assert "not in the row's text" in data.report.reason() and "rows 2" in data.report.reason()


def test_extraction_task_asked_of_a_label_file_says_what_columns_are_needed():
    data = load_task_data(_labels_csv(), name="r.csv", task="extraction")
    assert not data.ok and "entities column" in data.report.reason()


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
of IN B-PP O
New NNP B-NP I-LOC
York NNP I-NP I-LOC
"""


def test_conll_file_becomes_sentences_with_entities():
    data = load_task_data(CONLL.encode(), name="train.txt", min_rows=1)
    assert data.ok and data.task == "extraction"
    assert [r.text for r in data.rows] == ["EU rejects German call", "Peter Blackburn of New York"]
    assert data.rows[0].entities == (Entity("EU", "ORG"), Entity("German", "MISC"))
    # IOB1: an I- tag after O (or another type) starts an entity
    assert data.rows[1].entities == (Entity("Peter Blackburn", "PER"), Entity("New York", "LOC"))
    assert data.entity_types == ("LOC", "MISC", "ORG", "PER")


def test_bio_tags_split_adjacent_entities_of_one_type():
    assert bio_entities(["A", "B", "C"], ["B-X", "B-X", "I-X"]) == (Entity("A", "X"), Entity("B C", "X"))


def test_conll_file_refuses_another_task():
    with pytest.raises(TaskDataError, match="CoNLL"):
        load_task_data(CONLL.encode(), name="train.txt", task="classification")


def test_no_supported_columns_is_an_error():
    data = load_task_data(b"foo,bar\n1,2\n", name="x.csv")
    assert not data.ok and "No supported columns" in data.report.reason()


# ------------------------------------------------------------------------------ prompts / preview

def test_classification_prompt_is_the_existing_training_format():
    spec = TaskSpec("classification", ("bad", "good"))
    assert task_messages("Lovely.", spec) == chat_messages(classification_row("Lovely."), spec.labels)


def test_demonstrations_are_earlier_turns_in_the_same_format():
    spec = TaskSpec("classification", ("bad", "good"))
    demos = [TaskRow(5, "Awful.", label="bad"), TaskRow(9, "Great!", label="good")]
    messages = task_messages("Lovely.", spec, demos)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == "bad" and messages[3]["content"] == "good"
    assert messages[0]["content"] == task_messages("Awful.", spec)[0]["content"]


def test_preview_gives_the_exact_prompt_and_target():
    data = load_task_data(_jsonl(_entity_rows()), name="e.jsonl")
    preview = preview_row(data.rows[0], data.spec)
    assert "DATE, ORDER_ID, PRODUCT" in preview["prompt"] and preview["prompt"].endswith(data.rows[0].text)
    assert json.loads(preview["target"]) == [e.as_dict() for e in data.rows[0].entities]


def test_training_file_round_trips_through_the_existing_reader(tmp_path):
    from core.training.datasets import load_labeled

    data = load_task_data(_jsonl(_entity_rows()), name="e.jsonl")
    path = write_training_file(data, tmp_path / "train")
    rows = load_labeled(path).rows
    assert rows[0].prompt == task_messages(data.rows[0].text, data.spec)[0]["content"]
    assert rows[0].target == data.rows[0].target
    labels = load_task_data(_labels_csv(), name="r.csv")
    assert load_labeled(write_training_file(labels, tmp_path / "labels")).labels == labels.labels


def test_splits_and_fractions_are_seeded_stratified_and_nested():
    data = load_task_data(_labels_csv(n_per_label=20), name="r.csv")
    parts = split_rows(data.rows, 10)
    assert len(parts.held) == 10 and {r.label for r in parts.held} == {"good", "bad"}
    assert not {r.number for r in parts.held} & {r.number for r in parts.train}
    quarter, half = fraction_rows(data.rows, 0.25), fraction_rows(data.rows, 0.5)
    assert len(quarter) == 10 and len(half) == 20
    assert {r.number for r in quarter} <= {r.number for r in half}


# ------------------------------------------------------------------------------ metrics

def test_classification_metrics_by_hand():
    labels = ["pos", "neg", "neu"]
    golds = ["pos", "pos", "neg", "neu", "neu", "neg"]
    preds = ["pos", "neg", "neg", None, "neu", "pos"]
    m = tm.classification_metrics(preds, golds, labels)
    assert m["accuracy"] == pytest.approx(3 / 6)
    # pos: tp 1 fp 1 fn 1 -> 0.5; neg: tp 1 fp 1 fn 1 -> 0.5; neu: tp 1 fp 0 fn 1 -> 2/3
    assert m["per_label"]["neu"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["macro_f1"] == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert m["unmapped"] == 1
    assert m["confusion"]["columns"] == ["pos", "neg", "neu", "(unmapped)"]
    assert m["confusion"]["matrix"] == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]]
    sums = tm.label_counts(preds, golds, labels).sum(axis=0, keepdims=True)
    assert tm.macro_f1_of(sums)[0] == pytest.approx(m["macro_f1"])
    assert tm.accuracy_of(sums)[0] == pytest.approx(0.5)


def test_outputs_map_to_the_label_set_or_to_nothing():
    labels = ["negative", "neutral", "positive"]
    assert tm.map_output("Positive.", labels) == "positive"
    assert tm.map_output("The sentiment is negative overall", labels) == "negative"
    assert tm.map_output("I think neutral, maybe positive", labels) == "neutral"  # the earliest named
    assert tm.map_output("The text is about a kettle.", labels) is None
    assert tm.map_output("nonpositive", labels) is None  # whole words only


def test_parse_entities_reads_a_json_list_or_refuses():
    assert tm.parse_entities('[{"text": "SK-7000", "type": "PRODUCT"}]') == [Entity("SK-7000", "PRODUCT")]
    assert tm.parse_entities('Here: [{"text": "May 3", "type": "DATE"}] done') == [Entity("May 3", "DATE")]
    assert tm.parse_entities("[]") == []
    assert tm.parse_entities("PRODUCT: SK-7000") is None
    assert tm.parse_entities('[{"name": "x"}]') is None


def test_extraction_metrics_by_hand():
    E = Entity
    golds = [[E("Acme Corp", "ORG"), E("3 May", "DATE"), E("Bob", "PER")], [E("Paris", "LOC")]]
    preds = [[E("acme corp.", "ORG"), E("May", "DATE"), E("Bob", "ORG")], None]
    m = tm.extraction_metrics(preds, golds)
    # exact: Acme Corp (normalised) only -> tp 1 of 3 predicted, 4 gold
    assert m["entity_precision"] == pytest.approx(1 / 3) and m["entity_recall"] == pytest.approx(1 / 4)
    assert m["entity_f1"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    # lenient: "May" overlaps "3 May" (same type); Bob has the wrong type -> tp 2
    assert m["lenient_precision"] == pytest.approx(2 / 3) and m["lenient_recall"] == pytest.approx(2 / 4)
    assert m["invalid_json_rate"] == 0.5 and m["invalid_json"] == 1
    assert m["per_type"]["ORG"]["support"] == 1 and m["per_type"]["ORG"]["precision"] == pytest.approx(0.5)
    counts = tm.extraction_count_matrix(preds, golds)
    assert tm.EXTRACTION_STATS["entity_f1"](counts.sum(axis=0, keepdims=True))[0] == pytest.approx(m["entity_f1"])


def test_paired_count_ci_of_accuracy_matches_the_existing_paired_bootstrap():
    from core.evaluation import metrics

    golds = ["a1", "b1"] * 15
    a = ["a1", "b1"] * 12 + ["b1", "a1"] * 3
    b = ["a1", "a1"] * 15
    ca, cb = (tm.label_counts(p, golds, ["a1", "b1"]) for p in (a, b))
    ours = tm.paired_count_ci(ca, cb, tm.accuracy_of)
    theirs = metrics.paired_bootstrap_ci([float(x == g) for x, g in zip(a, golds, strict=True)],
                                         [float(x == g) for x, g in zip(b, golds, strict=True)])
    assert ours == pytest.approx(theirs)
    low, diff, high = tm.paired_count_ci(ca, cb, tm.macro_f1_of)
    assert low <= diff <= high and diff > 0


def test_count_ci_of_identical_arms_is_zero_width():
    counts = tm.label_counts(["x1", "y1", "x1"], ["x1", "y1", "y1"], ["x1", "y1"])
    assert tm.paired_count_ci(counts, counts, tm.macro_f1_of) == (0.0, 0.0, 0.0)
    assert tm.count_ci(np.ones((4, 5)), tm.EXTRACTION_STATS["entity_f1"])[1] == 1.0


# ------------------------------------------------------------------------------ arms / verdict (no model)

def test_task_arms_parse_all_and_refuse_unknown():
    assert parse_task_arms("all") == TASK_ARMS
    assert parse_task_arms("ft,base") == ("base", "ft")
    with pytest.raises(TaskArmsError, match="rag"):
        parse_task_arms("base,rag")


def test_adapter_task_reads_the_mode_or_the_labels():
    assert adapter_task({"mode": {"mode": "closed_book", "task": "extraction", "entity_types": ["DATE"]}}) == \
        TaskSpec("extraction", (), ("DATE",))
    assert adapter_task({"data": {"labels": ["a", "b"]}}) == TaskSpec("classification", ("a", "b"))
    assert adapter_task({"data": {"labels": []}}) is None


def _report(deltas, values, n=40):
    return {"task": "classification", "n": n, "arms": {a: {"accuracy": v} for a, v in values.items()},
            "deltas": deltas}


def test_verdict_says_no_evidence_when_the_interval_spans_zero():
    text = task_verdict(_report({"examples-base": {"accuracy": [-0.05, 0.05, 0.15]}},
                                {"base": 0.5, "examples": 0.55}))["verdict"]
    assert "No evidence of a difference between retrieved examples and the base model" in text
    assert "equal" not in text


def test_verdict_names_a_clear_winner_and_few_shot_vs_fine_tune():
    report = _report({"examples-base": {"accuracy": [0.1, 0.2, 0.3]}, "ft-base": {"accuracy": [0.2, 0.3, 0.4]},
                      "ft-examples": {"accuracy": [0.02, 0.1, 0.18]}}, {"base": 0.4, "examples": 0.6, "ft": 0.7})
    verdict = task_verdict(report)
    assert verdict["verdict_metric"] == "accuracy"
    assert "Best on 40 texts: the fine-tuned arm (28 of 40 correct)" in verdict["verdict"]
    assert "Retrieved examples beats the base model" in verdict["verdict"]
    assert "Few-shot vs fine-tune: the fine-tuned arm beats retrieved examples" in verdict["verdict"]


# ------------------------------------------------------------------------------ the example index (real embedder)

def test_retrieved_examples_never_include_the_text_itself_or_its_duplicates(data_dir):
    from core.runtime.models import load_embedder
    from core.training.example_index import ExampleIndex

    rows = [TaskRow(i + 2, text, label=lab) for i, (text, lab) in enumerate([
        ("The kettle leaks from the base.", "bad"), ("THE KETTLE  leaks from the base.", "bad"),
        ("The kettle boils fast and quietly.", "good"), ("Lovely kettle, boils in a minute.", "good"),
        ("The toaster burns every slice.", "bad"), ("Great toaster, even browning.", "good")])]
    index = ExampleIndex(rows, load_embedder())
    hits = index.search("The kettle leaks from the base.", k=3)
    assert len(hits) == 3
    assert all("leaks from the base" not in h.text.lower() for h in hits)
    assert "kettle" in hits[0].text.lower()  # the most similar remaining row comes first
    assert len(index.search("something unrelated entirely", k=10)) == 6


def test_conll_tag_column_is_found_when_a_feature_column_follows_it():
    text = "Japan B-LOC 0\nbeat O 0\nSyria B-LOC 0\n\nNadim B-PER 0\nLadki I-PER 0\n"
    data = load_task_data(text.encode(), name="test.txt", min_rows=1)
    assert data.rows[0].entities == (Entity("Japan", "LOC"), Entity("Syria", "LOC"))
    assert data.rows[1].entities == (Entity("Nadim Ladki", "PER"),)


# ------------------------------------------------------------------------------ the `task` command

def _task_cli(data_dir, *args):
    import subprocess
    import sys

    from tests.conftest import ROOT

    return subprocess.run([sys.executable, "-m", "core", "task", *args, "--data-dir", str(data_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_task_command_previews_the_demo_files(data_dir):
    from tests.conftest import ROOT

    out = _task_cli(data_dir, "--data", str(ROOT / "demo" / "reviews_train.csv"), "--rows", "1")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["task"] == "classification" and report["labels"] == ["negative", "neutral", "positive"]
    assert "<|im_start|>user" in report["preview"][0]["prompt"]
    assert report["preview"][0]["target"] in report["labels"]


def test_task_command_exits_non_zero_with_the_problems(data_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_jsonl([{"text": "Order 12 is late", "entities": "ORDER_ID: 12"}] * 1 + _entity_rows()))
    out = _task_cli(data_dir, "--data", str(bad))
    assert out.returncode == 1
    assert any("Malformed entities column" in i["message"] for i in json.loads(out.stdout)["issues"])
