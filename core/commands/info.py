"""`python -m core info`: versions, device, engine, model paths, data dir, conversion state."""

from __future__ import annotations

import os
import platform
from importlib import metadata

PACKAGES = ("streamlit", "langchain-core", "langchain-community", "langchain-chroma",
            "langchain-huggingface", "chromadb", "transformers", "peft", "torch", "ctranslate2", "datasets",
            "sentence-transformers", "pandas")


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="print versions, device, model paths and data dir as JSON")
    parser.set_defaults(func=run)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect_info() -> dict:
    from core.runtime import engines, model_registry, models
    from core.runtime.engines import ct2_cache
    from core.runtime.engines.fidelity import engine_fidelity, engine_speed
    from core.runtime.settings import get_settings
    from core.runtime.workspace import read_state

    settings = get_settings()
    state = read_state(settings)
    return {
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in PACKAGES},
        "device": settings.resolved_device,
        "dtype": settings.dtype_name,
        "data_dir": str(settings.data_dir),
        "model": {"name": settings.model_name, "active": model_registry.active_name(settings.data_dir),
                  "overridden_by": next((v for v in ("CROSSROADS_MODEL", "CROSSROADS_GENERATOR") if os.environ.get(v)), None)},
        "generator": {
            "setting": settings.generator,
            "gguf": str(models.bundled_gguf_path()),
            "converted_dir": str(models.converted_generator_dir(settings)) if models.generator_is_gguf(settings) else None,
            "converted": state.generator_ready,
        },
        "engine": {
            "setting": settings.engine,
            "in_use": (name := engines.engine_name(settings)),
            "quantization": engines.CT2_ENGINES.get(name, settings.dtype_name),
            "ct2_dir": str(ct2_cache.ct2_generator_dir(settings, engines.CT2_ENGINES.get(name, "float32"))),
            "ct2_converted": ct2_cache.ct2_generator_is_converted(settings, engines.CT2_ENGINES.get(name, "float32")),
            # measured against the fp32 reference (bench/fidelity.py), next to the measured speed
            "fidelity": engine_fidelity(name, settings.generator),
            "speed": engine_speed(name, settings.generator),
        },
        "embedder": {"setting": settings.embedder, "path": str(models.embedder_path(settings))},
        "chroma": {"mode": settings.chroma_mode, "host": settings.chroma_host, "port": settings.chroma_port},
        "workspace": {"knowledge_bases": list(state.knowledge_bases), "adapters": list(state.adapters),
                      "reports": list(state.reports)},
    }


def run(args) -> int:
    from core.__main__ import print_json

    print_json(collect_info())
    return 0
