"""The Fine-tune page's wiring (AppTest): data -> report + preview, bad data blocks Start, adapter list."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGE = str(ROOT / "app_pages" / "finetune.py")


def _app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120)


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [s.value for s in at.success]
    parts += [c.value for c in at.code]
    return "\n".join(str(p) for p in parts)


def _button(at, label):
    return next(b for b in at.button if b.label == label)


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
    at.file_uploader(key="ft_upload").upload("bad.jsonl", "\n".join(lines).encode(), "application/json")
    at.run()
    assert not at.exception
    assert any("line(s) are not valid JSON" in e.value and "rows 5" in e.value for e in at.error)
    assert _button(at, "Start training").disabled


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


def test_preset_fills_the_advanced_options_with_help(model_data_dir):
    from core.training.finetune import PRESETS

    at = _app().run()
    _button(at, "Load demo workspace").click().run()
    rank = at.number_input(key="ft_opt_quick_rank")
    assert rank.value == PRESETS["quick"].rank
    assert rank.help  # every option has a one-line help text
    assert at.number_input(key="ft_opt_quick_max_length").value == PRESETS["quick"].max_length
