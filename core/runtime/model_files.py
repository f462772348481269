"""Facts about a local model read from its files alone (issue 26): config.json, safetensors and
GGUF headers, a sampled hash of the weights, whether it has a chat template. Nothing is loaded or
downloaded; a path that is not on this disk is refused with the way to fetch it elsewhere."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from core.runtime.errors import ModelNotFound


class ModelRefused(ModelNotFound):
    """A model that cannot be added: not on this disk, no chat template, unreadable, a name taken."""


def read_json_file(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def sampled_hash(files: list[Path]) -> str:
    """A hash of weight files that reads at most ~16 MB per file: each file's name, size and 16
    blocks of 1 MB spread over it. Any re-quantized, retrained or truncated checkpoint changes it;
    hashing a 15 GB 7B model in full would take minutes."""
    digest = hashlib.sha256()
    for file in sorted(files):
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with file.open("rb") as fh:
            for i in range(16):
                fh.seek(size * i // 16)
                digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def _safetensors_params(files: list[Path]) -> int:
    from safetensors import safe_open

    total = 0
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                n = 1
                for dim in f.get_slice(key).get_shape():
                    n *= dim
                total += n
    return total


def _gguf_facts(file: Path) -> tuple[str, int, int | None]:
    """(architecture, parameters, context window) from a GGUF header (no tensor de-quantized)."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(file))
    except Exception as exc:  # noqa: BLE001 - any parse error is "not a GGUF we can read"
        raise ModelRefused(f"{file.name} is not a GGUF file this app can read: {str(exc)[:200]}",
                           hint="Add a transformers folder instead, or check the file downloaded completely.") from exc

    def value(key: str):
        f = reader.fields.get(key)
        if f is None or not f.data:
            return None
        part = f.parts[f.data[0]]
        return bytes(part).decode("utf-8", "replace") if f.types and f.types[0].name == "STRING" else part.tolist()[0]

    arch = value("general.architecture") or "unknown"
    params = int(sum(int(t.n_elements) for t in reader.tensors))
    window = value(f"{arch}.context_length")
    return str(arch), params, int(window) if isinstance(window, int) else None


def _gguf_has_template(file: Path) -> bool:
    from gguf import GGUFReader

    return "tokenizer.chat_template" in GGUFReader(str(file)).fields


def refuse_remote(path: str) -> None:
    """A path that is not on this disk: nothing is downloaded, say how to get it."""
    looks_like_hub_id = bool(re.match(r"^[\w.-]+/[\w.-]+$", path)) and not path.startswith((".", "/"))
    what = f"{path!r} looks like a model hub id" if looks_like_hub_id else f"{path!r} is not a folder or file on this machine"
    raise ModelRefused(
        f"{what}; Crossroads never downloads models.",
        hint=("Download it on a machine with internet access (e.g. `huggingface-cli download "
              f"{path if looks_like_hub_id else 'ORG/MODEL'} --local-dir ./models/NAME`), copy the folder here, "
              "and add that folder (a transformers checkpoint with config.json, tokenizer and *.safetensors) "
              "or a .gguf file."))


def inspect_path(path: str | Path) -> dict:
    """The registry facts of a local transformers folder or GGUF file, read from its files."""
    raw = str(path)
    folder = Path(raw).expanduser()
    if not folder.exists():
        refuse_remote(raw)
    folder = folder.resolve()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if folder.is_file():
        if folder.suffix.lower() != ".gguf":
            raise ModelRefused(f"{folder.name} is neither a model folder nor a .gguf file.",
                               hint="Add the folder that holds config.json, or a .gguf file.")
        arch, params, window = _gguf_facts(folder)
        if not _gguf_has_template(folder):
            raise ModelRefused(f"{folder.name} has no chat template (tokenizer.chat_template), so its prompts "
                               "cannot be built the way the model was trained.",
                               hint="Use the instruct / chat variant of the model.")
        return {"path": str(folder), "kind": "gguf", "architecture": arch, "params": params,
                "disk_bytes": folder.stat().st_size, "weights_hash": sampled_hash([folder]), "context_window": window,
                "added": now}
    config = read_json_file(folder / "config.json")
    weights = sorted(folder.glob("*.safetensors"))
    if not config:
        raise ModelRefused(f"{folder} holds no readable config.json: it is not a transformers checkpoint.",
                           hint="Point at the folder made by `save_pretrained` (config.json, tokenizer files, *.safetensors).")
    if not weights:
        pickles = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth")]
        raise ModelRefused(f"{folder} holds no *.safetensors weights" + (f" (only {', '.join(pickles)})" if pickles else "") + ".",
                           hint="Only safetensors checkpoints are accepted (pickle weights can run code when loaded); "
                                "convert it with `save_pretrained(..., safe_serialization=True)` elsewhere.")
    if not _folder_has_template(folder):
        raise ModelRefused(f"{folder.name} has no chat template, so its prompts cannot be built the way the model "
                           "was trained.",
                           hint="Use the instruct / chat variant of the model, or add `chat_template` to its tokenizer_config.json.")
    disk = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    window = config.get("max_position_embeddings")
    return {"path": str(folder), "kind": "transformers", "architecture": str(config.get("model_type") or "unknown"),
            "params": _safetensors_params(weights), "disk_bytes": disk, "weights_hash": sampled_hash(weights),
            "context_window": window if isinstance(window, int) else None, "added": now}


def _folder_has_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    return bool(read_json_file(folder / "tokenizer_config.json").get("chat_template"))
