"""Checks an adapter folder against the base model, and the one checked way to load adapters.

The checks need the base model's checkpoint (config and weight shapes, read from files), not
the loader: runtime/models.py only loads, this module decides what may be loaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
META = "meta.json"
ALLOWED_FILES = {WEIGHTS, CONFIG, META, "README.md"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ZIP_BYTES = 1024 * 1024 * 1024
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024
FINGERPRINT_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "num_key_value_heads", "intermediate_size", "vocab_size")


class AdapterError(CrossroadsError):
    """An adapter cannot be found, imported, renamed or saved."""


def read_json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------------------------
# Base model checks


def base_config(settings: Settings | None = None) -> dict:
    from core.runtime.models import generator_path

    folder = Path(generator_path(settings or get_settings()))
    return read_json_object(folder / "config.json")


def base_fingerprint(settings: Settings | None = None) -> dict:
    config = base_config(settings)
    return {k: config.get(k) for k in FINGERPRINT_KEYS if k in config}


def _base_shapes(settings: Settings | None = None) -> dict[str, tuple[int, ...]] | None:
    """Weight shapes of the base checkpoint, read from safetensors headers (no tensor loaded)."""
    from safetensors import safe_open

    from core.runtime.models import generator_path

    folder = Path(generator_path(settings or get_settings()))
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def check_adapter_folder(folder: Path, settings: Settings | None = None) -> dict:
    """Raise AdapterError unless `folder` holds a safe LoRA adapter for our base model.

    Returns the adapter config. Checks: no pickle files; config is LoRA; meta / fingerprint
    match the base model; every LoRA matrix fits the base layer it targets; weights finite.
    """
    from safetensors import SafetensorError, safe_open

    settings = settings or get_settings()
    folder = Path(folder)
    pickles = [p.name for p in folder.iterdir() if p.name.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise AdapterError(f"Refused: {', '.join(pickles)} is a pickle file, which can run code when loaded.",
                           hint="Only safetensors adapters are accepted (adapter_model.safetensors).")
    if not (folder / WEIGHTS).is_file() or not (folder / CONFIG).is_file():
        raise AdapterError(f"An adapter needs {WEIGHTS} and {CONFIG}.",
                           hint="Export it with PEFT's save_pretrained (safetensors is the default).")
    config = read_json_object(folder / CONFIG)
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterError(f"{CONFIG} is not a LoRA adapter config (peft_type={config.get('peft_type')!r}).")
    meta = read_json_object(folder / META)
    ours = base_fingerprint(settings)
    theirs = meta.get("base_fingerprint")
    if theirs and ours and {k: theirs.get(k) for k in ours} != ours:
        raise AdapterError(
            f"This adapter was trained for another base model ({meta.get('base_model') or theirs.get('model_type')}); "
            f"this workspace uses {settings.generator}.",
            hint="Import adapters trained on the same base model, or switch the generator setting.")
    if not theirs and meta.get("base_model") and meta["base_model"] != settings.generator:
        raise AdapterError(f"This adapter was trained for {meta['base_model']}; this workspace uses {settings.generator}.",
                           hint="Import adapters trained on the same base model.")
    shapes = _base_shapes(settings)
    seen_modules = 0
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118
                tensor = f.get_tensor(key)
                if not tensor.is_floating_point():
                    raise AdapterError(f"Tensor {key} is not floating point.")
                if not bool(tensor.isfinite().all()):
                    raise AdapterError(f"Refused: tensor {key} holds NaN or infinite values.",
                                       hint="The training run that produced it diverged; train again with a lower learning rate.")
                match = _LORA_KEY.match(key)
                if match is None or shapes is None:
                    continue
                base = shapes.get(match["module"] + ".weight")
                if base is None or len(base) != 2 or tensor.dim() != 2:
                    raise AdapterError(f"Refused: {match['module']} does not exist in the base model {settings.generator}.",
                                       hint="The adapter was trained for another base model.")
                out_features, in_features = base
                ok = tensor.shape[1] == in_features if match["ab"] == "A" else tensor.shape[0] == out_features
                if not ok:
                    raise AdapterError(
                        f"Refused: {key} has shape {tuple(tensor.shape)}, which does not fit the base layer "
                        f"({out_features}×{in_features}).", hint="The adapter was trained for another base model.")
                seen_modules += 1
    except SafetensorError as exc:
        raise AdapterError(f"{WEIGHTS} is not a valid safetensors file: {exc}.") from exc
    if shapes is not None and seen_modules == 0:
        raise AdapterError(f"{WEIGHTS} holds no LoRA weights.")
    return config


def load_adapter_model(adapter_dirs: dict[str, str | Path], settings: Settings | None = None):
    """The shared base model with these adapters, after `check_adapter_folder` on each (safetensors
    only, the base model's fingerprint and layer shapes, finite weights). No adapter is active;
    use `adapter_names=` per row, or `with models.adapter_active(model, name):`.
    """
    from core.runtime.models import attach_adapters

    for folder in adapter_dirs.values():
        check_adapter_folder(Path(folder), settings)
    return attach_adapters({name: Path(folder) for name, folder in adapter_dirs.items()}, settings)
