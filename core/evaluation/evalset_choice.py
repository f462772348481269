"""Which questions an evaluation or the retrieval lab runs on, by default: the knowledge base's own.

A knowledge base keeps the eval files uploaded for it (DATA_DIR/kb/<kb>/eval/), so the next
evaluation or lab run starts from them. Without one, the default is the adapter's held-out rows
(Evaluate, when an adapter is chosen) or questions generated from the kb's own chunks. The demo
test set asks about the demo's documents: it is the default for the demo kb only; for any other
kb it needs a deliberate choice (a test set about other documents measures nothing useful there).
"""

from __future__ import annotations

from pathlib import Path

from core.evaluation.evalset_files import load_eval_bytes, load_eval_file
from core.evaluation.evalsets import EvalSet, EvalSetError
from core.knowledge.demo import DEMO_KB
from core.knowledge.manifest import kb_dir
from core.runtime.settings import Settings

DEMO_SET = Path(__file__).resolve().parents[2] / "demo" / "qa_test.jsonl"
EVAL_SUFFIXES = (".jsonl", ".json", ".csv")

KB_FILE, HELDOUT, CLOZE, UPLOAD, DEMO = "kb_file", "heldout", "cloze", "upload", "demo"
SOURCE_LABELS = {
    KB_FILE: "This knowledge base's eval file",
    HELDOUT: "Held-out rows of the adapter's training data",
    CLOZE: "Fill-in-the-blank questions from the knowledge base",
    UPLOAD: "Upload a file",
    DEMO: "Demo Q&A test set",
}


def _eval_dir(kb: str, settings: Settings | None) -> Path:
    return kb_dir(kb, settings) / "eval"


def kb_eval_files(kb: str | None, settings: Settings | None = None) -> list[str]:
    """The eval files kept with the knowledge base, newest first (names)."""
    if not kb:
        return []
    folder = _eval_dir(kb, settings)
    files = [p for p in folder.glob("*") if p.suffix.lower() in EVAL_SUFFIXES and p.is_file()] if folder.is_dir() else []
    return [p.name for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)]


def keep_with_kb(kb: str, filename: str, data: bytes, settings: Settings | None = None) -> EvalSet:
    """Check an uploaded eval file and keep it with the knowledge base; the parsed set."""
    name = Path(filename).name
    if Path(name).suffix.lower() not in EVAL_SUFFIXES:
        raise EvalSetError(f"{name!r} is not a JSONL, JSON or CSV file.", hint="Upload a .jsonl, .json or .csv file.")
    eval_set = load_eval_bytes(data, name)  # validates before anything is kept
    folder = _eval_dir(kb, settings)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.replace(folder / name)
    return eval_set


def load_kb_eval_file(kb: str, name: str, settings: Settings | None = None) -> EvalSet:
    path = _eval_dir(kb, settings) / Path(name).name
    return load_eval_file(path, name=f"{Path(name).stem} ({kb})")


def demo_set(kb: str | None, consent: bool = False) -> EvalSet:
    """The demo test set; for a kb other than the demo's only with `consent`."""
    if kb and kb != DEMO_KB and not consent:
        raise EvalSetError("The demo test set asks about the demo's documents, not this knowledge base's.",
                           hint="Tick \"use the demo's test set with this kb\" if that is what you want.")
    return load_eval_file(DEMO_SET, name="demo Q&A test")


def default_source(kb: str | None, adapter: str | None, sources: tuple[str, ...],
                   settings: Settings | None = None) -> str:
    """The source a form starts on: the kb's own eval file, the adapter's held-out rows, the demo
    set for the demo kb, else questions generated from the kb."""
    order = []
    if kb_eval_files(kb, settings):
        order.append(KB_FILE)
    if adapter:
        order.append(HELDOUT)
    if kb == DEMO_KB:
        order.append(DEMO)
    order += [CLOZE, UPLOAD] if kb else [DEMO, UPLOAD]  # no kb: nothing of the user's to ask about yet
    return next(s for s in [*order, *sources] if s in sources)
