"""Checks an adapter folder against the base model, and the one checked way to load adapters.

The checks need the base model's checkpoint (config and weight shapes, read from files), not
the loader: runtime/models.py only loads, this module decides what may be loaded.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from core.runtime.errors import CrossroadsError
from core.runtime.settings import BUNDLED_GENERATOR, Settings, get_settings

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
META = "meta.json"
ALLOWED_FILES = {WEIGHTS, CONFIG, META, "README.md"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ZIP_BYTES = 1024 * 1024 * 1024
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024
BUNDLED_BASE_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the bundled GGUF was converted from
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


def portable_base_name(settings: Settings | None = None) -> str:
    """The base model's name as another machine knows it (never a local path of this one)."""
    generator = (settings or get_settings()).generator
    if generator == BUNDLED_GENERATOR:
        return BUNDLED_BASE_NAME
    return Path(generator).name if Path(generator).expanduser().exists() else generator


def base_identity(settings: Settings | None = None) -> dict:
    """What an adapter records about its base model: the setting that loads it, its registry name
    and the hash of its weight files (core/runtime/model_registry.py)."""
    from core.runtime import model_registry

    settings = settings or get_settings()
    entry = model_registry.current_entry(settings)
    return {"base_model": settings.generator, "base_model_name": settings.model_name,
            "base_weights": entry.weights_hash if entry else None}


def base_name_of(meta: dict, config: dict | None = None) -> str:
    """The base model's registry name an adapter's meta records (older adapters: from base_model)."""
    from core.runtime import model_registry

    if meta.get("base_model_name"):
        return str(meta["base_model_name"])
    base = meta.get("base_model") or (config or {}).get("base_model_name_or_path") or "?"
    if str(base).startswith("bundled:") or base == BUNDLED_BASE_NAME or Path(str(base)).name == "smollm2-135m-instruct":
        return model_registry.BUNDLED_NAME  # the setting, the hub name, or the converted folder
    return Path(str(base)).name or str(base)


def _check_base(folder: Path, meta: dict, settings: Settings) -> None:
    """Refuse an adapter recorded for another base model, naming both and the way to use it."""
    from core.runtime import model_registry

    theirs = base_name_of(meta)
    their_weights = meta.get("base_weights")
    entry = model_registry.current_entry(settings)
    other_name = bool(meta.get("base_model_name")) and theirs != settings.model_name
    other_weights = bool(their_weights) and entry is not None and their_weights != entry.weights_hash
    if other_name or other_weights:
        why = (f"base model {theirs!r}" if other_name
               else f"other weights of {theirs!r} (hash {their_weights}, the active one's is {entry.weights_hash})")
        raise AdapterError(
            f"Adapter {folder.name!r} was trained on {why}; the active model is {settings.model_name!r}, so it is refused.",
            hint=f"Switch to {theirs} on the Models page (or pass `--model {theirs}`) to use it, or train a new "
                 f"adapter on {settings.model_name}.")


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
MAX_RANK = 512
# Largest entry of a module's weight change (alpha/r * B @ A). Honest LoRA training moves a
# weight by hundredths (the bundled model's own weights are below ~10); a change of this size
# already swamps the layer, and much larger finite values overflow to inf and empty the output.
MAX_DELTA_ABS = 10.0
# The adapter_config.json fields we accept, each with the values that leave the base model as it
# is: an allow-list, so an option PEFT adds later is refused until someone reads what it does.
# Refused by what they allow: extra trained layers (modules_to_save), biases, DoRA magnitudes,
# replicated layers, per-module ranks, and every initialisation that reads or rewrites the base
# weights at load time (PiSSA, OLoRA, EVA, LoftQ, CorDA, LoRA-GA, ...): PEFT runs those on the
# shared base model, so one import would change every arm's answers.
_NOTHING = (None, False, [], {}, "")


def _text(v) -> bool:
    return v is None or isinstance(v, str)


def _names(v) -> bool:
    return _text(v) or (isinstance(v, list) and all(isinstance(x, str) for x in v))


def _layers(v) -> bool:
    whole = lambda x: isinstance(x, int) and not isinstance(x, bool)  # noqa: E731
    return v is None or whole(v) or (isinstance(v, list) and all(whole(x) for x in v))


