"""What the workspace holds, read cheaply from the data directory (no model, no Chroma)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.runtime.settings import Settings, get_settings


@dataclass(frozen=True)
class WorkspaceState:
    data_dir: Path
    generator_ready: bool
    knowledge_bases: tuple[str, ...]
    adapters: tuple[str, ...]
    reports: tuple[str, ...]
    runs: tuple[str, ...]


def _names(folder: Path, marker: str | None = None) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(
        p.name for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (marker is None or (p / marker).exists())
    ))


def read_state(settings: Settings | None = None) -> WorkspaceState:
    from core.runtime.models import generator_is_converted

    settings = settings or get_settings()
    reports = settings.path("reports")
    return WorkspaceState(
        data_dir=settings.data_dir,
        generator_ready=generator_is_converted(settings),
        knowledge_bases=_names(settings.path("kb"), "manifest.json"),
        adapters=_names(settings.path("adapters"), "adapter_config.json"),
        reports=tuple(sorted(p.stem for p in reports.glob("*.json"))) if reports.is_dir() else (),
        runs=_names(settings.path("runs"), "status.json"),
    )


def read_json(path: Path, default=None):
    """A JSON file's content, or `default` when it is missing or unreadable (half-written)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
