"""The Fine-tune page's wiring (AppTest): data -> report + preview, bad data and bad mappings block Start,
the draft survives a reload, a finished run shows eval loss as a value and its train recall, adapter list."""

from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGE = str(ROOT / "app_pages" / "finetune.py")
PAGE_SOURCES = [ROOT / "app_pages" / "finetune.py", *sorted((ROOT / "ui").glob("finetune_*.py"))]
# Pictographic emoji (and the variation selector that turns a symbol into one): a browser without
# an emoji font draws them as empty boxes.
# (Plain text symbols such as ✓ and ✗ are in every font and stay allowed.)
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u26FF\u23E9-\u23FA\uFE0F\u2705\u2728\u274C\u274E"
                   "\u2753-\u2757\u2795-\u2797\u27B0\u27BF\u2B50\u2B55]")


def _app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120)


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [s.value for s in at.success]
    parts += [c.value for c in at.code]
    return "\n".join(_plain(p) for p in parts)


def _plain(value) -> str:
    """An element's text with markdown escapes removed (file names and messages are escaped)."""
    return re.sub(r"\\(.)", r"\1", str(value))


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _option(at, name):
    """The advanced option widget `name` (its key also names the file and the preset)."""
    return next(n for n in at.number_input if n.key.endswith(f"_{name}"))


def _upload(at, name: str, raw: bytes):
    at.file_uploader(key="ft_upload").upload(name, raw, "text/csv")
    return at.run()


def test_empty_workspace_asks_for_data(model_data_dir):
    at = _app().run()
    assert not at.exception
    assert "Upload a labeled file" in _texts(at)
    assert "No adapters yet" in _texts(at)


def test_demo_classification_is_validated_and_previewed(model_data_dir):
    at = _app().run()
    _button(at, "Load demo workspace").click().run()
    assert not at.exception
    text = _texts(at)
    assert "Ready to train: 220 usable rows" in text
    assert "Classify the text into one of these labels" in text  # the prompt preview
    assert "<|im_start|>assistant" in text
    assert any(c.value.strip().endswith("<|im_end|>") for c in at.code)  # the trained part
    start = _button(at, "Start training")
    assert not start.disabled


def test_demo_qa_set_is_detected(model_data_dir):
    at = _app().run()
    _button(at, "Load demo workspace").click().run()
    at.radio(key="ft_demo_choice").set_value(at.radio(key="ft_demo_choice").options[1]).run()
    assert not at.exception
    assert "Ready to train: 71 usable rows" in _texts(at)


def test_broken_upload_blocks_training_with_the_reason(model_data_dir):
    lines = [json.dumps({"question": f"q{i}?", "answer": f"a{i}"}) for i in range(12)]
    lines.insert(4, '{"question": "broken", ')
    at = _app().run()
    _upload(at, "bad.jsonl", "\n".join(lines).encode())
    assert not at.exception
    assert any("line(s) are not valid JSON" in _plain(e.value) and "rows 5" in _plain(e.value) for e in at.error)
    assert _button(at, "Start training").disabled


PRODUCTS = ("name,price,colour\n" + "\n".join(f"item {i},{i}.99,{c}" for i, c in
                                                 zip(range(23), ["red", "blue", "green"] * 8, strict=False))).encode()


def test_undetected_format_blocks_training_until_columns_are_chosen(model_data_dir):
    """Issue 10.1: name,price,colour used to map question = answer = name and say "Ready to train"."""
    at = _app().run()
    _upload(at, "products.csv", PRODUCTS)
    assert not at.exception
    text = _texts(at)
    assert any("Format: **not detected**" in e.label for e in at.expander)
    assert "Ready to train" not in text
    assert any("No column chosen for question and answer" in _plain(e.value) for e in at.error)
    assert _button(at, "Start training").disabled


def test_one_column_as_prompt_and_target_blocks_training(model_data_dir):
    at = _app().run()
    _upload(at, "products.csv", PRODUCTS)
    for select in at.selectbox:
        if select.key.endswith("_qa_question") or select.key.endswith("_qa_answer"):
            select.set_value("name")
    at.run()
    assert not at.exception
    assert "Ready to train" not in _texts(at)
    assert any("same column ('name')" in _plain(e.value) for e in at.error)
    assert _button(at, "Start training").disabled
    # Distinct columns, chosen by the user, are a mapping to train on.
    next(s for s in at.selectbox if s.key.endswith("_qa_answer")).set_value("colour")
    at.run()
    assert "Ready to train: 23 usable rows" in _texts(at)


def test_upload_mapping_and_options_survive_a_reload(model_data_dir):
    """Issue 10.6: a fresh AppTest is a new browser session, as after a reload or a page switch."""
    rows = "\n".join(f"Ticket number {i} text,{['alpha', 'None', 'gamma'][i % 3]}" for i in range(30))
    at = _app().run()
    _upload(at, "mine.csv", f"body,kind\n{rows}".encode())
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("ft_kind_"))).set_value("classification")
    at.run()
    next(s for s in at.selectbox if s.key.endswith("_classification_text")).set_value("body")
    next(s for s in at.selectbox if s.key.endswith("_classification_label")).set_value("kind")
    at.run()
    at.segmented_control(key="ft_preset").set_value("balanced").run()
    _option(at, "rank").set_value(12).run()
    assert "Ready to train: 30 usable rows" in _texts(at)  # the label "None" is a class, not a gap
    draft = json.loads((model_data_dir / "ui" / "finetune_draft" / "draft.json").read_text())
    assert draft["display_name"] == "mine.csv" and draft["mapping"] == {"text": "body", "label": "kind"}

    again = _app().run()
    assert not again.exception
    text = _texts(again)
    assert "Using **mine.csv**" in text and "Ready to train: 30 usable rows" in text
    assert again.segmented_control(key="ft_preset").value == "balanced"
    assert _option(again, "rank").value == 12
    assert "'None': 10" not in text  # no "too few" complaint: None has its 10 rows