_ALLOWED_FIELDS = {
    "peft_type": lambda v: str(v).upper() == "LORA",
    "task_type": lambda v: v in (None, "CAUSAL_LM"),
    "auto_mapping": lambda v: v is None or (isinstance(v, dict) and all(_text(x) for x in v.values())),
    "peft_version": _text, "base_model_name_or_path": _text, "revision": _text,
    "inference_mode": lambda v: isinstance(v, bool),
    "r": lambda v: True, "lora_alpha": lambda v: True,  # checked below, with their own messages
    "target_modules": _names, "exclude_modules": _names, "layers_to_transform": _layers, "layers_pattern": _names,
    "lora_dropout": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1,
    "fan_in_fan_out": lambda v: v is False,
    "bias": lambda v: v == "none",
    "use_rslora": lambda v: isinstance(v, bool),
    "init_lora_weights": lambda v: v is True or v is False or v == "gaussian",
    "megatron_core": lambda v: v in (None, "megatron.core"),  # a module name PEFT imports: only its default
    "qalora_group_size": lambda v: isinstance(v, int),  # unused while use_qalora is off
    "ensure_weight_tying": lambda v: v is False,
    **dict.fromkeys((
        "modules_to_save", "trainable_token_indices", "target_parameters", "layer_replication", "use_dora",
        "rank_pattern", "alpha_pattern", "loftq_config", "eva_config", "corda_config", "lora_ga_config",
        "velora_config", "monteclora_config", "arrow_config", "kasa_config", "megatron_config",
        "alora_invocation_tokens", "use_qalora", "lora_bias", "use_bdlora", "runtime_config"),
        lambda v: v in _NOTHING),
}
_WHY_REFUSED = {
    "modules_to_save": "trains and replaces whole base layers",
    "trainable_token_indices": "replaces token embeddings",
    "target_parameters": "targets raw parameters",
    "layer_replication": "duplicates base layers",
    "use_dora": "adds DoRA magnitude vectors",
    "rank_pattern": "gives modules their own ranks",
    "alpha_pattern": "gives modules their own scales",
    "bias": "changes the base model's biases",
    "init_lora_weights": "initialises from (and rewrites) the base model's weights when loaded",
    "loftq_config": "rewrites the base model's weights when loaded (LoftQ)",
    "eva_config": "initialises from the base model's activations when loaded (EVA)",
    "corda_config": "rewrites the base model's weights when loaded (CorDA)",
    "lora_ga_config": "rewrites the base model's weights when loaded (LoRA-GA)",
}


def _check_config(config: dict) -> tuple[int, float]:
    """(rank, scale) of a LoRA config that changes nothing but A/B pairs, else AdapterError."""
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterError(f"{CONFIG} is not a LoRA adapter config (peft_type={config.get('peft_type')!r}).")
    for field, value in config.items():
        accepts = _ALLOWED_FIELDS.get(field)
        if accepts is None:
            raise AdapterError(f"Refused: {CONFIG} sets {field!r}, an option this app does not accept.",
                               hint="Only plain LoRA adapters (A/B matrices on the base layers) are accepted.")
        if not accepts(value):
            what = _WHY_REFUSED.get(field, "is not a plain LoRA setting")
            raise AdapterError(f"Refused: {CONFIG} sets {field}={str(value)[:80]!r}, which {what}.",
                               hint="Only plain LoRA adapters (A/B matrices on the base layers, bias='none', "
                                    "standard initialisation) are accepted.")
    rank, alpha = config.get("r"), config.get("lora_alpha", 8)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_RANK:
        raise AdapterError(f"Refused: {CONFIG} has rank r={rank!r}; it must be a whole number from 1 to {MAX_RANK}.")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or not 0 < alpha <= 1e4:
        raise AdapterError(f"Refused: {CONFIG} has lora_alpha={alpha!r}; it must be a positive number up to 10000.")
    scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    return rank, scale


