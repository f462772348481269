"""The Fine-tune page's draft: the chosen file, its column mapping and the options, kept in the
workspace (data/ui/finetune_draft/draft.json) so a browser reload or a page switch loses nothing.

The uploaded file itself is already kept under data/uploads/ (core/training/data_files.store_upload);
the draft names it relative to the data directory. Written atomically (temp file + rename); a
corrupt draft is reported once and ignored (set aside as draft.json.corrupt), never fatal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.runtime.settings import Settings, get_settings

DRAFT_FILE = "draft.json"
FIELDS = ("source", "path", "display_name", "demo_choice", "kind", "mapping", "preset", "options", "adapter_name",
          "training_mode")


def draft_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).path("ui", "finetune_draft", DRAFT_FILE)


def save_draft(draft: dict, settings: Settings | None = None) -> None:
    """Write the draft atomically (only the known fields)."""
    path = draft_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({k: draft[k] for k in FIELDS if k in draft}, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def load_draft(settings: Settings | None = None) -> tuple[dict, str]:
    """(draft, problem): an empty draft when there is none; a corrupt one is set aside with a message."""
    settings = settings or get_settings()
    path = draft_path(settings)
    if not path.is_file():
        return {}, ""
    try:
        draft = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(draft, dict):
            raise ValueError(f"expected a JSON object, got {type(draft).__name__}")
    except (OSError, ValueError) as exc:
        os.replace(path, path.with_name(path.name + ".corrupt"))
        return {}, (f"The saved Fine-tune draft ({path}) could not be read ({exc}); it was set aside as "
                    f"{path.name}.corrupt and the page starts empty.")
    if draft.get("path"):
        stored = settings.data_dir / draft["path"] if draft.get("source") in ("upload", "generated") \
            else Path(draft["path"])
        if not stored.is_file():
            return {}, f"The file of the saved Fine-tune draft ({draft.get('display_name')}) is gone; upload it again."
        draft["resolved_path"] = str(stored)
    return draft, ""


def clear_draft(settings: Settings | None = None) -> None:
    draft_path(settings).unlink(missing_ok=True)
