"""The demo workspace: demo/docs/* ingested into the knowledge base `demo`."""

from __future__ import annotations

from pathlib import Path

from core.knowledge.indexing import ingest
from core.knowledge.manifest import KnowledgeError
from core.knowledge.pipeline import IngestReport, ProgressFn
from core.runtime.settings import Settings, get_settings

DEMO_KB = "demo"
DEMO_DOCS = Path(__file__).resolve().parents[2] / "demo" / "docs"


def demo_sources() -> list[Path]:
    return sorted(p for p in DEMO_DOCS.glob("*") if p.is_file() and not p.name.startswith("."))


def load_demo_workspace(progress: ProgressFn | None = None, settings: Settings | None = None) -> IngestReport:
    """Ingest demo/docs/* into the knowledge base `demo` (idempotent)."""
    settings = settings or get_settings()
    files = demo_sources()
    if not files:
        raise KnowledgeError("The demo documents are missing (demo/docs/ is empty).",
                             hint="Run `make demo` to regenerate them.")
    return ingest(DEMO_KB, files, progress=progress, settings=settings)
