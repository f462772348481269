"""The model registry (issue 26): adding local models, refusals, the active model, estimates,
per-architecture LoRA targets, the chat template and stop tokens from the tokenizer, and adapters
refused on another base model. Fast: models are tiny fakes on disk (files only) here; the real
second architecture runs end to end in test_model_switch.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.runtime import model_registry as registry
from core.runtime.errors import ConfigError, NoChatTemplate
from core.runtime.settings import BUNDLED_GENERATOR, get_settings, reset_settings

TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"


def fake_checkpoint(folder: Path, *, template: bool = True, model_type: str = "qwen2") -> Path:
    """A folder with what the registry reads: config.json, safetensors weights, tokenizer config."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "max_position_embeddings": 4096}))
    save_file({"embed.weight": torch.zeros(100, 8), "layer.weight": torch.zeros(8, 8)}, str(folder / "model.safetensors"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": TEMPLATE} if template else {}))
    return folder


def test_the_bundled_model_is_active_by_default(data_dir):
    settings = get_settings()
    assert (settings.generator, settings.model_name) == (BUNDLED_GENERATOR, registry.BUNDLED_NAME)
    [bundled] = registry.list_models(data_dir)
    assert bundled.bundled and bundled.params == registry.BUNDLED_PARAMS and bundled.kind == "gguf"
    assert len(bundled.weights_hash) == 16


def test_add_reads_facts_from_files_and_use_switches_the_active_model(data_dir, tmp_path):
    folder = fake_checkpoint(tmp_path / "my-qwen")
    entry = registry.add(data_dir, folder, "my-qwen")
    assert (entry.kind, entry.architecture, entry.params, entry.context_window) == ("transformers", "qwen2", 864, 4096)
    assert entry.disk_bytes > 0 and len(entry.weights_hash) == 16
    assert get_settings().model_name == registry.BUNDLED_NAME  # added, not active yet
    registry.use(data_dir, "my-qwen")
    reset_settings()
    assert (get_settings().model_name, get_settings().generator) == ("my-qwen", str(folder.resolve()))
    saved = json.loads((data_dir / registry.REGISTRY_FILE).read_text())
    assert saved["active"] == "my-qwen" and [m["name"] for m in saved["models"]] == ["my-qwen"]
    registry.use(data_dir, registry.BUNDLED_NAME)
    reset_settings()
    assert get_settings().generator == BUNDLED_GENERATOR


def test_environment_overrides_still_win(data_dir, tmp_path, monkeypatch):
    folder = fake_checkpoint(tmp_path / "m")
    registry.add(data_dir, folder, "m", activate=True)
    monkeypatch.setenv("CROSSROADS_GENERATOR", str(folder))  # what a job's child process gets
    reset_settings()
    assert get_settings().model_name == "m"
    monkeypatch.setenv("CROSSROADS_MODEL", registry.BUNDLED_NAME)  # what --model sets
    reset_settings()
    assert get_settings().generator == BUNDLED_GENERATOR
    monkeypatch.setenv("CROSSROADS_MODEL", "nope")
    reset_settings()
    with pytest.raises(ConfigError, match="No model named 'nope'"):
        get_settings()


def test_a_hub_id_is_refused_with_how_to_download_it_elsewhere(data_dir):
    with pytest.raises(registry.ModelRefused) as info:
        registry.add(data_dir, "Qwen/Qwen2-0.5B", "qwen")
    assert "looks like a model hub id" in info.value.message and "never downloads" in info.value.message
    assert "huggingface-cli download Qwen/Qwen2-0.5B --local-dir" in info.value.hint
    with pytest.raises(registry.ModelRefused, match="not a folder or file on this machine"):
        registry.add(data_dir, str(data_dir / "missing"), "x")
    assert not (data_dir / registry.REGISTRY_FILE).exists()


def test_refusals_name_the_problem(data_dir, tmp_path):
    with pytest.raises(registry.ModelRefused, match="no chat template") as info:
        registry.add(data_dir, fake_checkpoint(tmp_path / "base-only", template=False), "b")
    assert "instruct" in info.value.hint
    pickled = fake_checkpoint(tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(registry.ModelRefused, match="no \\*.safetensors weights \\(only pytorch_model.bin\\)"):
        registry.add(data_dir, pickled, "p")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(registry.ModelRefused, match="neither a model folder nor a .gguf"):
        registry.add(data_dir, tmp_path / "notes.txt", "n")
    with pytest.raises(registry.ModelRefused, match="not a valid model name"):
        registry.add(data_dir, fake_checkpoint(tmp_path / "ok"), "../bad")
    registry.add(data_dir, tmp_path / "ok", "ok")
    with pytest.raises(registry.ModelRefused, match="already in this workspace"):
        registry.add(data_dir, tmp_path / "ok", "ok")
    with pytest.raises(registry.ModelRefused, match="already added as 'ok'"):
        registry.add(data_dir, tmp_path / "ok", "ok2")
    with pytest.raises(registry.ModelRefused, match="cannot be removed"):
        registry.remove(data_dir, registry.BUNDLED_NAME)


def test_a_gguf_file_is_added_by_path(data_dir):
    from core.runtime.models import bundled_gguf_path

    entry = registry.add(data_dir, bundled_gguf_path(), "smol-gguf")
    assert (entry.kind, entry.architecture, entry.params) == ("gguf", "llama", registry.BUNDLED_PARAMS)
    assert entry.weights_hash == registry.bundled_entry().weights_hash  # same file, same hash
    assert entry.generator.endswith(".gguf")


CPU = {"device": "cpu", "ram_gb": 23.0, "gpu_gb": None, "gpu": None}


def test_estimates_follow_the_stated_formula():
    # memory = params x 4 bytes x 1.2 + 0.5 GB; tokens/s = 22.2 x 134.5M / params; fits: <= 80% RAM and >= 5 tok/s
    small = registry.estimate(registry.BUNDLED_PARAMS, CPU, 22.2)
    assert small["fits"] and small["tokens_per_s"] == 22.2 and small["memory_gb"] == pytest.approx(1.1, abs=0.01)
    half = registry.estimate(494_000_000, CPU, 22.2)
    assert half["fits"] and half["tokens_per_s"] == pytest.approx(6.0, abs=0.1)
    big = registry.estimate(1_540_000_000, CPU, 22.2)
    assert not big["fits"] and big["verdict"] == "needs a GPU (too slow on this CPU)"
    huge = registry.estimate(7_620_000_000, CPU, 22.2)
    assert huge["verdict"] == "needs a GPU (does not fit in RAM)" and huge["memory_gb"] > 30
    gpu = registry.estimate(7_620_000_000, {"device": "cuda", "ram_gb": 64, "gpu_gb": 80, "gpu": "H100"}, 22.2)
    assert gpu["fits"] and gpu["memory_gb"] == pytest.approx(7.62e9 * 2 * 1.2 / 2**30 + 0.5, abs=0.01)


def test_describe_names_engines_device_and_calibration(data_dir):
    row = registry.describe(registry.bundled_entry(), CPU, data_dir)
    assert row["engines"] == ["hf", "ct2", "ct2-int8"] and row["device"] == "cpu"
    assert "bench/results/engine.json" in row["estimate_source"]
    registry.record_speed(data_dir, registry.BUNDLED_NAME, "ct2", 30.0, rows=1)
    row = registry.describe(registry.list_models(data_dir)[0], CPU, data_dir)
    assert row["tokens_per_s"] == 30.0 and row["estimate_source"].startswith("measured here")
    assert row["measured_tokens_per_s"] == {"ct2": {"tokens_per_s": 30.0, "rows": 1}}


def test_lora_targets_per_architecture():
    from core.training.lora_targets import target_modules

    attention = ("q_proj", "k_proj", "v_proj", "o_proj")
    everything = attention + ("gate_proj", "up_proj", "down_proj")
    for arch in ("llama", "qwen2", "mistral", "gemma", "gemma2"):
        assert target_modules(arch, attention) == list(attention)
    assert target_modules("phi", everything) == ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"]
    assert target_modules("phi3", attention) == ["qkv_proj", "o_proj"]
    assert target_modules("phi3", everything) == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert target_modules("something-new", ["c_attn"]) == ["c_attn"]


def test_chat_template_and_stop_tokens_come_from_the_tokenizer(model_data_dir):
    from transformers import AutoTokenizer

    from core.runtime.generation import chat_input_ids, eos_ids

    folder = model_data_dir / "models" / "smollm2-135m-instruct"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert eos_ids(tokenizer) == {im_end}
    tokenizer.eos_token = "<|endoftext|>"  # a model whose eos is not its end of turn (Llama 3 style)
    assert eos_ids(tokenizer) == {tokenizer.convert_tokens_to_ids("<|endoftext|>"), im_end}
    tokenizer.chat_template = None
    with pytest.raises(NoChatTemplate, match="has no chat template") as info:
        chat_input_ids(tokenizer, [{"role": "user", "content": "hi"}])
    assert "instruct" in info.value.hint
    plain = model_data_dir.parent / "no-template"
    shutil.copytree(folder, plain, copy_function=shutil.copy)
    (plain / "chat_template.jinja").unlink()
    from core.runtime import models

    models._load_tokenizer_cached.cache_clear()
    with pytest.raises(NoChatTemplate):
        models._load_tokenizer_cached(str(plain))


def test_an_adapter_of_another_base_is_refused_by_name(model_data_dir):
    from core.training import adapters
    from core.training.adapter_checks import AdapterError, check_adapter_folder
    from tests.helpers.adapters import make_random_adapter

    folder = make_random_adapter(model_data_dir, "mine")
    meta = json.loads((folder / "meta.json").read_text())
    check_adapter_folder(folder)  # an older adapter (no base name recorded) still loads
    assert adapters.get_adapter("mine").base_name == registry.BUNDLED_NAME
    other = shutil.copytree(folder, folder.with_name("theirs"))
    (other / "meta.json").write_text(json.dumps({**meta, "name": "theirs", "base_model_name": "tiny-qwen2",
                                                 "base_weights": "0123456789abcdef"}))
    with pytest.raises(AdapterError) as info:
        check_adapter_folder(other)
    assert info.value.message == ("Adapter 'theirs' was trained on base model 'tiny-qwen2'; the active model is "
                                  "'SmolLM2-135M-Instruct', so it is refused.")
    assert "--model tiny-qwen2" in info.value.hint
    same_name = folder.with_name("retrained")
    shutil.copytree(folder, same_name)
    (same_name / "meta.json").write_text(json.dumps({**meta, "base_model_name": registry.BUNDLED_NAME,
                                                     "base_weights": "0123456789abcdef"}))
    with pytest.raises(AdapterError, match="other weights of 'SmolLM2-135M-Instruct'"):
        check_adapter_folder(same_name)
    assert {r.name for r in adapters.list_adapters(active_model_only=True)} == {"mine", "retrained"}
    assert {r.name for r in adapters.list_adapters()} == {"mine", "theirs", "retrained"}


def test_cli_models_add_list_use_and_global_model_option(data_dir, tmp_path, capsys, monkeypatch):
    from core.__main__ import main

    monkeypatch.setenv("CROSSROADS_MODEL", "")  # restored after the test: --model sets it for the process

    folder = fake_checkpoint(tmp_path / "cli-model")
    assert main(["models", "add", str(folder), "--name", "cli-model"]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"] == "qwen2"
    assert main(["models", "list"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["active"]) for r in rows] == [(registry.BUNDLED_NAME, True), ("cli-model", False)]
    assert {"memory_gb", "tokens_per_s", "verdict", "engines", "device", "params", "disk_bytes"} <= set(rows[1])
    assert main(["models", "use", "cli-model"]) == 0
    capsys.readouterr()
    assert main(["info", "--model", registry.BUNDLED_NAME]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == {"name": registry.BUNDLED_NAME, "active": "cli-model", "overridden_by": "CROSSROADS_MODEL"}
    assert main(["models", "add", "Qwen/Qwen2-0.5B", "--name", "q"]) == 1
    assert "never downloads" in capsys.readouterr().err


def test_timings_and_the_wizard_keep_one_base_model(data_dir):
    from core.decision.engine import recommend
    from core.decision.evidence import report_models
    from core.runtime.answer_times import record_answers, single_answer_latency
    from core.runtime.settings import Settings

    record_answers("compare", {"base": {"total_ms": 100.0, "tokens": 10}}, 64, Settings(data_dir=data_dir))
    record_answers("compare", {"base": {"total_ms": 900.0, "tokens": 10}}, 64,
                   Settings(data_dir=data_dir, generator="/m", model_name="big"))
    assert single_answer_latency(data_dir, registry.BUNDLED_NAME)["base"]["p50_ms"] == 100.0
    assert single_answer_latency(data_dir, "big")["base"]["p50_ms"] == 900.0
    assert single_answer_latency(data_dir)["base"]["n"] == 2

    delta = {"metric": "contains", "mean": 0.3, "low": 0.1, "high": 0.5}
    report = {"n": 20, "kind": "qa", "deltas": {"rag-base": {"contains": delta}},
              "meta": {"model": "big"}, "engine": {"model": "big"}}
    assert report_models(report) == ["big"]
    assert recommend({}, report)["evidence"]["model"] == "big"
    mixed = {**report, "engine": {"model": "small"}}
    record = recommend({}, mixed)
    assert not record["evidence"]["used"] and record["evidence"]["models"] == ["big", "small"]
    assert any("mixes answers of 2 base models (big, small)" in note for note in record["notes"])
