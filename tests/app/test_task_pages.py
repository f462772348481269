"""Classification and extraction tasks in the pages (AppTest, issue 27): the Fine-tune page names the
task, its label set / entity types with counts and the exact prompt and target; a malformed entities
column and a label column with one class are clear errors."""

from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

FINETUNE = str(ROOT / "app_pages" / "finetune.py")
ENTITIES = (ROOT / "tests" / "fixtures" / "entities_small.jsonl").read_bytes()


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [s.value for s in at.success]
    parts += [c.value for c in at.code]
    return "\n".join(re.sub(r"\\(.)", r"\1", str(p)) for p in parts)


def _upload(name: str, raw: bytes, mime: str = "text/csv") -> AppTest:
    at = AppTest.from_file(FINETUNE, default_timeout=120).run()
    at.file_uploader(key="ft_upload").upload(name, raw, mime)
    return at.run()


def _frames(at) -> list:
    return [d.value for d in at.dataframe]


def test_extraction_file_shows_the_task_types_and_exact_prompt_and_target(model_data_dir):
    at = _upload("people.jsonl", ENTITIES, "application/json")
    assert not at.exception
    text = _texts(at)
    assert "Task: **Extraction (entities)**" in text
    assert "3 entity types" in text
    types = next(f for f in _frames(at) if "entity type" in f.columns)
    assert dict(zip(types["entity type"], types["entities"], strict=True)) == {"LOC": 24, "PER": 16, "ORG": 16}
    # the exact prompt (chat template, the types listed) and the target JSON of row 1
    assert "Extract the entities of these types from the text: LOC, ORG, PER" in text
    assert "<|im_start|>user" in text
    assert '[{"text": "Alice Martin", "type": "PER"}' in text or '[{"text":"Alice Martin","type":"PER"}' in text
    # what trains is the task's prompt/completion file: validated by the page's own report
    assert "Ready to train: 24 usable rows" in text
    assert not next(b for b in at.button if b.label == "Start training").disabled


def test_classification_file_shows_its_label_set_with_counts(model_data_dir):
    at = AppTest.from_file(FINETUNE, default_timeout=120).run()
    next(b for b in at.button if b.label == "Load demo workspace").click().run()
    assert not at.exception
    text = _texts(at)
    assert "Task: **Classification**" in text and "4 labels" in text
    labels = next(f for f in _frames(at) if "label" in f.columns and "rows" in f.columns)
    assert dict(zip(labels["label"], labels["rows"], strict=True)) == {
        "account": 55, "billing": 55, "shipping": 55, "technical": 55}


def test_malformed_entities_column_is_a_clear_error(model_data_dir):
    rows = [json.loads(line) for line in ENTITIES.decode().splitlines()]
    rows[3]["entities"] = "PER: Dev Patel"  # not a JSON list
    rows[5]["entities"] = [{"name": "x"}]
    raw = "\n".join(json.dumps(r) for r in rows).encode()
    at = _upload("broken.jsonl", raw, "application/json")
    assert not at.exception
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]
    assert any("Malformed entities column in 1 row(s)" in e and "not JSON" in e and "rows 4" in e for e in errors)
    assert any("rows 6" in e for e in errors)
    assert not [b for b in at.button if b.label == "Start training"]  # nothing trains


def test_label_column_with_one_class_is_a_clear_error(model_data_dir):
    raw = ("text,label\n" + "\n".join(f"Ticket {i} about a parcel,shipping" for i in range(20))).encode()
    at = _upload("one.csv", raw)
    assert not at.exception
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]
    assert any("Only one label ('shipping')" in e for e in errors)
    assert next(b for b in at.button if b.label == "Start training").disabled
