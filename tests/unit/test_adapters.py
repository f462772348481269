"""Adapters: list / rename / delete / zip export + import, and the checks on untrusted zips."""

from __future__ import annotations

import errno
import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest

from core.training import adapters
from core.training.adapters import AdapterError


def _base_shape(model_dir: Path, key: str) -> tuple[int, int]:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as f:
        return tuple(f.get_slice(key).get_shape())


def make_adapter_files(folder: Path, data_dir: Path, *, rank=4, in_features=None, fill=0.01, meta=None,
                       rank_b=None, config=None, tensors=None, skip=()) -> Path:
    """A small valid LoRA adapter on layer 0's q_proj of the bundled base model (hand-made tensors).

    rank_b: B's rank when it should disagree with A's; config: keys merged into adapter_config.json;
    tensors: extra tensors in the weights file; skip: "A" / "B" to leave a matrix out.
    """
    import torch
    from safetensors.torch import save_file

    out_f, in_f = _base_shape(data_dir / "models" / "smollm2-135m-instruct", "model.layers.0.self_attn.q_proj.weight")
    in_f = in_features or in_f
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    weights = {f"{prefix}.lora_A.weight": torch.full((rank, in_f), fill),
               f"{prefix}.lora_B.weight": torch.full((out_f, rank_b or rank), fill), **(tensors or {})}
    weights = {k: v for k, v in weights.items() if not any(k.endswith(f"lora_{m}.weight") for m in skip)}
    save_file(weights, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank,
        "target_modules": ["q_proj"], "layers_to_transform": [0], "base_model_name_or_path": "x", **(config or {})}))
    if meta is not None:
        (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def zip_folder(folder: Path, extra: dict[str, bytes] | None = None, skip=()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for file in folder.iterdir():
            if file.name not in skip:
                zf.write(file, arcname=f"{folder.name}/{file.name}")
        for name, payload in (extra or {}).items():
            zf.writestr(name, payload)
    return buffer.getvalue()


@pytest.fixture
def valid_zip(model_data_dir, tmp_path) -> bytes:
    return zip_folder(make_adapter_files(tmp_path / "mine", model_data_dir, meta={"name": "mine"}))


def test_import_list_export_rename_delete(model_data_dir, valid_zip):
    record = adapters.import_zip(valid_zip)
    assert record.name == "mine" and record.meta["imported"] is True
    assert record.meta["base_fingerprint"]["hidden_size"] == 576
    assert [r.name for r in adapters.list_adapters()] == ["mine"]
    assert adapters.adapter_dir("mine") == model_data_dir / "adapters" / "mine"

    again = adapters.import_zip(adapters.export_zip("mine"), name="copy")
    assert again.name == "copy" and (again.path / "adapter_model.safetensors").is_file()
    with pytest.raises(AdapterError, match="already exists"):
        adapters.import_zip(valid_zip)

    adapters.rename("copy", "renamed")
    assert sorted(r.name for r in adapters.list_adapters()) == ["mine", "renamed"]
    assert adapters.get_adapter("renamed").meta["name"] == "renamed"
    with pytest.raises(AdapterError, match="already exists"):
        adapters.rename("mine", "renamed")
    adapters.delete("renamed")
    assert [r.name for r in adapters.list_adapters()] == ["mine"]
    assert not [p for p in (model_data_dir / "adapters").iterdir() if p.name.startswith(".")]


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_bin_adapter_is_refused_without_being_loaded(model_data_dir, tmp_path):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(marker))
    folder = make_adapter_files(tmp_path / "evil", model_data_dir)
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.bin").write_bytes(payload)
    with pytest.raises(AdapterError, match="pickle"):
        adapters.import_zip(zip_folder(folder))
    with pytest.raises(AdapterError, match="pickle"):
        adapters.check_adapter_folder(folder)
    from core.runtime.errors import CrossroadsError
    from core.training.adapter_checks import load_adapter_model

    with pytest.raises(CrossroadsError):
        load_adapter_model({"evil": folder})
    assert not marker.exists()
    pickle.loads(payload)  # the payload is real: loading it would have run it
    assert marker.exists()
    assert adapters.list_adapters() == []


def test_adapter_for_another_base_model_is_refused(model_data_dir, tmp_path):
    other = {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24}
    folder = make_adapter_files(tmp_path / "qwen", model_data_dir,
                                meta={"base_model": "Qwen/Qwen2.5-0.5B-Instruct", "base_fingerprint": other})
    with pytest.raises(AdapterError, match="another base model"):
        adapters.import_zip(zip_folder(folder))
    # Without any meta, the shapes still give it away.
    folder = make_adapter_files(tmp_path / "shapes", model_data_dir, in_features=896)
    with pytest.raises(AdapterError, match="does not fit the base layer"):
        adapters.import_zip(zip_folder(folder, skip=("meta.json",)), name="shapes")
    assert adapters.list_adapters() == []


def test_non_finite_weights_are_refused(model_data_dir, tmp_path):
    folder = make_adapter_files(tmp_path / "nan", model_data_dir, fill=float("nan"))
    with pytest.raises(AdapterError, match="NaN or infinite"):
        adapters.import_zip(zip_folder(folder), name="nan")
    assert adapters.list_adapters() == []


@pytest.mark.parametrize("member,match", [
    ("../../escape.json", "unsafe path"),
    ("/abs/adapter_config.json", "unsafe path"),
    ("mine/run.py", "unexpected file"),
    ("a/b/c/adapter_config.json", "nested"),
])
def test_unsafe_zip_members_are_refused(model_data_dir, tmp_path, member, match):
    folder = make_adapter_files(tmp_path / "mine", model_data_dir)
    with pytest.raises(AdapterError, match=match):
        adapters.import_zip(zip_folder(folder, extra={member: b"{}"}))
    assert not (tmp_path.parent / "escape.json").exists()


def test_not_a_zip_and_bad_names(model_data_dir, valid_zip):
    with pytest.raises(AdapterError, match="not a zip"):
        adapters.import_zip(b"hello")
    for bad in ("../x", ".hidden", "a/b", "x" * 65):
        with pytest.raises(AdapterError, match="not a valid adapter name"):
            adapters.import_zip(valid_zip, name=bad)


class _DiskFullModel:
    def save_pretrained(self, folder, **kw):
        Path(folder, "adapter_model.safetensors").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_publishing_keeps_the_previous_adapter(model_data_dir, valid_zip):
    before = adapters.import_zip(valid_zip)
    weights = (before.path / "adapter_model.safetensors").read_bytes()
    with pytest.raises(AdapterError, match="No space left") as info:
        adapters.publish_adapter(_DiskFullModel(), "mine", {"metrics": {}}, overwrite=True)
    assert "previous adapter is unchanged" in info.value.hint
    assert (before.path / "adapter_model.safetensors").read_bytes() == weights
    assert [p.name for p in (model_data_dir / "adapters").iterdir()] == ["mine"]  # no tmp folder left


# ---------------------------------------------------------------- every tensor against config and base


def _lm_head():
    import torch

    return {"base_model.model.lm_head.weight": torch.zeros(49152, 576)}


@pytest.mark.parametrize("kwargs,match", [
    ({"rank_b": 3}, r"lora_B.weight has shape \(576, 3\).*r=4"),
    ({"config": {"r": 8}}, r"lora_A.weight has shape \(4, 576\).*r=8"),
    ({"config": {"modules_to_save": ["lm_head"]}}, "modules_to_save"),
    ({"config": {"bias": "all"}}, "bias"),
    ({"config": {"use_dora": True}}, "DoRA"),
    ({"config": {"init_lora_weights": "pissa"}}, "rewrites"),  # PiSSA rewrote the shared base at load
    ({"config": {"init_lora_weights": "olora"}}, "rewrites"),
    ({"config": {"init_lora_weights": "eva", "eva_config": {"rho": 2.0}}}, "init_lora_weights|EVA"),
    ({"config": {"init_lora_weights": "loftq", "loftq_config": {"loftq_bits": 4}}}, "init_lora_weights|LoftQ"),
    ({"config": {"corda_config": {"corda_method": "kpm"}}}, "CorDA"),
    ({"config": {"some_future_option": True}}, "does not accept"),  # an allow-list, not a deny-list
    ({"config": {"rank_pattern": {"q_proj": 16}}}, "own ranks"),
    ({"config": {"r": 0}}, "rank r=0"),
    ({"config": {"lora_alpha": 1e400}}, "lora_alpha"),
    ({"tensors": "lm_head"}, "not a LoRA A/B matrix"),
    ({"skip": ("B",)}, "no B"),
    ({"fill": 3e38}, "changes model.layers.0.self_attn.q_proj by up to"),
    ({"fill": 2.0}, "limit 10"),
])
def test_adapters_that_are_more_or_other_than_lora_pairs_are_refused(model_data_dir, tmp_path, kwargs, match):
    if kwargs.get("tensors") == "lm_head":
        kwargs = {**kwargs, "tensors": _lm_head()}
    folder = make_adapter_files(tmp_path / "bad", model_data_dir, **kwargs)
    with pytest.raises(AdapterError, match=match):
        adapters.import_zip(zip_folder(folder), name="bad")
    assert adapters.list_adapters() == []


def _greedy(model, tokenizer, text="The capital of France is"):
    import torch

    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    return out[0].tolist()


def _snapshot(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_refused_attach_leaves_the_shared_base_model_as_it_was(model_data_dir, tmp_path):
    """Unchecked folders straight into the loader: PEFT fails mid-load (rank mismatch), or loads
    modules the file has no weights for (random init); either way the base is restored."""
    import torch
    from peft import get_peft_model_state_dict

    from core.runtime.errors import AdapterRefused
    from core.runtime.models import attach_adapters, load_generator
    from core.training.adapter_checks import load_adapter_model
    from tests.helpers.adapters import make_random_adapter

    base, tokenizer = load_generator()
    base_weights, base_answer = _snapshot(base), _greedy(base, tokenizer)
    base_modules = [type(m).__name__ for m in base.modules()]

    ranks = make_adapter_files(tmp_path / "ranks", model_data_dir, rank_b=3)
    phantom = make_adapter_files(tmp_path / "phantom", model_data_dir,
                                 config={"target_modules": ["q_proj", "k_proj"], "layers_to_transform": None,
                                         "init_lora_weights": False})
    for folder in (ranks, phantom):
        with pytest.raises(AdapterRefused):
            attach_adapters({folder.name: folder})
        assert _same(_snapshot(base), base_weights)
        assert [type(m).__name__ for m in base.modules()] == base_modules
        assert _greedy(base, tokenizer) == base_answer
    with pytest.raises(AdapterError, match="does not fit"):
        load_adapter_model({"ranks": ranks})  # the checked path refuses before loading anything
    assert _same(_snapshot(base), base_weights)

    good = make_random_adapter(model_data_dir, "good")
    model, _ = load_adapter_model({"good": good})
    assert "good" in model.peft_config and "ranks" not in model.peft_config and "phantom" not in model.peft_config
    # A refused attach next to a loaded adapter leaves both the base and the good adapter intact.
    good_state = {k: v.clone() for k, v in get_peft_model_state_dict(model, adapter_name="good").items()}
    with pytest.raises(AdapterRefused):
        attach_adapters({"phantom": phantom})
    assert set(model.peft_config) == {"good"}
    after = get_peft_model_state_dict(model, adapter_name="good")
    assert all(torch.equal(after[k], v) for k, v in good_state.items())
    assert _greedy(model, tokenizer) == base_answer  # nothing active: plain calls are the base model


def test_meta_json_that_is_not_json_is_refused_clearly(model_data_dir, tmp_path):
    folder = make_adapter_files(tmp_path / "meta", model_data_dir)
    for payload, match in ((b"{not json", "not valid JSON"), (b"[1, 2]", "not a JSON object"), (b"\xff\xfe", "not valid JSON")):
        (folder / "meta.json").write_bytes(payload)
        with pytest.raises(AdapterError, match=match):
            adapters.import_zip(zip_folder(folder), name="meta")
    assert adapters.list_adapters() == []


def test_export_writes_a_portable_config(model_data_dir, tmp_path):
    folder = make_adapter_files(tmp_path / "mine", model_data_dir, meta={"name": "mine"},
                                config={"base_model_name_or_path": str(model_data_dir / "models" / "smollm2-135m-instruct")})
    adapters.import_zip(zip_folder(folder))
    with zipfile.ZipFile(io.BytesIO(adapters.export_zip("mine"))) as zf:
        config = json.loads(zf.read("mine/adapter_config.json"))
        exported = {n: zf.read(n) for n in zf.namelist()}
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert str(model_data_dir) not in b"".join(exported.values()).decode("utf-8", "replace")
    assert config["r"] == 4 and config["target_modules"] == ["q_proj"]


def test_an_attach_that_rewrites_the_base_weights_is_undone_and_refused(model_data_dir, tmp_path):
    """Second line of defence behind the config allow-list: an unchecked PiSSA adapter straight
    into the loader rewrites the base weights at load; the hash check takes it out, drops the
    damaged model from the cache and refuses; the next load is the checkpoint's base model."""
    from core.runtime.errors import AdapterRefused
    from core.runtime.models import attach_adapters, base_weights_digest, load_generator

    base, tokenizer = load_generator()
    before, answer = base_weights_digest(base), _greedy(base, tokenizer)
    pissa = make_adapter_files(tmp_path / "pissa", model_data_dir, config={"init_lora_weights": "pissa"})
    with pytest.raises(AdapterRefused, match="changed the base model's own weights"):
        attach_adapters({"pissa": pissa})
    fresh, _ = load_generator()
    assert fresh is not base and base_weights_digest(fresh) == before
    assert _greedy(fresh, tokenizer) == answer


def test_an_adapter_replaced_under_the_same_name_is_loaded_again(model_data_dir, tmp_path):
    # retraining with --overwrite replaces the folder; hf used to keep serving the old weights
    import torch
    from peft import get_peft_model_state_dict

    from core.runtime.models import attach_adapters

    folder = make_adapter_files(tmp_path / "same", model_data_dir, fill=0.01)
    model, _ = attach_adapters({"same": folder})
    first = {k: v.clone() for k, v in get_peft_model_state_dict(model, adapter_name="same").items()}
    make_adapter_files(folder, model_data_dir, fill=0.02)  # new weights, same name and folder
    model, _ = attach_adapters({"same": folder})
    second = get_peft_model_state_dict(model, adapter_name="same")
    assert all(torch.allclose(second[k], 2 * first[k]) for k in first)
    again, _ = attach_adapters({"same": folder})  # unchanged weights: kept, not loaded a second time
    assert again is model and set(model.peft_config) >= {"same"}


def test_the_summary_shows_the_epochs_the_run_really_trained(tmp_path):
    """Max steps can stop a run early: a 5-epoch option that ran 1.67 epochs says 1.67."""
    from core.training.adapters import AdapterRecord

    meta = {"options": {"epochs": 5.0, "max_steps": 30}, "metrics": {"epochs": 1.667, "steps": 30}}
    row = AdapterRecord("a", tmp_path, meta, {}, 0).summary()
    assert row["epochs"] == 1.667 and row["steps"] == 30
    imported = AdapterRecord("b", tmp_path, {"options": {"epochs": 3.0}}, {}, 0).summary()
    assert imported["epochs"] == 3.0 and imported["steps"] is None