def check_adapter_folder(folder: Path, settings: Settings | None = None) -> dict:
    """Raise AdapterError unless `folder` holds a safe LoRA adapter for our base model.

    Returns the adapter config. Checks: no pickle files; config is plain LoRA (no
    modules_to_save, biases, DoRA, per-module ranks); meta / fingerprint match the base model;
    every tensor is a LoRA A or B of a base layer, A is (r x in) and B is (out x r) of that layer,
    each module has both; weights finite, and the weight change they make is bounded.
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
    rank, scale = _check_config(config)
    meta = read_json_object(folder / META)
    _check_base(folder, meta, settings)
    ours = base_fingerprint(settings)
    theirs = meta.get("base_fingerprint")
    if isinstance(theirs, dict) and theirs and ours and {k: theirs.get(k) for k in ours} != ours:
        raise AdapterError(
            f"This adapter was trained for another base model ({base_name_of(meta) if meta.get('base_model') else theirs.get('model_type')}); "
            f"the active model is {settings.model_name!r}.",
            hint="Import adapters trained on the same base model, or switch the active model on the Models page.")
    if not theirs and meta.get("base_model") and meta["base_model"] != settings.generator:
        raise AdapterError(f"This adapter was trained for {meta['base_model']}; this workspace uses {settings.generator}.",
                           hint="Import adapters trained on the same base model.")
    shapes = _base_shapes(settings)
    if shapes is None:
        raise AdapterError(f"The base model {settings.generator} has no safetensors weights to check adapters against.",
                           hint="Use the bundled generator or a local safetensors checkpoint.")
    pairs: dict[str, dict] = {}
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118
                pairs_for = _check_tensor(key, f.get_tensor(key), rank, shapes, settings)
                pairs.setdefault(pairs_for[0], {})[pairs_for[1]] = pairs_for[2]
    except SafetensorError as exc:
        raise AdapterError(f"{WEIGHTS} is not a valid safetensors file: {exc}.") from exc
    if not pairs:
        raise AdapterError(f"{WEIGHTS} holds no LoRA weights.")
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            missing = "B" if "A" in ab else "A"
            raise AdapterError(f"Refused: {module} has a LoRA {'A' if missing == 'B' else 'B'} matrix but no {missing}.")
        delta = float((ab["B"].float() @ ab["A"].float()).abs().max()) * scale
        if not delta <= MAX_DELTA_ABS:
            raise AdapterError(f"Refused: the adapter changes {module} by up to {delta:.3g} per weight "
                               f"(limit {MAX_DELTA_ABS:g}); answers with it would be garbage or empty.",
                               hint="The training run that produced it diverged; train again with a lower learning rate.")
    return config


def _check_tensor(key: str, tensor, rank: int, shapes: dict, settings: Settings):
    """(module, "A" | "B", tensor) for a LoRA matrix that fits its base layer, else AdapterError."""
    match = _LORA_KEY.match(key)
    if match is None:
        raise AdapterError(f"Refused: {key} is not a LoRA A/B matrix (an adapter may hold nothing else).",
                           hint="Only plain LoRA adapters are accepted.")
    if not tensor.is_floating_point():
        raise AdapterError(f"Tensor {key} is not floating point.")
    if not bool(tensor.isfinite().all()):
        raise AdapterError(f"Refused: tensor {key} holds NaN or infinite values.",
                           hint="The training run that produced it diverged; train again with a lower learning rate.")
    module, ab = match["module"], match["ab"]
    base = shapes.get(module + ".weight")
    if base is None or len(base) != 2:
        raise AdapterError(f"Refused: {module} does not exist in the base model {settings.generator}.",
                           hint="The adapter was trained for another base model.")
    out_features, in_features = base
    expected = (rank, in_features) if ab == "A" else (out_features, rank)
    if tuple(tensor.shape) != expected:
        raise AdapterError(
            f"Refused: {key} has shape {tuple(tensor.shape)}, which does not fit the base layer "
            f"({out_features}×{in_features}) at rank r={rank}: it must be {expected}.",
            hint="The adapter was trained for another base model, or its config does not match its weights.")
    return module, ab, tensor


def load_adapter_model(adapter_dirs: dict[str, str | Path], settings: Settings | None = None):
    """The shared base model with these adapters, after `check_adapter_folder` on each (safetensors
    only, the base model's fingerprint and layer shapes, finite weights). No adapter is active;
    use `adapter_names=` per row, or `with models.adapter_active(model, name):`.
    """
    from core.runtime.models import attach_adapters

    for folder in adapter_dirs.values():
        check_adapter_folder(Path(folder), settings)
    return attach_adapters({name: Path(folder) for name, folder in adapter_dirs.items()}, settings)
