"""Trained LoRA adapters under data/adapters/<name>/: list, rename, delete, zip export / import.

An adapter folder holds `adapter_model.safetensors`, `adapter_config.json` and `meta.json`
(base model and its fingerprint, data hash, options, metrics, duration, library versions).

Imports are untrusted: only safetensors weights are accepted (a pickle `.bin` / `.pt` is
refused by its name and never opened), the zip is checked for unsafe paths and sizes, and the
weights are checked against the base model (same fingerprint, LoRA shapes that fit its
layers, finite values) before the folder is moved into place. Nothing here loads a model;
loading an adapter on the base model is `core.models.load_adapter_model`.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import CrossroadsError
from core.settings import Settings, get_settings

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
META = "meta.json"
ALLOWED_FILES = {WEIGHTS, CONFIG, META, "README.md"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ZIP_BYTES = 1024 * 1024 * 1024
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024
FINGERPRINT_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "num_key_value_heads", "intermediate_size", "vocab_size")


class AdapterError(CrossroadsError):
    """An adapter cannot be found, imported, renamed or saved."""


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
    def metrics(self) -> dict:
        return self.meta.get("metrics") or {}

    def summary(self) -> dict:
        """A flat row for tables and the CLI."""
        options = self.meta.get("options") or {}
        data = self.meta.get("data") or {}
        return {
            "name": self.name,
            "base_model": self.base_model,
            "data": data.get("name"),
            "kind": data.get("kind"),
            "rows": data.get("rows"),
            "rank": options.get("rank", self.config.get("r")),
            "epochs": options.get("epochs"),
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


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _record(path: Path) -> AdapterRecord:
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return AdapterRecord(path.name, path, _read_json(path / META), _read_json(path / CONFIG), size)


def list_adapters(settings: Settings | None = None) -> list[AdapterRecord]:
    """Every complete adapter (newest first); half-written or hidden folders are skipped."""
    root = adapters_root(settings)
    if not root.is_dir():
        return []
    records = [_record(p) for p in root.iterdir()
               if p.is_dir() and NAME_RE.match(p.name) and (p / WEIGHTS).is_file() and (p / CONFIG).is_file()]
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
    meta = _read_json(dest / META)
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
            if file.is_file() and file.name in ALLOWED_FILES:
                zf.write(file, arcname=f"{name}/{file.name}")
    return buffer.getvalue()


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Base model checks


def base_config(settings: Settings | None = None) -> dict:
    from core.models import generator_path

    folder = Path(generator_path(settings or get_settings()))
    return _read_json(folder / "config.json")


def base_fingerprint(settings: Settings | None = None) -> dict:
    config = base_config(settings)
    return {k: config.get(k) for k in FINGERPRINT_KEYS if k in config}


def _base_shapes(settings: Settings | None = None) -> dict[str, tuple[int, ...]] | None:
    """Weight shapes of the base checkpoint, read from safetensors headers (no tensor loaded)."""
    from safetensors import safe_open

    from core.models import generator_path

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


def check_adapter_folder(folder: Path, settings: Settings | None = None) -> dict:
    """Raise AdapterError unless `folder` holds a safe LoRA adapter for our base model.

    Returns the adapter config. Checks: no pickle files; config is LoRA; meta / fingerprint
    match the base model; every LoRA matrix fits the base layer it targets; weights finite.
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
    config = _read_json(folder / CONFIG)
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterError(f"{CONFIG} is not a LoRA adapter config (peft_type={config.get('peft_type')!r}).")
    meta = _read_json(folder / META)
    ours = base_fingerprint(settings)
    theirs = meta.get("base_fingerprint")
    if theirs and ours and {k: theirs.get(k) for k in ours} != ours:
        raise AdapterError(
            f"This adapter was trained for another base model ({meta.get('base_model') or theirs.get('model_type')}); "
            f"this workspace uses {settings.generator}.",
            hint="Import adapters trained on the same base model, or switch the generator setting.")
    if not theirs and meta.get("base_model") and meta["base_model"] != settings.generator:
        raise AdapterError(f"This adapter was trained for {meta['base_model']}; this workspace uses {settings.generator}.",
                           hint="Import adapters trained on the same base model.")
    shapes = _base_shapes(settings)
    seen_modules = 0
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118
                tensor = f.get_tensor(key)
                if not tensor.is_floating_point():
                    raise AdapterError(f"Tensor {key} is not floating point.")
                if not bool(tensor.isfinite().all()):
                    raise AdapterError(f"Refused: tensor {key} holds NaN or infinite values.",
                                       hint="The training run that produced it diverged; train again with a lower learning rate.")
                match = _LORA_KEY.match(key)
                if match is None or shapes is None:
                    continue
                base = shapes.get(match["module"] + ".weight")
                if base is None or len(base) != 2 or tensor.dim() != 2:
                    raise AdapterError(f"Refused: {match['module']} does not exist in the base model {settings.generator}.",
                                       hint="The adapter was trained for another base model.")
                out_features, in_features = base
                ok = tensor.shape[1] == in_features if match["ab"] == "A" else tensor.shape[0] == out_features
                if not ok:
                    raise AdapterError(
                        f"Refused: {key} has shape {tuple(tensor.shape)}, which does not fit the base layer "
                        f"({out_features}×{in_features}).", hint="The adapter was trained for another base model.")
                seen_modules += 1
    except SafetensorError as exc:
        raise AdapterError(f"{WEIGHTS} is not a valid safetensors file: {exc}.") from exc
    if shapes is not None and seen_modules == 0:
        raise AdapterError(f"{WEIGHTS} holds no LoRA weights.")
    return config


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
        full_meta = {"name": name, "base_model": settings.generator, "base_fingerprint": base_fingerprint(settings),
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
        meta_in = json.loads(zf.read(next(i for i, b in members if b == META))) if META in names else {}
        if not isinstance(meta_in, dict):
            meta_in = {}
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
            meta.setdefault("base_model", settings.generator)
            meta.setdefault("base_fingerprint", base_fingerprint(settings))
            meta.setdefault("created", meta["imported_at"])
            _write_json(tmp / META, meta)
            _move_into_place(tmp, dest, overwrite=False)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return _record(dest)
