"""Fine-tune page, step 1: the labeled file (upload, demo, or the saved draft) and its column mapping.

Widgets take their defaults from the workspace draft (core/training/finetune_draft.py), so a
browser reload or a page switch comes back to the same file, mapping and options.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.runtime.errors import CrossroadsError
from core.runtime.text import md_escape
from core.training import data_files
from core.training.schema import ALIASES, KIND_TITLES, KINDS, Schema, detect_schema
from core.training.tasks import detect_task
from ui.common import show_error

ROOT = Path(__file__).resolve().parent.parent
DEMO_SETS = {
    "Support tickets — classification (demo/tickets.csv)": ROOT / "demo" / "tickets.csv",
    "Brindlemoor facts — Q&A (demo/qa_train.jsonl)": ROOT / "demo" / "qa_train.jsonl",
    "Product reviews — sentiment classification (demo/reviews_train.csv)": ROOT / "demo" / "reviews_train.csv",
    "Support tickets — entity extraction (demo/tickets_entities_train.jsonl)":
        ROOT / "demo" / "tickets_entities_train.jsonl",
}
MAX_UPLOAD_MB = 50
CHOOSE = ""  # the empty choice of a mapping selectbox: nothing mapped yet


@dataclass(frozen=True)
class DataChoice:
    """The file the user chose and how its columns map to roles."""

    source: str  # "upload" | "demo" | "generated" (Q&A made from a knowledge base)
    path: Path
    display_name: str
    sha: str
    columns: tuple[str, ...]
    rows_read: int
    detected: Schema | None
    schema: Schema

    def draft(self, settings) -> dict:
        """The draft fields of this choice (an upload is named relative to the data directory)."""
        path = str(self.path.relative_to(settings.data_dir)) if self.source in ("upload", "generated") \
            else str(self.path)
        return {"source": self.source, "path": path, "display_name": self.display_name,
                "kind": self.schema.kind, "mapping": self.schema.mapping}


def _upload_key() -> str:
    generation = st.session_state.get("ft_upload_generation", 0)
    return "ft_upload" if not generation else f"ft_upload_{generation}"


def forget_upload() -> None:
    """Empty the uploader (a new key: Streamlit cannot clear a file uploader's file)."""
    st.session_state["ft_upload_generation"] = st.session_state.get("ft_upload_generation", 0) + 1


def _source(settings, draft: dict) -> tuple[str, Path, str] | None:
    left, right = st.columns([3, 2])
    with left:
        upload = st.file_uploader("Upload CSV, JSONL or JSON", type=["csv", "jsonl", "json"], key=_upload_key(),
                                  max_upload_size=MAX_UPLOAD_MB,
                                  on_change=lambda: st.session_state.update(ft_source="upload"),
                                  help="Columns: question/answer, instruction/input/output, prompt/completion, "
                                       "chat `messages`, text/label for classification, or text/entities for "
                                       "extraction (a JSON list of {\"text\", \"type\"} per row).")
    with right:
        st.write("")
        if st.button("Load demo workspace", icon=":material/science:",
                     help="Use the demo Q&A, classification and extraction sets in demo/."):
            st.session_state["ft_source"] = "demo"
        _generate_popover(settings)
        source = st.session_state.get("ft_source") or draft.get("source")
        if source == "demo":
            names = list(DEMO_SETS)
            saved = draft.get("demo_choice")
            st.radio("Demo set", names, key="ft_demo_choice", index=names.index(saved) if saved in names else 0)
    if upload is not None and source != "generated":
        try:
            path = data_files.store_upload(upload.getvalue(), upload.name, settings)
        except CrossroadsError as exc:
            show_error(exc)
            return None
        st.session_state["ft_source"] = "upload"
        st.session_state["ft_upload_kept"] = (str(path), upload.name)
        return "upload", path, upload.name
    if source == "demo":
        choice = st.session_state.get("ft_demo_choice") or next(iter(DEMO_SETS))
        return "demo", DEMO_SETS[choice], DEMO_SETS[choice].name
    if source == "generated" and (kept := st.session_state.get("ft_generated_kept") or
                                  (draft.get("resolved_path"), draft.get("display_name"))) and kept[0]:
        with left:
            st.caption(f":material/auto_awesome: Using **{md_escape(kept[1])}**: fill-in-the-blank Q&A rows generated from the "
                       "knowledge base (each names its file and chunk; a cloze evaluation leaves those chunks out).")
        return "generated", Path(kept[0]), kept[1]
    kept = st.session_state.get("ft_upload_kept")
    if source == "upload" and (kept or draft.get("resolved_path")):
        path, name = kept or (draft["resolved_path"], draft.get("display_name") or "upload")
        with left:
            st.caption(f":material/history: Using **{md_escape(name)}**, kept from your last upload in this workspace.")
        return "upload", Path(path), name
    return None


def _generate_popover(settings) -> None:
    """No Q&A file? Make rows offline from a knowledge base's documents (core.training.raft)."""
    from core.knowledge.manifest import list_kbs
    from core.training.raft import generate_qa_file

    kbs = [k["name"] for k in list_kbs(settings) if k["chunks"]]
    with st.popover("Generate Q&A from documents", icon=":material/auto_awesome:", disabled=not kbs,
                    help="No Q&A file? Make fill-in-the-blank rows from a knowledge base's sentences (offline)."):
        kb = st.selectbox("Knowledge base", kbs, key="ft_gen_kb")
        n = st.number_input("Rows", 10, 2000, 100, 10, key="ft_gen_n")
        if st.button("Generate", key="ft_gen_go", type="primary") and kb:
            name = f"generated-{kb}-{int(n)}.jsonl"
            try:
                path = generate_qa_file(kb, int(n), settings.path("ui", "generated", name))
            except CrossroadsError as exc:
                show_error(exc)
                return
            st.session_state["ft_source"] = "generated"
            st.session_state["ft_generated_kept"] = (str(path), name)
            st.session_state["ft_generated_kb"] = kb


def _mapping(columns: list[str], detected: Schema | None, sha: str, draft: dict) -> Schema:
    """The mapping widgets. Nothing is guessed for an undetected format: each role starts unchosen."""
    title = KIND_TITLES[detected.kind] if detected else "not detected"
    saved = draft.get("mapping") if draft.get("kind") else None
    with st.expander(f"Format: **{title}** · columns {md_escape(', '.join(columns))} — change the mapping",
                     expanded=detected is None):
        if detected is None:
            st.caption("No column names match a known format: choose the format and which column plays each role.")
        kinds = list(KINDS)
        default_kind = draft.get("kind") if draft.get("kind") in kinds else (detected.kind if detected else kinds[0])
        kind = st.selectbox("Data format", kinds, index=kinds.index(default_kind), format_func=lambda k: KIND_TITLES[k],
                            key=f"ft_kind_{sha}")
        required, optional = KINDS[kind]
        mapping = {}
        for col, role in zip(st.columns(len(required + optional)), required + optional, strict=True):
            default = (saved or {}).get(role) if draft.get("kind") == kind else None
            if default is None and detected is not None:
                default = detected.mapping.get(role) if detected.kind == kind else None
                default = default or next((c for c in columns if c.lower() in ALIASES[role]), None)
            choices = [CHOOSE, *columns]
            mapping[role] = col.selectbox(f"{md_escape(role)} column", choices,
                                          index=choices.index(default) if default in choices else 0,
                                          format_func=lambda c: c or "— choose —",
                                          key=f"ft_map_{sha}_{kind}_{role}")
    return Schema.of(kind, {r: c for r, c in mapping.items() if c})


def data_section(settings, draft: dict) -> DataChoice | None:
    """Step 1; None until a file is chosen (or when it cannot be read: the reason is shown)."""
    chosen = _source(settings, draft)
    if chosen is None:
        st.info("Upload a labeled file, or click **Load demo workspace**.", icon=":material/description:")
        return None
    source, path, display_name = chosen
    try:
        raw = path.read_bytes()
        records, columns, _ = data_files.read_records(raw, path.name)
    except (CrossroadsError, OSError) as exc:
        show_error(exc if isinstance(exc, CrossroadsError) else CrossroadsError(f"Cannot read {display_name}: {exc}"))
        return None
    sha = hashlib.sha256(raw).hexdigest()
    same_file = draft.get("display_name") == display_name and draft.get("source") == source
    if detect_task(columns) == "extraction":  # text + entities: no column mapping (ui/task_data_view.py)
        st.caption(f"Format: **Text / entities (extraction)** · columns {md_escape(', '.join(columns))}")
        return DataChoice(source, path, display_name, sha, tuple(columns), len(records), None,
                          Schema("extraction", ()))
    detected = detect_schema(columns)
    schema = _mapping(columns, detected, sha, draft if same_file else {})
    return DataChoice(source, path, display_name, sha, tuple(columns), len(records), detected, schema)
