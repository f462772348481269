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
    parts += [c.value for c in at.code] + [h.value for h in at.subheader]
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


def _task_report(rid: str, ft_minus_examples: list[float]) -> dict:
    """A classification report as core.evaluation.tasks writes it (the fields the wizard reads)."""
    arms = {a: {"title": t, "accuracy": acc, "macro_f1": acc, "ci": {"accuracy": [acc - .1, acc, acc + .1]}}
            for a, t, acc in (("base", "Base (zero-shot)", .3), ("examples", "Retrieved examples", .6),
                              ("ft", "Fine-tuned", .6 + ft_minus_examples[1]))}
    return {"id": rid, "created": "2026-12-07T06:00:00+00:00", "kind": "classification", "task": "classification",
            "n": 60, "complete": True, "partial": False, "verdict_metric": "accuracy",
            "verdict": "The fine-tuned arm beat retrieved examples.", "eval_set": {"name": "test.csv", "size": 60},
            "setup": {"arms": list(arms), "adapter": "sent", "k": 4, "train_data": {"name": "train.csv", "rows": 30}},
            "arms": arms, "meta": {"adapter": "sent"},
            "deltas": {"examples-base": {"accuracy": [.2, .3, .4]}, "ft-base": {"accuracy": [.3, .4, .5]},
                       "ft-examples": {"accuracy": ft_minus_examples}}}


def test_wizard_reads_the_task_report_as_a_test_of_the_published_prior(data_dir):
    """30 examples: the priors say few-shot; a task report where fine-tuning clearly wins overturns that."""
    from core.decision.questions import STEPS
    from core.decision.wizard_file import save_wizard

    (data_dir / "reports").mkdir()
    (data_dir / "reports" / "task.json").write_text(json.dumps(_task_report("task", [.05, .1, .2])))
    save_wizard(data_dir, {"task": "classification", "labeled_examples": 30, "goal": "behaviour"}, len(STEPS))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("app_pages/recommend.py").run()
    assert not at.exception
    text = _texts(at)
    assert "Few-shot or fine-tune for your classification task" in text
    assert "**Overturned.**" in text
    assert "10-49 labeled examples: few-shot prompting" in text
    assert "the fine-tuned model beat few-shot prompting with retrieved examples" in text
    assert "+10 points of accuracy" in text


# Reports written by core.evaluation.tasks.evaluate_task on the demo files (base and retrieved
# examples, the bundled model, a few rows), kept as fixtures: the view is checked on the real shape.
FIXTURES = ROOT / "tests" / "fixtures"


def _evaluate_with(data_dir, name: str) -> AppTest:
    report = json.loads((FIXTURES / name).read_text())
    (data_dir / "reports").mkdir(exist_ok=True)
    (data_dir / "reports" / f"{report['id']}.json").write_text(json.dumps(report))
    at = AppTest.from_file(str(ROOT / "app_pages" / "evaluate.py"), default_timeout=60).run()
    assert not at.exception
    return at


def test_classification_report_shows_metrics_with_cis_per_label_confusion_and_unmapped(data_dir):
    at = _evaluate_with(data_dir, "task_report_classification.json")
    text = _texts(at)
    assert "**Verdict.**" in text and "Scored by accuracy" in text
    metrics = next(f for f in _frames(at) if f.index.name == "metric")
    assert {"Accuracy", "Macro-F1", "Unmappable outputs (counted wrong)"} <= set(metrics.index)
    assert re.match(r"0\.\d\d  \[0\.\d\d, 0\.\d\d\]", metrics.loc["Accuracy", "Base (zero-shot)"])
    assert any("label" in f.columns and "Base (zero-shot) F1" in f.columns for f in _frames(at))
    assert "Confusion matrices" in text
    assert any("Outputs naming no label: 2" in e.label for e in at.expander)
    assert "Learning curve" not in text  # not run for this report


def test_extraction_report_shows_exact_and_partial_f1_and_invalid_json(data_dir):
    at = _evaluate_with(data_dir, "task_report_extraction.json")
    metrics = next(f for f in _frames(at) if f.index.name == "metric")
    assert {"Entity F1 (exact)", "Entity F1 (partial match)", "Invalid JSON rate"} <= set(metrics.index)
    assert any("entity type" in f.columns for f in _frames(at))
    assert any(e.label.startswith("Outputs not a valid JSON list of entities") for e in at.expander)
    assert "Confusion matrices" not in _texts(at)


def test_learning_curve_is_drawn_when_the_report_has_one(data_dir):
    report = json.loads((FIXTURES / "task_report_classification.json").read_text())
    # the curve's shape (core.evaluation.tasks.evaluate.learning_curve), its points from this report's arms
    report["learning_curve"] = {"metric": "accuracy", "fractions": [0.25, 0.5, 1.0], "points": [
        {"fraction": f, "n_train": n, "arms": report["arms"]} for f, n in ((0.25, 35), (0.5, 71), (1.0, 142))]}
    (data_dir / "reports").mkdir()
    (data_dir / "reports" / "curve.json").write_text(json.dumps(report))
    at = AppTest.from_file(str(ROOT / "app_pages" / "evaluate.py"), default_timeout=60).run()
    assert not at.exception
    assert "Learning curve" in _texts(at)


def test_compare_runs_the_task_arms_on_a_pasted_text_and_shows_the_retrieved_examples(model_data_dir):
    at = AppTest.from_file(str(ROOT / "app_pages" / "compare.py"), default_timeout=240).run()
    at.segmented_control(key="compare_mode").set_value("Classification / extraction").run()
    assert not at.exception
    train = at.selectbox(key="task_cmp_train_None")
    train.set_value(next(o for o in train.options if "reviews_train.csv" in o)).run()
    assert "Classification · labels: negative, neutral, positive" in _texts(at)
    at.number_input(key="task_cmp_k").set_value(2)
    at.text_area(key="task_cmp_text").input("The battery died after two days and support never answered.")
    next(b for b in at.button if b.label == "Run the arms").click().run()
    assert not at.exception
    text = _texts(at)
    assert "**Base (zero-shot)**" in text and "**Retrieved examples**" in text
    assert any(e.label == "Retrieved examples (2)" for e in at.expander)
    assert "training row" in text  # each example names its row, like a source


def test_a_curve_saved_by_the_cli_for_the_same_files_is_drawn(data_dir):
    """`evaluate --learning-curve` writes DATA_DIR/curves/curve-<train>.json; the report of the same files shows it."""
    report = json.loads((FIXTURES / "task_report_classification.json").read_text())
    curve = {"task": "classification", "metric": "accuracy", "fractions": [0.25, 0.5, 1.0],
             "train": {"name": report["setup"]["train_data"]["name"]}, "test": {"name": report["eval_set"]["name"]},
             "points": [{"fraction": f, "n_train": n, "arms": report["arms"]} for f, n in ((0.25, 35), (1.0, 142))]}
    (data_dir / "curves").mkdir()
    (data_dir / "curves" / "curve-reviews_train.json").write_text(json.dumps(curve))
    (data_dir / "curves" / "damaged.json").write_text("{not json")
    at = _evaluate_with(data_dir, "task_report_classification.json")
    assert "Learning curve" in _texts(at)
