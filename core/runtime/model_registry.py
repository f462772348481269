"""The base models this workspace knows, and the one that is active (issue 26).

`DATA_DIR/model_registry.json` holds the bundled SmolLM2-135M-Instruct (always there, never
stored) plus models added from a local transformers folder or a local GGUF file, the name of the
active one, and the speeds measured with each. Nothing here downloads or loads a model: facts are
read from files (config.json, safetensors / GGUF headers), and a path that is not on this disk is
refused with the way to fetch it elsewhere.

Estimates, stated so they can be checked (see README "Bring your own model"):
- memory to answer = parameters x bytes per parameter (4 in float32 on the CPU, 2 in bf16 on
  CUDA) x 1.2 (activations, KV cache, runtime buffers) + 0.5 GB (Python, torch, tokenizer);
- tokens/s = the bundled model's measured tokens/s x min(1, its parameters / these parameters):
  decoding reads every weight once per token, so speed falls with size. Calibrated from the
  newest measurement of the bundled model (this workspace's own, else bench/results/engine.json);
  pessimistic for models well above 135M (a small model pays a fixed per-token overhead);
- fits this machine when the memory is at most 80% of RAM (or of GPU memory on CUDA) and the
  estimated speed is at least USABLE_TOKENS_PER_S; on a CPU below that: "needs a GPU".
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.runtime.errors import ConfigError, ModelNotFound
from core.runtime.model_files import ModelRefused, inspect_path, read_json_file, sampled_hash
from core.runtime.settings import BUNDLED_GENERATOR, Settings

REGISTRY_FILE = "model_registry.json"
BUNDLED_NAME = "SmolLM2-135M-Instruct"
BUNDLED_PARAMS = 134_515_008  # the bundled checkpoint's parameter count (tied embeddings once)
BUNDLED_TOKENS_PER_S = 22.2  # ct2 float32, one stream, bench/results/engine.json (2-core VM)
USABLE_TOKENS_PER_S = 5.0  # below this a 128-token answer takes over 25 s: not usable interactively
MEMORY_OVERHEAD = 1.2
MEMORY_FIXED_GB = 0.5
RAM_SHARE = 0.8
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_lock = threading.Lock()


@dataclass
class ModelEntry:
    name: str
    path: str  # absolute folder (transformers) or .gguf file; "bundled" for the bundled model
    kind: str  # transformers | gguf
    architecture: str
    params: int
    disk_bytes: int
    weights_hash: str
    context_window: int | None = None
    added: str | None = None
    bundled: bool = False
    measured: dict = field(default_factory=dict)  # engine -> tokens/s measured in this workspace

    @property
    def generator(self) -> str:
        """The Settings.generator value that loads this model."""
        return BUNDLED_GENERATOR if self.bundled else self.path

    def as_dict(self) -> dict:
        return asdict(self)


def bundled_entry() -> ModelEntry:
    from core.runtime.models import bundled_gguf_path

    try:
        gguf = bundled_gguf_path()
        size, digest = gguf.stat().st_size, sampled_hash([gguf])
    except ModelNotFound:
        size, digest = 0, "unavailable"
    return ModelEntry(BUNDLED_NAME, "bundled", "gguf", "llama", BUNDLED_PARAMS, size, digest, 8192, None, True)


_bundled: ModelEntry | None = None


def _bundled_cached() -> ModelEntry:
    global _bundled
    if _bundled is None:
        _bundled = bundled_entry()
    return ModelEntry(**asdict(_bundled))


# ------------------------------------------------------------------------------- the registry file


def registry_path(data_dir: Path) -> Path:
    return Path(data_dir) / REGISTRY_FILE


def _load(data_dir: Path) -> dict:
    data = read_json_file(registry_path(data_dir))
    models = data.get("models") if isinstance(data.get("models"), list) else []
    return {"active": data.get("active"), "models": [m for m in models if isinstance(m, dict)],
            "measured": data.get("measured") if isinstance(data.get("measured"), dict) else {}}


def _save(data_dir: Path, data: dict) -> None:
    path = registry_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def list_models(data_dir: Path) -> list[ModelEntry]:
    """The bundled model first, then the added ones in the order they were added."""
    data = _load(data_dir)
    known = {f.name for f in ModelEntry.__dataclass_fields__.values()}
    entries = [_bundled_cached()]
    for raw in data["models"]:
        try:
            entries.append(ModelEntry(**{k: v for k, v in raw.items() if k in known}))
        except TypeError:  # an entry missing a field: skipped, the rest still listed
            continue
    for entry in entries:
        entry.measured = dict(data["measured"].get(entry.name) or {})
    return entries


def find(data_dir: Path, name: str) -> ModelEntry:
    for entry in list_models(data_dir):
        if entry.name == name:
            return entry
    raise ConfigError(f"No model named {name!r} in this workspace.",
                      hint="See `python -m core models list`; add one with `python -m core models add PATH --name NAME`.")


def active_name(data_dir: Path) -> str:
    """The active model's name (the bundled one when none was chosen, or the chosen one is gone);
    read from the file alone (settings call it in every process)."""
    data = _load(data_dir)
    name = data["active"]
    return name if isinstance(name, str) and any(m.get("name") == name for m in data["models"]) else BUNDLED_NAME


def active(data_dir: Path) -> ModelEntry:
    return find(data_dir, active_name(data_dir))


def current_entry(settings: Settings) -> ModelEntry | None:
    """The registry entry of the settings' generator (None for a CROSSROADS_GENERATOR folder
    that was never added)."""
    for entry in list_models(settings.data_dir):
        if entry.name == settings.model_name and entry.generator == settings.generator:
            return entry
    return None


def name_for_generator(data_dir: Path, generator: str) -> str:
    """The registry name of a generator setting (CROSSROADS_GENERATOR, a job's child process),
    else the folder's name."""
    if generator == BUNDLED_GENERATOR:
        return BUNDLED_NAME
    for entry in list_models(data_dir):
        if entry.path == generator or (not entry.bundled and Path(entry.path) == Path(generator).expanduser()):
            return entry.name
    return Path(generator).name or generator


def add(data_dir: Path, path: str | Path, name: str, *, activate: bool = False) -> ModelEntry:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ModelRefused(f"{name!r} is not a valid model name.",
                           hint="Use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    entry = ModelEntry(name=name, **inspect_path(path))
    with _lock:
        data = _load(data_dir)
        if any(e.name == name for e in list_models(data_dir)):
            raise ModelRefused(f"A model named {name!r} is already in this workspace.", hint="Choose another name.")
        same = next((m for m in data["models"] if m.get("path") == entry.path), None)
        if same:
            raise ModelRefused(f"{entry.path} is already added as {same.get('name')!r}.", hint="Use that entry.")
        data["models"].append({k: v for k, v in entry.as_dict().items() if k not in ("measured", "bundled")})
        if activate:
            data["active"] = name
        _save(data_dir, data)
    return entry


def use(data_dir: Path, name: str) -> ModelEntry:
    """Make `name` the active model of this workspace."""
    entry = find(data_dir, name)
    if not entry.bundled and not Path(entry.path).exists():
        raise ModelRefused(f"The files of {name!r} are gone from {entry.path}.",
                           hint="Copy them back, or remove the model and add it again from its new place.")
    with _lock:
        data = _load(data_dir)
        data["active"] = name
        _save(data_dir, data)
    return entry


def remove(data_dir: Path, name: str) -> None:
    if name == BUNDLED_NAME:
        raise ModelRefused("The bundled model cannot be removed.")
    find(data_dir, name)
    with _lock:
        data = _load(data_dir)
        data["models"] = [m for m in data["models"] if m.get("name") != name]
        if data.get("active") == name:
            data["active"] = BUNDLED_NAME
        _save(data_dir, data)


def record_speed(data_dir: Path, name: str, engine: str, tokens_per_s: float, rows: int = 1) -> None:
    """Keep the newest measured speed of a model on an engine (shown on the Models page): tokens/s
    of one answer, with how many answers were generated together (`rows`)."""
    if not tokens_per_s or tokens_per_s <= 0:
        return
    with _lock:
        data = _load(data_dir)
        data["measured"].setdefault(name, {})[engine] = {"tokens_per_s": round(float(tokens_per_s), 1), "rows": rows}
        try:
            _save(data_dir, data)
        except OSError:  # a measurement is a nicety: never fail an answer over it
            pass


# ------------------------------------------------------------------------------- estimates


def _ct2_supports(architecture: str) -> bool:
    """Whether CTranslate2's converter knows this architecture (by its transformers config class)."""
    try:
        from ctranslate2.converters import transformers as ct2t
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:
        return False
    return CONFIG_MAPPING_NAMES.get(architecture) in getattr(ct2t, "_MODEL_LOADERS", {})


def machine_facts() -> dict:
    """Device, RAM and (on CUDA) GPU memory of this machine."""
    import psutil

    facts = {"device": "cpu", "ram_gb": psutil.virtual_memory().total / 2**30, "gpu_gb": None, "gpu": None}
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            facts.update(device="cuda", gpu_gb=props.total_memory / 2**30, gpu=props.name)
    except ImportError:
        pass
    return facts


def calibration(data_dir: Path | None = None) -> tuple[float, str]:
    """(tokens/s of the bundled model, where that figure comes from)."""
    if data_dir is not None:
        measured = _load(data_dir)["measured"].get(BUNDLED_NAME) or {}
        for engine in ("ct2", "hf"):  # one answer at a time: what the estimate predicts
            figure = measured.get(engine)
            if isinstance(figure, dict) and figure.get("rows") == 1 and figure.get("tokens_per_s"):
                return float(figure["tokens_per_s"]), f"measured here ({engine}, one answer at a time)"
    try:
        from core.runtime.engines.fidelity import SPEED_RESULTS

        bench = json.loads(SPEED_RESULTS.read_text(encoding="utf-8"))
        value = bench["engines"]["ct2"]["single_stream"]["streamed_tokens_per_s"]
        return float(value), "bench/results/engine.json (ct2 float32, one stream)"
    except (OSError, ValueError, KeyError, TypeError):
        return BUNDLED_TOKENS_PER_S, "bench/results/engine.json (ct2 float32, one stream)"


def estimate(params: int, facts: dict, base_tps: float) -> dict:
    """Memory (GB), tokens/s and the verdict for a model of `params` parameters on this machine."""
    cuda = facts["device"] == "cuda"
    bytes_per = 2 if cuda else 4
    memory = params * bytes_per * MEMORY_OVERHEAD / 2**30 + MEMORY_FIXED_GB
    # on CUDA the bundled calibration (a CPU figure) says nothing: no speed estimate there
    # a smaller model still pays the per-token overhead: never estimated faster than the bundled one
    tps = None if cuda else base_tps * min(1.0, BUNDLED_PARAMS / max(params, 1))
    budget = (facts["gpu_gb"] if cuda else facts["ram_gb"]) * RAM_SHARE
    if memory > budget:
        verdict = "too large for this GPU" if cuda else "needs a GPU (does not fit in RAM)"
    elif tps is not None and tps < USABLE_TOKENS_PER_S:
        verdict = "needs a GPU (too slow on this CPU)"
    else:
        verdict = "fits this machine"
    return {"memory_gb": round(memory, 2), "tokens_per_s": round(tps, 1) if tps is not None else None,
            "fits": verdict == "fits this machine", "verdict": verdict, "device": facts["device"],
            "budget_gb": round(budget, 1)}


def describe(entry: ModelEntry, facts: dict | None = None, data_dir: Path | None = None) -> dict:
    """A row for the Models page and `models list`: the entry, its estimates, engines and device."""
    facts = facts or machine_facts()
    base_tps, source = calibration(data_dir)
    engines = ["hf"] + (["ct2", "ct2-int8"] if facts["device"] == "cpu" and _ct2_supports(entry.architecture) else [])
    return {**entry.as_dict(), **estimate(entry.params, facts, base_tps), "engines": engines,
            "estimate_source": source, "measured_tokens_per_s": entry.measured or None}
