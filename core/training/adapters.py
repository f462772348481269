"""Trained LoRA adapters under data/adapters/<name>/: list, rename, delete, zip export / import.

An adapter folder holds `adapter_model.safetensors`, `adapter_config.json` and `meta.json`
(base model and its fingerprint, data hash, options, metrics, duration, library versions).

Imports are untrusted: only safetensors weights are accepted (a pickle `.bin` / `.pt` is
refused by its name and never opened), the zip is checked for unsafe paths and sizes, and the
weights are checked against the base model (same fingerprint, LoRA shapes that fit its
layers, finite values) before the folder is moved into place. Nothing here loads a model;
the checks and the checked loading live in core/training/adapter_checks.py.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.runtime.settings import Settings, get_settings
from core.training.adapter_checks import (
    ALLOWED_FILES,
    CONFIG,
    MAX_UNPACKED_BYTES,
    MAX_ZIP_BYTES,
    META,
    NAME_RE,
    PICKLE_SUFFIXES,
    WEIGHTS,
    AdapterError,
    base_fingerprint,
    base_identity,
    base_name_of,
    check_adapter_folder,
    portable_base_name,
    read_json_object,
)


@dataclass(frozen=True)
class AdapterRecord:
    name: str
    path: Path
    meta: dict
    config: dict
    size_bytes: int

    @property
    def base_model(self) -> str:
        return self.meta.get("base_model") or self.config.get("base_model_name_or_path") or "?"

    @property
    def base_name(self) -> str:
        """The registry name of the base model it was trained on (older adapters: from base_model)."""
        return base_name_of(self.meta, self.config)

    @property
    def metrics(self) -> dict:
        return self.meta.get("metrics") or {}

    def summary(self) -> dict:
        """A flat row for tables and the CLI."""
        options = self.meta.get("options") or {}
        data = self.meta.get("data") or {}
        return {
            "name": self.name,
            "base_model": self.base_model,
            "base_name": self.base_name,
            "data": data.get("name"),
            "kind": data.get("kind"),
            "rows": data.get("rows"),
            "rank": options.get("rank", self.config.get("r")),
            # The epochs the run really trained (max steps can stop it early), else the option's.
            "epochs": self.metrics.get("epochs") if self.metrics.get("epochs") else options.get("epochs"),
            "steps": self.metrics.get("steps"),
            "learning_rate": options.get("learning_rate"),
            "train_loss": self.metrics.get("train_loss"),
            "eval_loss": self.metrics.get("eval_loss"),
            "duration_s": self.meta.get("duration_s"),
            "trainable_params": self.meta.get("trainable_params"),
            "size_mb": round(self.size_bytes / 2**20, 2),
            "created": self.meta.get("created"),
            "imported": bool(self.meta.get("imported")),
        }


def adapters_root(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).path("adapters")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise AdapterError(f"{name!r} is not a valid adapter name.",
                           hint="Use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    return name


def adapter_dir(name: str, settings: Settings | None = None) -> Path:
    """The folder of adapter `name` (it may not exist)."""
    return adapters_root(settings) / check_name(name)


def _record(path: Path) -> AdapterRecord:
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return AdapterRecord(path.name, path, read_json_object(path / META), read_json_object(path / CONFIG), size)


def list_adapters(settings: Settings | None = None, *, active_model_only: bool = False) -> list[AdapterRecord]:
    """Every complete adapter (newest first); half-written or hidden folders are skipped. With
    `active_model_only`, only those trained on the active base model (the others are refused on it)."""
    settings = settings or get_settings()
    root = adapters_root(settings)
    if not root.is_dir():
        return []
    records = [_record(p) for p in root.iterdir()
               if p.is_dir() and NAME_RE.match(p.name) and (p / WEIGHTS).is_file() and (p / CONFIG).is_file()]
    if active_model_only:  # an adapter of unknown base ("?") stays: the checks decide when it loads
        records = [r for r in records if r.base_name in (settings.model_name, "?")]
    return sorted(records, key=lambda r: (r.meta.get("created") or "", r.name), reverse=True)


def get_adapter(name: str, settings: Settings | None = None) -> AdapterRecord:
    path = adapter_dir(name, settings)
    if not (path / WEIGHTS).is_file():
        raise AdapterError(f"No adapter named {name!r}.", hint="Train one on the Fine-tune page, or import a zip.")
    return _record(path)


def rename(old: str, new: str, settings: Settings | None = None) -> AdapterRecord:
    src = get_adapter(old, settings).path
    dest = adapter_dir(new, settings)
    if dest.exists():
        raise AdapterError(f"An adapter named {new!r} already exists.", hint="Choose another name.")
    os.rename(src, dest)
    meta = read_json_object(dest / META)
    if meta:
        meta["name"] = new
        _write_json(dest / META, meta)
    return _record(dest)


def delete(name: str, settings: Settings | None = None) -> None:
    path = get_adapter(name, settings).path
    trash = path.with_name(f".deleted-{name}-{secrets.token_hex(3)}")
    os.rename(path, trash)  # gone from the list at once; the files go after
    shutil.rmtree(trash, ignore_errors=True)


def export_zip(name: str, settings: Settings | None = None) -> bytes:
    """The adapter folder as a zip (weights, config, meta) for download."""
    record = get_adapter(name, settings)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(record.path.iterdir()):
            if file.is_file() and file.name == CONFIG:  # portable: no local path of this machine
                config = {**read_json_object(file), "base_model_name_or_path": portable_base_name(settings)}
                zf.writestr(f"{name}/{CONFIG}", json.dumps(config, indent=2))
            elif file.is_file() and file.name in ALLOWED_FILES:
                zf.write(file, arcname=f"{name}/{file.name}")
    return buffer.getvalue()


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Writing: publish a trained adapter, import a zip


def _staging(name: str, settings: Settings | None) -> Path:
    root = adapters_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    return tmp


def _move_into_place(tmp: Path, dest: Path, overwrite: bool) -> None:
    if dest.exists():
        if not overwrite:
            raise AdapterError(f"An adapter named {dest.name!r} already exists.", hint="Choose another name.")
        old = dest.with_name(f".replaced-{dest.name}-{secrets.token_hex(3)}")
        os.rename(dest, old)
        os.rename(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, dest)


def publish_adapter(model, name: str, meta: dict, settings: Settings | None = None,
                    overwrite: bool = False) -> AdapterRecord:
    """Save a trained PeftModel as adapter `name` atomically: tmp folder, then rename.

    On any failure (disk full included) the tmp folder is removed and an existing adapter of
    the same name is left exactly as it was.
    """
    settings = settings or get_settings()
    dest = adapter_dir(name, settings)
    if dest.exists() and not overwrite:
        raise AdapterError(f"An adapter named {name!r} already exists.", hint="Choose another name.")
    tmp = _staging(name, settings)
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        full_meta = {"name": name, **base_identity(settings), "base_fingerprint": base_fingerprint(settings),
                     "created": datetime.now(UTC).isoformat(timespec="seconds"), **meta}
        _write_json(tmp / META, full_meta)
        for extra in tmp.iterdir():
            if extra.name not in ALLOWED_FILES:
                shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
        if not (tmp / WEIGHTS).is_file():
            raise AdapterError("The adapter weights were not written as safetensors.")
        _move_into_place(tmp, dest, overwrite)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AdapterError(f"Could not save adapter {name!r}: {exc.strerror or exc}.",
                           hint="Free some disk space and try again; any previous adapter is unchanged.") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _record(dest)


def _safe_member(info: zipfile.ZipInfo) -> str | None:
    """The file name a zip member is stored under, or None for a folder entry."""
    raw = info.filename
    if info.is_dir():
        return None
    if raw.startswith(("/", "\\")) or ".." in Path(raw.replace("\\", "/")).parts or ":" in raw:
        raise AdapterError(f"Refused: the zip holds an unsafe path {raw!r}.")
    parts = Path(raw.replace("\\", "/")).parts
    if len(parts) > 2:
        raise AdapterError(f"Refused: unexpected nested file {raw!r} in the zip.",
                           hint=f"The zip should hold {WEIGHTS}, {CONFIG} and optionally {META}.")
    return parts[-1]


def import_zip(payload: bytes, name: str | None = None, settings: Settings | None = None) -> AdapterRecord:
    """Import an adapter zip (as made by `export_zip` or PEFT's save_pretrained, zipped)."""
    settings = settings or get_settings()
    if len(payload) > MAX_ZIP_BYTES:
        raise AdapterError("The zip is larger than 1 GB.", hint="A LoRA adapter for this model is a few MB.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as exc:
        raise AdapterError("The upload is not a zip file.", hint="Upload the zip downloaded from the adapter list.") from exc
    with zf:
        members = [(info, _safe_member(info)) for info in zf.infolist()]
        members = [(info, base) for info, base in members if base and not base.startswith(("__MACOSX", "._"))]
        names = [base for _, base in members]
        pickles = [n for n in names if n.lower().endswith(PICKLE_SUFFIXES)]
        if pickles:  # refused by name: the payload is never read, let alone unpickled
            raise AdapterError(f"Refused: {', '.join(pickles)} is a pickle file, which can run code when loaded.",
                               hint="Only safetensors adapters are accepted (adapter_model.safetensors).")
        unknown = [n for n in names if n not in ALLOWED_FILES]
        if unknown:
            raise AdapterError(f"Refused: unexpected file(s) {', '.join(unknown)} in the zip.",
                               hint=f"The zip should hold {WEIGHTS}, {CONFIG} and optionally {META}.")
        if len(set(names)) != len(names):
            raise AdapterError("The zip holds the same file twice.")
        if WEIGHTS not in names or CONFIG not in names:
            raise AdapterError(f"The zip lacks {WEIGHTS} or {CONFIG}.",
                               hint="Export adapters with safetensors (PEFT's default).")
        if sum(info.file_size for info, _ in members) > MAX_UNPACKED_BYTES:
            raise AdapterError("The zip unpacks to more than 2 GB.", hint="A LoRA adapter for this model is a few MB.")
        try:
            meta_in = json.loads(zf.read(next(i for i, b in members if b == META))) if META in names else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise AdapterError(f"Refused: {META} in the zip is not valid JSON ({type(exc).__name__}).",
                               hint="Export the adapter again from Crossroads, or remove meta.json from the zip.") from exc
        if not isinstance(meta_in, dict):
            raise AdapterError(f"Refused: {META} in the zip is not a JSON object.",
                               hint="Export the adapter again from Crossroads, or remove meta.json from the zip.")
        name = check_name(name or meta_in.get("name") or "imported-adapter")
        dest = adapter_dir(name, settings)
        if dest.exists():
            raise AdapterError(f"An adapter named {name!r} already exists.", hint="Rename or delete it first, or choose another name.")
        tmp = _staging(name, settings)
        try:
            for info, base in members:
                with zf.open(info) as src, open(tmp / base, "wb") as out:
                    shutil.copyfileobj(src, out, length=1024 * 1024)
            check_adapter_folder(tmp, settings)
            meta = {**meta_in, "name": name, "imported": True,
                    "imported_at": datetime.now(UTC).isoformat(timespec="seconds")}
            for key, value in base_identity(settings).items():
                meta.setdefault(key, value)
            meta.setdefault("base_fingerprint", base_fingerprint(settings))
            meta.setdefault("created", meta["imported_at"])
            _write_json(tmp / META, meta)
            _move_into_place(tmp, dest, overwrite=False)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return _record(dest)
