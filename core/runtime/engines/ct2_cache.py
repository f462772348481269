"""The ct2 engine's models: CTranslate2 int8 copies of the generator and of each adapter, a
cache built once, safely (file lock, tmp folder, atomic rename, like the GGUF conversion in
`core.runtime.models`).

- the base model: `data/models/<name>-ct2-int8/`;
- an adapter: PEFT `merge_and_unload()` on a fresh fp32 copy of the base model, then converted,
  cached inside the adapter's folder as `.ct2-int8-<hash of its weights>/`: rebuilt when the
  weights change, deleted with the adapter, never in its zip (the zip holds the adapter files).

The conversion runs in a child process (`core.runtime.engines.convert`): the app process needs
no torch for the ct2 engine, and a converter crash is reported instead of killing the app.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from core.runtime.errors import ModelNotFound
from core.runtime.generation import Progress
from core.runtime.models import BUNDLED_GENERATOR_DIRNAME
from core.runtime.settings import BUNDLED_GENERATOR, Settings, get_settings

CT2_QUANTIZATION = "int8"
CT2_DIRNAME = f"ct2-{CT2_QUANTIZATION}"


class ModelConversionFailed(ModelNotFound):
    """Converting a model for the ct2 engine failed (or crashed the converter)."""


def ct2_generator_dir(settings: Settings | None = None) -> Path:
    """Where the configured generator's CTranslate2 int8 copy lives (it may not exist yet)."""
    settings = settings or get_settings()
    if settings.generator == BUNDLED_GENERATOR:
        name = BUNDLED_GENERATOR_DIRNAME
    else:
        name = hashlib.sha256(settings.generator.encode()).hexdigest()[:12]
    return settings.path("models", f"{name}-{CT2_DIRNAME}")


def _ct2_ready(folder: Path) -> bool:
    return (folder / "model.bin").is_file() and (folder / "config.json").is_file()


def ct2_generator_is_converted(settings: Settings | None = None) -> bool:
    return _ct2_ready(ct2_generator_dir(settings))


def adapter_weights_key(adapter_folder: Path) -> str:
    """The hash of an adapter's weights and of the config that scales them: its ct2 copy is
    rebuilt when they change. Where the base model was read from is left out (a copied or
    moved adapter is the same adapter)."""
    import json

    folder = Path(adapter_folder)
    digest = hashlib.sha256()
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        with weights.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict):
        for key in ("base_model_name_or_path", "revision"):
            config.pop(key, None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def merged_ct2_dir(adapter_folder: Path) -> Path:
    """Where an adapter's merged + converted copy is cached: inside the adapter's own folder
    (deleted with it, never exported: the zip holds only the adapter files), keyed by the hash
    of its weights."""
    return Path(adapter_folder) / f".{CT2_DIRNAME}-{adapter_weights_key(adapter_folder)}"


def _converter_command(out: Path, settings: Settings, adapter: Path | None) -> list[str]:
    import sys

    command = [sys.executable, "-m", "core.runtime.engines.convert", "--data-dir", str(Path(settings.data_dir).resolve()),
               "--generator", settings.generator, "--out", str(out), "--quantization", CT2_QUANTIZATION]
    return command + (["--adapter", str(Path(adapter).resolve())] if adapter is not None else [])


def _run_converter(out: Path, settings: Settings, adapter: Path | None, progress: Progress | None) -> None:
    """Convert in a child process: a converter crash (native abort included) becomes a clear
    error here, and the app process never imports torch for the ct2 engine."""
    import os
    import subprocess

    command = _converter_command(out, settings, adapter)
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelConversionFailed(f"Could not run the model converter: {exc}.",
                                    hint="Set CROSSROADS_ENGINE=hf to answer with transformers instead.") from exc
    if done.returncode != 0 or not _ct2_ready(out):
        tail = " ".join((done.stderr or "").strip().splitlines()[-3:])[-400:]
        how = f"exit code {done.returncode}" if done.returncode >= 0 else f"killed by signal {-done.returncode}"
        raise ModelConversionFailed(
            f"Converting {'the adapter ' + adapter.name if adapter else 'the base model'} for the ct2 engine "
            f"failed ({how}): {tail or 'no message'}",
            hint="Set CROSSROADS_ENGINE=hf to answer with transformers; if it crashed in oneDNN, try "
                 "CT2_FORCE_CPU_ISA=AVX2.")


def _build_cached(target: Path, lock: Path, settings: Settings, adapter: Path | None,
                  progress: Progress | None, message: str) -> Path:
    """Build `target` once under a file lock: convert into a tmp folder, then rename atomically."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        if _ct2_ready(target):
            return target
        if progress:
            progress(message)
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _run_converter(tmp, settings, adapter, progress)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if progress:
            progress("Model ready.")
    return target


def prepare_ct2_generator(settings: Settings | None = None, progress: Progress | None = None) -> Path:
    """The generator converted to CTranslate2 int8 under data/models/ (built on first use)."""
    settings = settings or get_settings()
    target = ct2_generator_dir(settings)
    if _ct2_ready(target):
        return target
    return _build_cached(target, target.with_name(target.name + ".lock"), settings, None, progress,
                         "Preparing the model (first time, ~1 min): converting it to CTranslate2 int8…")


def prepare_ct2_adapter(adapter_folder: Path, settings: Settings | None = None,
                        progress: Progress | None = None) -> Path:
    """An adapter merged into a fresh fp32 copy of the base model, converted to CTranslate2 int8,
    cached in the adapter's folder; copies made for older weights of the same adapter go."""
    settings = settings or get_settings()
    adapter_folder = Path(adapter_folder)
    target = merged_ct2_dir(adapter_folder)
    if not _ct2_ready(target):
        target = _build_cached(target, adapter_folder / f".{CT2_DIRNAME}.lock", settings, adapter_folder, progress,
                               f"Preparing adapter {adapter_folder.name!r} for the ct2 engine (once per adapter, ~30 s)…")
    for stale in adapter_folder.glob(f".{CT2_DIRNAME}-*"):
        if stale != target and stale.is_dir() and not stale.name.endswith(".tmp"):
            shutil.rmtree(stale, ignore_errors=True)
    return target
