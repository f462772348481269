"""The freshness test: edit a document, re-index, re-ask. RAG picks up the new fact at once;
the fine-tuned adapter keeps answering what it was trained on until it is retrained.

Timed on this machine: re-indexing the edited file vs the adapter's recorded training time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.evaluation import metrics
from core.evaluation.arms import Arms, ArmSetup
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

TEXT_KINDS = ("txt", "md", "html", "csv")


class FreshnessError(CrossroadsError):
    pass


@dataclass(frozen=True)
class Edit:
    """Replace `old` by `new` in the knowledge-base file `file_name`, then ask `question`."""

    file_name: str
    old: str
    new: str
    question: str


def _find_file(kb: str, file_name: str, settings: Settings) -> tuple[str, dict]:
    from core.knowledge.manifest import read_manifest

    for file_id, entry in read_manifest(kb, settings).get("files", {}).items():
        if entry.get("name") == file_name and entry.get("status") == "complete":
            return file_id, entry
    raise FreshnessError(f"{file_name!r} is not an indexed file of {kb!r}.", hint="Pick a file from the list.")


def edited_text(kb: str, edit: Edit, settings: Settings | None = None) -> str:
    from core.knowledge.manifest import kb_dir

    settings = settings or get_settings()
    file_id, entry = _find_file(kb, edit.file_name, settings)
    if entry.get("kind") not in TEXT_KINDS:
        raise FreshnessError(f"{edit.file_name} is a {entry.get('kind')} file; the test edits text files.",
                             hint=f"Choose a {', '.join(TEXT_KINDS)} file.")
    original = (kb_dir(kb, settings) / "files" / file_id).read_bytes().decode(entry.get("encoding") or "utf-8")
    if not edit.old or edit.old not in original:
        raise FreshnessError(f"{edit.old!r} does not occur in {edit.file_name}.", hint="Copy a fact exactly as written.")
    return original.replace(edit.old, edit.new)


def run_freshness_test(kb: str, adapter: str, edit: Edit, settings: Settings | None = None) -> dict:
    """Ask rag and ft before and after the edit; time the re-index. The edit stays in the KB."""
    from core.knowledge.indexing import ingest

    settings = settings or get_settings()
    text = edited_text(kb, edit, settings)
    engine = Arms(ArmSetup(arms=("rag", "ft"), kb=kb, adapter=adapter), settings)
    before = engine.answer(edit.question)
    start = time.perf_counter()
    result = ingest(kb, [(edit.file_name, text.encode("utf-8"))], settings=settings)
    reindex_s = time.perf_counter() - start
    if not result.ok:
        raise FreshnessError(f"Re-indexing {edit.file_name} failed: {result.files[0].error}")
    after = engine.answer(edit.question)
    rows = {}
    for arm in ("rag", "ft"):
        rows[arm] = {
            "before": before[arm].answer, "after": after[arm].answer,
            "old_fact_before": metrics.contains(before[arm].answer, edit.old),
            "new_fact_after": metrics.contains(after[arm].answer, edit.new),
        }
    return {"kb": kb, "adapter": adapter, "edit": vars(edit), "arms": rows,
            "reindex_seconds": round(reindex_s, 2),
            "retrain_seconds": engine.adapter_meta.get("duration_s"),
            "chunks_reindexed": result.chunks_total}
