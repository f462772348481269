"""Labeled data: schema detection, validation report (with row numbers), formatting, splits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.training import chat_format, data_files
from core.training import datasets as ds
from core.training.schema import DataError, Schema, detect_schema
from tests.conftest import ROOT


def _jsonl(rows) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def _qa(n, start=0):
    return [{"question": f"What is item {i}?", "answer": f"Item {i} is a widget."} for i in range(start, start + n)]


@pytest.fixture(scope="module")
def tokenizer(converted_models):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(converted_models / "smollm2-135m-instruct")


@pytest.mark.parametrize("columns,kind", [
    (["question", "answer", "source"], "qa"),
    (["Instruction", "input", "output"], "instruction"),
    (["prompt", "completion"], "prompt_completion"),
    (["messages"], "chat"),
    (["text", "label"], "classification"),
    (["ticket", "category"], "classification"),
    (["foo", "bar"], None),
])
def test_schema_detection(columns, kind):
    schema = detect_schema(columns)
    assert (schema.kind if schema else None) == kind


def test_each_file_format_reads_the_same_rows():
    rows = _qa(12)
    csv_text = "question,answer\n" + "\n".join(f'"{r["question"]}","{r["answer"]}"' for r in rows)
    for name, raw in [("a.jsonl", _jsonl(rows)), ("a.json", json.dumps(rows).encode()), ("a.csv", csv_text.encode())]:
        data = ds.load_labeled(raw, name)
        assert data.ok, (name, data.report.as_dict())
        assert data.kind == "qa" and len(data.rows) == 12
        assert data.rows[0].prompt == "What is item 0?"


def test_demo_sets_are_valid():
    tickets = ds.load_labeled(ROOT / "demo" / "tickets.csv")
    assert tickets.ok and tickets.kind == "classification" and len(tickets.labels) == 4
    qa = ds.load_labeled(ROOT / "demo" / "qa_train.jsonl")
    assert qa.ok and qa.kind == "qa"


def test_missing_columns_for_a_mapping_are_named():
    raw = _jsonl(_qa(12))
    data = ds.load_labeled(raw, "a.jsonl", schema=Schema.of("classification", {"text": "question", "label": "lbl"}))
    assert not data.ok
    assert "lbl" in data.report.reason() and "question, answer" in data.report.reason()


def test_no_known_columns_is_a_specific_error():
    data = ds.load_labeled(_jsonl([{"x": 1, "y": 2}] * 12), "a.jsonl")
    assert not data.ok and "No supported columns" in data.report.reason() and "x, y" in data.report.reason()


def test_mapping_override_uses_other_columns():
    rows = [{"q": f"Question {i}?", "reply": f"Answer {i}", "extra": "x"} for i in range(12)]
    data = ds.load_labeled(_jsonl(rows), "a.jsonl", schema=Schema.of("qa", {"question": "q", "answer": "reply"}))
    assert data.ok and data.rows[3].target == "Answer 3"


def test_empty_fields_are_reported_with_row_numbers():
    csv_text = "text,label\n" + "\n".join(
        [f"ticket {i},{'billing' if i % 2 else 'shipping'}" for i in range(12)]
        + [",billing", "no label here,", "nan,billing", "  ,  "])
    data = ds.load_labeled(csv_text.encode(), "t.csv")
    assert data.ok
    skipped = [i for i in data.report.issues if "skipped" in i.message]
    assert skipped and sorted(n for i in skipped for n in i.rows) == [14, 15, 17]
    assert "rows 14" in skipped[0].text()
    assert data.report.stats["skipped_empty"] == 3
    assert any(r.prompt == "nan" for r in data.rows)  # the word nan is text, not a missing cell


def test_none_null_and_nan_are_values_only_empty_cells_are_missing():
    """Issue 11.5: a label class named None vanished (and answers "null" / "nan" with it)."""
    csv_text = "text,label\n" + "\n".join(f"ticket {i},{['None', 'null', 'billing', 'NaN'][i % 4]}" for i in range(16))
    data = ds.load_labeled(csv_text.encode(), "t.csv")
    assert data.ok, data.report.as_dict()
    assert set(data.labels) == {"None", "null", "billing", "NaN"} and len(data.rows) == 16
    qa = _qa(10) + [{"question": "What does the API return for a missing user?", "answer": "null"},
                    {"question": "Who is on call?", "answer": None}]
    data = ds.load_labeled(_jsonl(qa), "a.jsonl")
    assert [r.target for r in data.rows if r.prompt.startswith("What does the API")] == ["null"]
    assert any("empty answer" in i.message and i.rows == (12,) for i in data.report.issues)  # JSON null is empty


PRODUCTS_CSV = ("name,price,colour\n" + "\n".join(f"item {i},{i}.99,red" for i in range(23))).encode()


def test_an_undetected_format_is_refused_with_the_columns_found():
    data = ds.load_labeled(PRODUCTS_CSV, "products.csv")
    assert not data.ok and not data.rows
    assert "No supported columns found (the file has: name, price, colour)" in data.report.reason()


def test_one_column_as_prompt_and_target_is_refused():
    """Issue 10.1: question = answer = name would train the model to repeat its input."""
    data = ds.load_labeled(PRODUCTS_CSV, "products.csv", schema=Schema.of("qa", {"question": "name", "answer": "name"}))
    assert not data.ok and not data.rows
    assert "question and the answer are the same column ('name')" in data.report.reason()
    with pytest.raises(DataError, match="same column"):
        data.require_valid()
    unmapped = ds.load_labeled(PRODUCTS_CSV, "products.csv", schema=Schema.of("qa", {"question": "name"}))
    assert "No column chosen for answer" in unmapped.report.reason()
    fine = ds.load_labeled(PRODUCTS_CSV, "products.csv", schema=Schema.of("qa", {"question": "name", "answer": "price"}))
    assert fine.ok and len(fine.rows) == 23


def test_cli_finetune_refuses_an_undetected_format_before_loading_the_model(tmp_path, capsys):
    from core.__main__ import main

    path = tmp_path / "products.csv"
    path.write_bytes(PRODUCTS_CSV)
    assert main(["finetune", "--data", str(path), "--name", "x", "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "No supported columns found" in err and "name, price, colour" in err
    assert not (tmp_path / "data" / "runs").exists()


def test_broken_jsonl_lines_are_reported_by_line_number():
    lines = [json.dumps(r) for r in _qa(12)]
    lines.insert(2, '{"question": "oops"')
    lines.insert(7, "[1, 2]")
    data = ds.load_labeled("\n".join(lines).encode(), "a.jsonl")
    assert not data.ok
    error = data.report.errors[0]
    assert error.rows == (3, 8)
    assert "line 3" in error.text()


def test_fewer_than_ten_usable_rows_cannot_train():
    data = ds.load_labeled(_jsonl(_qa(9)), "a.jsonl")
    assert not data.ok and "Only 9 usable row(s); at least 10" in data.report.reason()
    with pytest.raises(DataError, match="at least 10"):
        data.require_valid()


def test_duplicates_are_removed_and_counted():
    data = ds.load_labeled(_jsonl(_qa(12) + _qa(3)), "a.jsonl")
    assert data.ok and len(data.rows) == 12
    assert data.report.stats["duplicates_removed"] == 3


def test_too_few_examples_for_a_label():
    rows = [{"text": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(20)] + [{"text": "lonely", "label": "c"}]
    data = ds.load_labeled(_jsonl(rows), "a.jsonl")
    assert not data.ok
    assert "'c': 1" in data.report.reason() and "at least 3" in data.report.reason()
    assert data.report.stats["label_counts"]["c"] == 1


def test_free_text_label_column_is_refused():
    rows = [{"text": f"t{i}", "label": f"unique label {i}"} for i in range(60)]
    assert "free text" in ds.load_labeled(_jsonl(rows), "a.jsonl").report.reason()


def test_oversize_rows(tokenizer):
    rows = _qa(12) + [{"question": "huge " * 10_000, "answer": "x"},
                      {"question": "long answer?", "answer": "word " * 200}]
    data = ds.load_labeled(_jsonl(rows), "a.jsonl", tokenizer=tokenizer, max_length=64)
    assert data.ok
    texts = [i.text() for i in data.report.issues]
    assert any("longer than 20000 characters" in t and "rows 13" in t for t in texts)
    assert any("will be truncated" in t and "rows 14" in t for t in texts)
    assert data.report.stats["tokens"]["truncation_share"] == pytest.approx(1 / 13, abs=1e-3)
    encoded = chat_format.tokenize_row(tokenizer, data.rows[-1], (), 64)
    assert len(encoded["input_ids"]) == 64


def test_prompt_longer_than_max_length_is_skipped(tokenizer):
    rows = _qa(12) + [{"question": "very long question " * 40, "answer": "yes"}]
    data = ds.load_labeled(_jsonl(rows), "a.jsonl", tokenizer=tokenizer, max_length=64)
    assert len(data.rows) == 12
    assert any("prompt alone is longer" in i.message and i.rows == (13,) for i in data.report.issues)


def test_binary_and_empty_files_are_refused():
    with pytest.raises(DataError, match="binary"):
        ds.load_labeled(b"\x00\x01\x02PK\x00" * 100, "x.csv")
    with pytest.raises(DataError, match="empty"):
        ds.load_labeled(b"  \n", "x.jsonl")


def test_chat_schema_trains_the_last_assistant_turn():
    rows = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Hi {i}"},
                          {"role": "assistant", "content": "Hello"}, {"role": "user", "content": f"Number {i}?"},
                          {"role": "assistant", "content": str(i)}]} for i in range(12)]
    rows.append({"messages": [{"role": "user", "content": "no answer"}]})
    data = ds.load_labeled(_jsonl(rows), "c.jsonl")
    assert data.ok and len(data.rows) == 12
    assert any("last message is not from the assistant" in i.message and i.rows == (13,) for i in data.report.issues)
    messages = chat_format.chat_messages(data.rows[5])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "Number 5?" and data.rows[5].target == "5"


def test_loss_only_on_the_answer_tokens(tokenizer):
    data = ds.load_labeled(_jsonl(_qa(12)), "a.jsonl")
    encoded = chat_format.tokenize_row(tokenizer, data.rows[0], (), 256)
    trained = [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != -100]
    assert tokenizer.decode(trained) == "Item 0 is a widget.<|im_end|>"
    prompt_ids = tokenizer.apply_chat_template(chat_format.chat_messages(data.rows[0]), add_generation_prompt=True,
                                               tokenize=True)
    prompt_ids = prompt_ids["input_ids"] if hasattr(prompt_ids, "keys") else prompt_ids
    assert encoded["input_ids"][: len(prompt_ids)] == list(prompt_ids)  # same prompt as at inference


def test_classification_prompt_is_the_same_at_inference():
    data = ds.load_labeled(ROOT / "demo" / "tickets.csv")
    row = data.rows[0]
    trained = chat_format.chat_messages(row, data.labels)
    inference = chat_format.chat_messages(chat_format.classification_row(row.prompt), data.labels)
    assert trained == inference
    assert "account, billing, shipping, technical" in trained[-1]["content"]


def test_split_is_seeded_disjoint_and_stratified():
    data = ds.load_labeled(ROOT / "demo" / "tickets.csv")
    train, held = ds.split(data, 0.2, seed=7)
    again_train, again_held = ds.split(data, 0.2, seed=7)
    other = ds.split(data, 0.2, seed=8)[1]
    assert [r.number for r in held] == [r.number for r in again_held]
    assert [r.number for r in held] != [r.number for r in other]
    assert not {r.number for r in train} & {r.number for r in held}
    assert len(train) + len(held) == len(data.rows) and len(held) == 44
    assert {r.label for r in held} == set(data.labels)
    counts = {label: sum(r.label == label for r in held) for label in data.labels}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_store_upload_uses_a_generated_name(data_dir):
    path = data_files.store_upload(_jsonl(_qa(12)), "../../etc/evil name.jsonl")
    assert path.parent == data_dir / "uploads" and path.suffix == ".jsonl" and "evil" not in path.name


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["x.csv", "x.jsonl", "x.json", "x.txt"]))
def test_reading_random_bytes_never_crashes(raw, name):
    try:
        data = ds.load_labeled(raw, name)
    except DataError:
        return
    assert isinstance(data.report.ok, bool)
