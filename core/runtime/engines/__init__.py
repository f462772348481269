"""The generation engines behind `core.runtime.generation.Engine`, and the one per process.

`CROSSROADS_ENGINE` (Settings.engine): `auto` = ct2 on CPU, hf on CUDA; `hf` = transformers +
PEFT (the fp32 reference); `ct2` = CTranslate2 float32 (faithful to hf: see bench/fidelity.py);
`ct2-int8` = CTranslate2 int8, fast and approximate (its answers differ from the model's: it
re-quantizes already 4-bit weights), labelled so with its measured fidelity. `get_engine` loads the chosen engine once per
configuration; every engine still alive is closed at exit (a CTranslate2 Generator alive at
interpreter exit aborted the process).
"""

from __future__ import annotations

import atexit
import threading
import weakref

from core.runtime.errors import ConfigError
from core.runtime.generation import Engine, Progress
from core.runtime.settings import Settings, get_settings

# engine choice -> CTranslate2 quantization (hf has none: it runs the model's own dtype)
CT2_ENGINES = {"ct2": "float32", "ct2-int8": "int8"}
ENGINES = ("hf", *CT2_ENGINES)
_engines: dict[tuple, Engine] = {}
_live: weakref.WeakSet[Engine] = weakref.WeakSet()
_lock = threading.Lock()


def _cuda_available() -> bool:
    import ctranslate2  # asks the driver without importing torch

    return ctranslate2.get_cuda_device_count() > 0


def engine_name(settings: Settings | None = None) -> str:
    """The engine the settings choose: `hf`, `ct2` or `ct2-int8`."""
    settings = settings or get_settings()
    choice = settings.engine
    if choice == "auto":
        if settings.device == "cuda" or (settings.device == "auto" and _cuda_available()):
            return "hf"
        return "ct2"
    if choice not in ENGINES:
        raise ConfigError(f"CROSSROADS_ENGINE must be auto, hf, ct2 or ct2-int8, got {choice!r}.",
                          hint="Unset it for the default (ct2 float32 on CPU, hf on CUDA).")
    if choice in CT2_ENGINES and settings.device == "cuda":
        raise ConfigError("The ct2 engine runs on the CPU here.", hint="Use CROSSROADS_ENGINE=hf on CUDA.")
    return choice


def _key(settings: Settings, name: str) -> tuple:
    return name, str(settings.data_dir), settings.generator, settings.device


def engine_is_loaded(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return _key(settings, engine_name(settings)) in _engines


def engine_needs_preparing(settings: Settings | None = None) -> bool:
    """True when the first answer will convert the model first (about a minute)."""
    from core.runtime import models
    from core.runtime.engines import ct2_cache

    settings = settings or get_settings()
    name = engine_name(settings)
    if name in CT2_ENGINES:
        return not ct2_cache.ct2_generator_is_converted(settings, CT2_ENGINES[name])
    return not models.generator_is_converted(settings)  # a GGUF (bundled or added) converts first


def get_engine(settings: Settings | None = None, progress: Progress | None = None) -> Engine:
    """The configured engine, loaded (and its model converted, the first time) once per process."""
    settings = settings or get_settings()
    name = engine_name(settings)
    key = _key(settings, name)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            if name in CT2_ENGINES:
                from core.runtime.engines.ct2 import CT2Engine

                engine = CT2Engine(settings, progress, name=name, quantization=CT2_ENGINES[name])
            else:
                from core.runtime.engines.hf import HFEngine

                engine = HFEngine(settings, progress)
            if len(_engines) >= 2:  # like the model cache: the latest two configurations
                _engines.pop(next(iter(_engines)))
            _engines[key] = engine
            _live.add(engine)
        return engine


@atexit.register
def close_engines() -> None:
    """Release every engine's models now (also at interpreter exit)."""
    with _lock:
        _engines.clear()
        for engine in list(_live):
            engine.close()


def engine_caption(settings: Settings | None = None) -> str:
    """The configured engine with its measured fidelity and speed (Compare shows it)."""
    from core.runtime.engines import fidelity

    settings = settings or get_settings()
    name = engine_name(settings)
    return fidelity.engine_caption(name, CT2_ENGINES.get(name, settings.dtype_name), settings.generator)
