"""The ct2 engines' models: CTranslate2 copies of the generator and of each adapter, one per
quantization (`float32`, the faithful default; `int8`, fast and approximate), a cache built once,
safely (file lock, a tmp folder per conversion, atomic rename, like the GGUF conversion in
`core.runtime.models`), and verified when opened.

- the base model: `data/models/<name>-ct2-<quantization>/`;
- an adapter: PEFT `merge_and_unload()` on a fresh fp32 copy of the base model, then converted,
  cached inside the adapter's folder as `.ct2-<quantization>-<hash of its weights>/`: rebuilt
  when the weights change, deleted with the adapter, never in its zip (the zip holds the adapter
  files).

Each copy ends with a manifest (`crossroads-manifest.json`, written last, atomically: size and
sha256 of `model.bin` and `config.json`). A folder whose files do not match it (a truncated
`model.bin`, a garbage `config.json`, a conversion killed half-way) is not ready and is rebuilt.
The conversion runs in a child process (`core.runtime.engines.convert`): the app process needs
no torch for the ct2 engine, and a converter crash is reported instead of killing the app.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

from core.runtime.errors import ModelNotFound
from core.runtime.generation import Progress
from core.runtime.models import BUNDLED_GENERATOR_DIRNAME
from core.runtime.settings import BUNDLED_GENERATOR, Settings, get_settings

DEFAULT_QUANTIZATION = "float32"  # faithful to the fp32 reference (bench/fidelity.py measures it)
QUANTIZATIONS = ("float32", "int8")
MANIFEST = "crossroads-manifest.json"
_CHECKED = ("model.bin", "config.json")
# Files hashed in this process, by identity (device, inode, size, mtime): hard-linked copies of
# one conversion (the tests' data dirs) are hashed once; a file written again is hashed again.
_hash_verified: set[tuple] = set()
_verify_lock = threading.Lock()


class ModelConversionFailed(ModelNotFound):
    """Converting a model for the ct2 engine failed (or crashed the converter)."""


def _dirname(quantization: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown CTranslate2 quantization {quantization!r}")
    return f"ct2-{quantization}"


def ct2_generator_dir(settings: Settings | None = None, quantization: str = DEFAULT_QUANTIZATION) -> Path:
    """Where the configured generator's CTranslate2 copy lives (it may not exist yet)."""
    settings = settings or get_settings()
    if settings.generator == BUNDLED_GENERATOR:
        name = BUNDLED_GENERATOR_DIRNAME
    else:
        name = hashlib.sha256(settings.generator.encode()).hexdigest()[:12]
    return settings.path("models", f"{name}-{_dirname(quantization)}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    """Record size and hash of the converted files; written last and atomically, so its presence
    means the conversion finished."""
    entries = {name: {"size": (folder / name).stat().st_size, "sha256": _sha256(folder / name)} for name in _CHECKED}
    tmp = folder / f"{MANIFEST}.tmp{os.getpid()}"
    tmp.write_text(json.dumps({"files": entries}, indent=1), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def _ct2_ready(folder: Path) -> bool:
    """True when `folder` holds a complete conversion: sizes checked every time, hashes once per
    process per file (hashing a float32 model.bin costs a second or two; the size check catches
    a truncated file, the hash a file damaged in place)."""
    try:
        entries = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
        for name in _CHECKED:
            info = (folder / name).stat()
            if info.st_size != entries[name]["size"]:
                return False
            stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, entries[name]["sha256"])
            with _verify_lock:
                if stamp in _hash_verified:
                    continue
                if _sha256(folder / name) != entries[name]["sha256"]:
                    return False
                _hash_verified.add(stamp)
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def discard(folder: Path) -> None:
    """Remove a cached copy that cannot be used (the next prepare rebuilds it)."""
    with _verify_lock:
        _hash_verified.clear()  # rare: forget every check rather than track which files were here
    shutil.rmtree(folder, ignore_errors=True)


def ct2_generator_is_converted(settings: Settings | None = None, quantization: str = DEFAULT_QUANTIZATION) -> bool:
    return _ct2_ready(ct2_generator_dir(settings, quantization))


def adapter_weights_key(adapter_folder: Path) -> str:
    """The hash of an adapter's weights and of the config that scales them: its ct2 copy is
    rebuilt when they change. Where the base model was read from is left out (a copied or
    moved adapter is the same adapter)."""
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


def merged_ct2_dir(adapter_folder: Path, quantization: str = DEFAULT_QUANTIZATION) -> Path:
    """Where an adapter's merged + converted copy is cached: inside the adapter's own folder
    (deleted with it, never exported: the zip holds only the adapter files), keyed by the
    quantization and the hash of its weights."""
    return Path(adapter_folder) / f".{_dirname(quantization)}-{adapter_weights_key(adapter_folder)}"


def _converter_command(out: Path, settings: Settings, adapter: Path | None,
                       quantization: str = DEFAULT_QUANTIZATION) -> list[str]:
    import sys

    command = [sys.executable, "-m", "core.runtime.engines.convert", "--data-dir", str(Path(settings.data_dir).resolve()),
               "--generator", settings.generator, "--out", str(out), "--quantization", quantization]
    return command + (["--adapter", str(Path(adapter).resolve())] if adapter is not None else [])


def _run_converter(out: Path, settings: Settings, adapter: Path | None, progress: Progress | None,
                   quantization: str = DEFAULT_QUANTIZATION) -> None:
    """Convert in a child process: a converter crash (native abort included) becomes a clear
    error here, and the app process never imports torch for the ct2 engine. The converter ends
    itself when this process dies (see convert.py), so a killed command leaves no orphan."""
    import subprocess

    command = _converter_command(out, settings, adapter, quantization)
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelConversionFailed(f"Could not run the model converter: {exc}.",
                                    hint="Set CROSSROADS_ENGINE=hf to answer with transformers instead.") from exc
    converted = done.returncode == 0 and (out / "model.bin").is_file() and (out / "config.json").is_file()
    if converted:
        try:
            json.loads((out / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            converted = False
    if not converted:
        tail = " ".join((done.stderr or "").strip().splitlines()[-3:])[-400:]
        how = f"exit code {done.returncode}" if done.returncode >= 0 else f"killed by signal {-done.returncode}"
        raise ModelConversionFailed(
            f"Converting {'the adapter ' + adapter.name if adapter else 'the base model'} for the ct2 engine "
            f"failed ({how}): {tail or 'no message'}",
            hint="Set CROSSROADS_ENGINE=hf to answer with transformers; if it crashed in oneDNN, try "
                 "CT2_FORCE_CPU_ISA=AVX2.")
    write_manifest(out)


def _build_cached(target: Path, lock: Path, settings: Settings, adapter: Path | None,
                  progress: Progress | None, message: str, quantization: str) -> Path:
    """Build `target` once under a file lock: convert into a tmp folder of this process (a
    converter orphaned by a killed run never writes into ours), then rename atomically."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        if _ct2_ready(target):
            return target
        if progress:
            progress(message)
        for old in target.parent.glob(f"{target.name}.tmp*"):  # left by a killed run (we hold the lock)
            shutil.rmtree(old, ignore_errors=True)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        try:
            _run_converter(tmp, settings, adapter, progress, quantization)
            shutil.rmtree(target, ignore_errors=True)  # an incomplete or damaged copy
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if progress:
            progress("Model ready.")
    return target


def prepare_ct2_generator(settings: Settings | None = None, progress: Progress | None = None,
                          quantization: str = DEFAULT_QUANTIZATION) -> Path:
    """The generator converted to CTranslate2 under data/models/ (built on first use, rebuilt
    when damaged)."""
    settings = settings or get_settings()
    target = ct2_generator_dir(settings, quantization)
    if _ct2_ready(target):
        return target
    return _build_cached(target, target.with_name(target.name + ".lock"), settings, None, progress,
                         f"Preparing the model (first time, ~1 min): converting it to CTranslate2 {quantization}…",
                         quantization)


def prepare_ct2_adapter(adapter_folder: Path, settings: Settings | None = None,
                        progress: Progress | None = None, quantization: str = DEFAULT_QUANTIZATION) -> Path:
    """An adapter merged into a fresh fp32 copy of the base model, converted to CTranslate2,
    cached in the adapter's folder; copies made for older weights of the same adapter go."""
    settings = settings or get_settings()
    adapter_folder = Path(adapter_folder)
    target = merged_ct2_dir(adapter_folder, quantization)
    prefix = f".{_dirname(quantization)}"
    if not _ct2_ready(target):
        target = _build_cached(target, adapter_folder / f"{prefix}.lock", settings, adapter_folder, progress,
                               f"Preparing adapter {adapter_folder.name!r} for the ct2 engine (once per adapter, ~30 s)…",
                               quantization)
    for stale in adapter_folder.glob(f"{prefix}-*"):
        if stale != target and stale.is_dir() and ".tmp" not in stale.name:
            shutil.rmtree(stale, ignore_errors=True)
    return target