def test_a_corrupt_draft_is_reported_and_ignored(model_data_dir):
    folder = model_data_dir / "ui" / "finetune_draft"
    folder.mkdir(parents=True)
    (folder / "draft.json").write_text("{not json")
    at = _app().run()
    assert not at.exception
    assert any("could not be read" in _plain(w.value) and "draft.json.corrupt" in _plain(w.value) for w in at.warning)
    assert "Upload a labeled file" in _texts(at)
    assert not (folder / "draft.json").exists() and (folder / "draft.json.corrupt").exists()


def test_a_finished_run_shows_eval_loss_as_a_value_and_its_train_recall(model_data_dir):
    from core.runtime import jobs
    from core.training.finetune import KIND

    run_dir = jobs.create(KIND, "core.training.finetune", {"mode": "train", "name": "facts", "data_name": "f.jsonl"},
                          group="train")
    status = json.loads((run_dir / "status.json").read_text())
    recall = {"rows": 8, "recalled": 7, "share": 0.875, "examples": [
        {"row": 3, "prompt": "Who keeps the lighthouse?", "target": "Odile Brannock", "answer": "Odile Brannock",
         "recalled": True}]}
    status.update(state="completed", step=3, total_steps=3, train_loss=0.5, eval_loss=1.25,
                  result={"adapter": "facts", "train_loss": 0.5, "eval_loss": 1.25, "seconds": 30, "steps": 3,
                          "train_recall": recall})
    (run_dir / "status.json").write_text(json.dumps(status))
    (run_dir / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}, {"step": 3, "loss": 0.5, "eval_loss": 1.25}]))
    at = _app().run()
    assert not at.exception
    eval_metric = next(m for m in at.metric if m.label == "Eval loss")
    assert eval_metric.value == "1.2500" and not eval_metric.delta  # a value, not an "↑" change badge
    assert "Training answers reproduced: 7 of 8" in _texts(at)


def test_the_loss_chart_counts_whole_steps():
    from ui.finetune_views import loss_chart_spec, loss_frame

    spec = loss_chart_spec(loss_frame([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}])).to_dict()
    assert spec["encoding"]["x"]["axis"]["format"] == "d" and spec["encoding"]["x"]["axis"]["tickMinStep"] == 1


def test_page_sources_use_material_icons_not_emoji():
    for path in PAGE_SOURCES:
        found = EMOJI.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: {found}"


def test_adapter_list_shows_trained_adapters(model_data_dir):
    folder = model_data_dir / "adapters" / "demo-adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"0" * 100)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (folder / "meta.json").write_text(json.dumps({"name": "demo-adapter", "base_model": "bundled:x",
                                                  "metrics": {"train_loss": 0.5}, "duration_s": 12}))
    at = _app().run()
    assert not at.exception
    assert at.selectbox(key="ft_adapter_pick").value == "demo-adapter"
    assert len(at.dataframe) >= 1


def test_preset_fills_the_advanced_options_for_the_task_and_size(model_data_dir):
    from core.training.finetune import preset_options

    at = _app().run()
    _button(at, "Load demo workspace").click().run()
    quick = preset_options("quick", "classification", 220)
    rank = _option(at, "rank")
    assert rank.value == quick.rank
    assert rank.help  # every option has a one-line help text
    assert _option(at, "max_length").value == quick.max_length
    assert _option(at, "epochs").value == quick.epochs


def test_forget_this_file_starts_the_next_file_afresh(model_data_dir):
    """Forget empties the uploader and the next file gets its own adapter name, not the last one's."""
    rows = "\n".join(f"Ticket {i} text,{['alpha', 'beta'][i % 2]}" for i in range(30))
    at = _app().run()
    _upload(at, "first.csv", f"text,label\n{rows}".encode())
    name = next(t for t in at.text_input if t.key.startswith("ft_adapter_name_"))
    name.set_value("my-first-adapter").run()
    _button(at, "Forget this file").click().run()
    assert not at.exception
    assert "Upload a labeled file" in _texts(at)  # the uploader let the file go
    uploader = at.get("file_uploader")[0]
    at.file_uploader(key=uploader.key).upload("second.csv", f"text,label\n{rows}".encode(), "text/csv")
    at.run()
    name = next(t for t in at.text_input if t.key.startswith("ft_adapter_name_"))
    assert name.value.startswith("second") and "first" not in name.value


def test_the_plan_caption_follows_max_steps(model_data_dir):
    at = _app().run()
    _button(at, "Load demo workspace").click().run()
    _option(at, "max_steps").set_value(5).run()
    text = _texts(at)
    assert "5 steps: max steps 5 stops it after" in text
    assert not re.search(r"~\d+ steps\.", text)  # no preset figure that the run will not do


def test_repeat_with_n_seeds_is_offered_with_its_cost(model_data_dir, monkeypatch):
    """One seed until an estimate says three fit the budget; a seed count > 1 starts a seed group
    (the coordinator job is replaced here by a recorder: the real one trains)."""
    from core.training import seeds

    started = []
    monkeypatch.setattr(seeds, "start_seed_group", lambda *a, **kw: started.append((a, kw)))
    at = _app().run()
    _button(at, "Load demo workspace").click().run()
    box = at.number_input(key="ft_seeds")
    assert box.value == 1  # nothing measured: the cost of more seeds is unknown
    box.set_value(3).run()
    assert not at.exception
    assert "Estimate time first to see what N seeds cost" in _texts(at)
    _button(at, "Start training").click().run()
    assert started and started[0][0][3] == 3  # (path, name, options, n)
