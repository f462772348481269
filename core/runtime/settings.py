"""One settings object for the whole app, read from the environment.

Importing this module makes the process offline before transformers, datasets or chromadb
are imported anywhere: no hub call, no telemetry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_name, _value)

BUNDLED_GENERATOR = "bundled:smollm2-135m-instruct"
BUNDLED_EMBEDDER = "bundled:all-minilm-l6-v2"


def _detect_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    generator: str = field(
        default=BUNDLED_GENERATOR,
        metadata={"help": "Generator model: the bundled SmolLM2-135M-Instruct, a local folder or a cached hub id."},
    )
    embedder: str = field(
        default=BUNDLED_EMBEDDER,
        metadata={"help": "Embedding model: the bundled all-MiniLM-L6-v2 or a local sentence-transformers folder."},
    )
    # The registry name of the generator (core/runtime/model_registry.py): named in adapters,
    # reports, exchanges and the wizard's evidence.
    model_name: str = "SmolLM2-135M-Instruct"
    device: str = field(default="auto", metadata={"help": "auto (cuda when present, else cpu), cuda or cpu."})
    engine: str = field(
        default="auto",
        metadata={"help": "Generation engine: auto (ct2 on CPU, hf on CUDA), hf (transformers + PEFT, the fp32 reference), ct2 (CTranslate2 float32, faithful) or ct2-int8 (CTranslate2 int8: fast, approximate)."},
    )
    chroma_host: str | None = None
    chroma_port: int | None = None

    @property
    def resolved_device(self) -> str:
        return _detect_device() if self.device == "auto" else self.device

    @property
    def dtype_name(self) -> str:
        # bf16 on CPU crashed here (oneDNN uses AMX the VM does not enable) and was slower anyway.
        return "bfloat16" if self.resolved_device == "cuda" else "float32"

    @property
    def chroma_mode(self) -> str:
        return "server" if self.chroma_host else "embedded"

    def path(self, *parts: str) -> Path:
        return self.data_dir.joinpath(*parts)

    def with_data_dir(self, data_dir: str | Path) -> Settings:
        return replace(self, data_dir=Path(data_dir))


def _from_env() -> Settings:
    env = os.environ
    port = env.get("CROSSROADS_CHROMA_PORT")
    host = env.get("CROSSROADS_CHROMA_HOST") or None
    if port and not port.isdigit():
        from core.runtime.errors import ConfigError

        raise ConfigError(f"CROSSROADS_CHROMA_PORT must be a number, got {port!r}.")
    data_dir = Path(env.get("CROSSROADS_DATA_DIR", "data")).expanduser().resolve()
    generator, model_name = _generator_from_env(env, data_dir)
    return Settings(
        data_dir=data_dir,
        generator=generator,
        model_name=model_name,
        embedder=env.get("CROSSROADS_EMBEDDER", BUNDLED_EMBEDDER),
        device=env.get("CROSSROADS_DEVICE", "auto"),
        engine=env.get("CROSSROADS_ENGINE", "auto").strip().lower() or "auto",
        chroma_host=host,
        chroma_port=int(port) if port else (8000 if host else None),
    )


def _generator_from_env(env, data_dir: Path) -> tuple[str, str]:
    """(generator setting, model name): CROSSROADS_MODEL (a registry name, what `--model` sets)
    first, then CROSSROADS_GENERATOR (a folder: the old override, and what a job's child process
    gets), else the workspace's active model."""
    from core.runtime import model_registry

    if name := env.get("CROSSROADS_MODEL"):
        return model_registry.find(data_dir, name).generator, name
    if generator := env.get("CROSSROADS_GENERATOR"):
        return generator, model_registry.name_for_generator(data_dir, generator)
    name = model_registry.active_name(data_dir)
    if name == model_registry.BUNDLED_NAME:
        return BUNDLED_GENERATOR, name
    return model_registry.find(data_dir, name).generator, name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (environment read once; tests call `reset_settings`)."""
    return _from_env()


def reset_settings() -> None:
    get_settings.cache_clear()
