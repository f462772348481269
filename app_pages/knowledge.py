"""Knowledge: knowledge bases, uploads, chunking, retrieval test, and RAG answers with sources."""

import streamlit as st

from core.knowledge import demo as KD
from core.knowledge import indexing as KI
from core.knowledge import ingest_job as IJ
from core.knowledge import manifest as KM
from core.knowledge import store as KS
from core.knowledge.documents import DEFAULT_LIMITS, UPLOAD_TYPES, ChunkSettings
from core.knowledge.rag import answer_rag
from core.knowledge.retrieval import kb_retrieval, retrieve
from core.knowledge.retrieval_setting import setting_record
from core.knowledge.sanitize import answer_markdown
from core.knowledge.splitting import preview_split
from core.runtime.answer_times import record_answers
from core.runtime.errors import CrossroadsError
from core.runtime.limits import question_limit
from core.runtime.text import plural
from ui import ingest_view
from ui.common import get_engine, show_error
from ui.knowledge_view import (
    files_table,
    md_escape,
    render_retrieved,
    render_sources,
    render_timings,
)
from ui.retrieval_lab_view import render_lab
from ui.retrieval_view import retrieval_controls, retrieval_line
from ui.stop import StopControl, stopped_answer

SAMPLE = ("Brindlemoor Instrument Works designs weather stations and data loggers. The company was founded in "
          "2009 in Carrowhaven.\n\nEvery station ships with a 36-month warranty. Support answers within one "
          "working day; critical faults are handled within four hours.\n\nThe Skerry SK-7000 runs 21 days on a "
          "full battery without sun. Its solar panel delivers 20 W and it installs in about two hours.")

st.title("Knowledge")
st.caption("Upload your documents into a knowledge base, see how they split into chunks, test retrieval, "
           "and ask questions answered only from them — with the sources cited.")

ss = st.session_state


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except CrossroadsError as exc:
        show_error(exc)
    except Exception as exc:  # noqa: BLE001 - shown friendly, details in the log
        show_error(exc)
    return None


# ---------------------------------------------------------------- choose / manage knowledge bases
kbs = _run(KM.list_kbs) or []
names = [kb["name"] for kb in kbs]
if ss.get("kb_next") in names:
    ss["kb_select"] = ss.pop("kb_next")
if ss.get("kb_select") not in names:
    ss["kb_select"] = names[0] if names else None

top = st.columns([2.6, 0.9, 1.6, 1], vertical_alignment="bottom")
kb = top[0].selectbox("Knowledge base", names, key="kb_select", placeholder="No knowledge base yet")
if ss.pop("kb_close_popovers", False):  # a done Create / Rename closes its popover (Streamlit keeps it open)
    ss["kb_new_popover"] = ss["kb_manage_popover"] = False
with top[1].popover("New", icon=":material/add:", width="stretch", key="kb_new_popover", on_change="rerun"):
    new_name = st.text_input("Name", key="kb_new_name", help="Letters, digits, '-' and '_' (up to 48).")
    if st.button("Create", key="kb_create", type="primary"):
        if _run(KS.create_kb, new_name) is not None:
            ss["kb_next"], ss["kb_close_popovers"] = new_name.strip(), True
            st.rerun()
if top[2].button("Load demo workspace", key="kb_demo", icon=":material/auto_awesome:", width="stretch",
                 help="Ingest the demo documents (a fictional company) into a knowledge base named 'demo'."):
    if ingest_view.start(IJ.start_demo):
        ss["kb_next"] = KD.DEMO_KB
        st.rerun()
with top[3].popover("Manage", icon=":material/settings:", width="stretch", disabled=kb is None,
                    key="kb_manage_popover", on_change="rerun"):
    renamed = st.text_input("Rename to", key="kb_rename_to")
    if st.button("Rename", key="kb_rename") and kb:
        if _run(KS.rename_kb, kb, renamed) is not None:
            ss["kb_next"], ss["kb_close_popovers"] = renamed.strip(), True
            st.rerun()
    st.divider()
    confirm = st.checkbox(f"Yes, delete {md_escape(kb)} and all its files", key="kb_delete_confirm")
    if st.button("Delete knowledge base", key="kb_delete", type="primary", disabled=not confirm) and kb:
        _run(KS.delete_kb, kb)
        ss["kb_close_popovers"] = True
        st.rerun()

if kb is None:
    st.info("No knowledge base yet: create one with **New**, or click **Load demo workspace**.",
            icon=":material/library_add:")
    st.stop()

info = next(k for k in kbs if k["name"] == kb)
chunking = ChunkSettings.from_dict(info.get("chunking"))
st.caption(f"{plural(info['files'], 'file')} · {plural(info['chunks'], 'chunk')} · chunking {chunking.size}/{chunking.overlap} "
           f"{chunking.unit} · embedder {md_escape(info.get('embedder') or '?')}")

docs_tab, chunk_tab, search_tab, lab_tab, ask_tab = st.tabs(["Documents", "Chunking", "Test retrieval",
                                                             "Retrieval lab", "Ask"])
kb_setting = _run(kb_retrieval, kb)

# ---------------------------------------------------------------- documents
with docs_tab:
    nonce = ss.setdefault("upload_nonce", 0)
    uploads = st.file_uploader(
        "Upload documents", type=list(UPLOAD_TYPES), accept_multiple_files=True, key=f"uploader_{nonce}",
        max_upload_size=int(DEFAULT_LIMITS.max_file_mb),
        help=f"PDF, DOCX, TXT, MD, HTML, CSV — up to {DEFAULT_LIMITS.max_file_mb:g} MB each. "
             "Files are checked by their content, not their extension.")
    if st.button(f"Ingest {len(uploads or [])} file(s)", key="ingest", type="primary", disabled=not uploads,
                 help="Runs as a background job: reload, switch pages or close the tab, it keeps indexing."):
        # The uploads are stored with the job first: the job, not this page, owns them now.
        if ingest_view.start(IJ.start_ingest, kb, [(f.name, f.getvalue()) for f in uploads]):
            ss["upload_nonce"] = nonce + 1  # a fresh, empty uploader
            st.rerun()
    ingest_view.ingest_panel(kb)

    files = sorted(_run(KM.kb_files, kb) or [], key=lambda f: f["name"].casefold())  # as the table shows them
    st.subheader("Files")
    if not files:
        st.caption("No files yet.")
    else:
        st.dataframe(files_table(files), hide_index=True, width="stretch", key="files_table")
        labels = {f["id"]: f"{f['name']} ({plural(f['chunks'], 'chunk')})" for f in files}
        chosen = st.selectbox("File", list(labels), format_func=labels.get, key="file_pick")
        c1, c2 = st.columns([1, 1])
        if c1.toggle("Preview its chunks", key="file_preview"):
            chunks = _run(KS.file_chunks, kb, chosen) or []
            for c in chunks[:50]:
                where = " · ".join(x for x in (f"p. {c['page']}" if c.get("page") else "",
                                               f"row {c['row']}" if c.get("row") else "") if x)
                st.caption(f"Chunk {md_escape(c['chunk'])}" + (f" · {md_escape(where)}" if where else ""))
                st.text(c["text"])
            if len(chunks) > 50:
                st.caption(f"… and {len(chunks) - 50} more chunks.")
        if c2.button("Delete this file", key="file_delete", icon=":material/delete:"):
            removed = _run(KI.delete_file, kb, chosen)
            if removed is not None:
                st.toast(f"Removed {plural(removed, 'chunk')}.")
                st.rerun()

# ---------------------------------------------------------------- chunking
with chunk_tab:
    st.caption("How documents are split before embedding. The settings are stored with the knowledge base; "
               "changing them re-indexes every kept original.")
    help_ = {name: f.metadata.get("help") for name, f in ChunkSettings.__dataclass_fields__.items()}
    c1, c2, c3 = st.columns(3)
    unit = c1.radio("Measure in", ["chars", "tokens"], index=0 if chunking.unit == "chars" else 1,
                    key="chunk_unit", horizontal=True, help=help_["unit"])
    size = c2.number_input("Chunk size", 20 if unit == "chars" else 8, 8000 if unit == "chars" else 512,
                           chunking.size if unit == chunking.unit else (400 if unit == "chars" else 128),
                           key=f"chunk_size_{unit}", help=help_["size"])
    overlap = c3.number_input("Overlap", 0, 4000, chunking.overlap if unit == chunking.unit else
                              (120 if unit == "chars" else 24), key=f"chunk_overlap_{unit}", help=help_["overlap"])
    kb_files = _run(KM.kb_files, kb) or []
    complete = {f["id"]: f["name"] for f in kb_files if f.get("status") == "complete"}
    source = st.selectbox("Preview on", ["sample", *complete], key="chunk_source",
                          format_func=lambda v: "A sample text (edit it below)" if v == "sample" else complete[v],
                          help="One of this knowledge base's files (its first 20,000 characters), or a sample.")
    if source == "sample":
        sample = st.text_area("Sample text", SAMPLE, height=140, key="chunk_sample")
    else:
        sample = _run(KS.file_text, kb, source) or ""
    wanted = _run(ChunkSettings, size=int(size), overlap=int(overlap), unit=unit)
    if wanted is not None:
        parts = _run(preview_split, sample, wanted) or []
        shown = parts[:12]
        st.markdown(f"**{plural(len(parts), 'chunk')}** with these settings"
                    + (f" (showing the first {len(shown)} of {len(parts)})" if len(shown) < len(parts) else ""))
        for i, part in enumerate(shown):
            st.caption(f"Chunk {i} · {len(part)} characters")
            st.code(part, language=None, wrap_lines=True)
        if wanted != chunking:
            st.warning(f"These settings differ from the knowledge base's ({chunking.size}/{chunking.overlap} "
                       f"{chunking.unit}).", icon=":material/sync_problem:")
            if st.button("Re-index with these settings", key="reindex", type="primary",
                         help="A background job (progress on the Documents tab); the current index serves until the swap."):
                if ingest_view.start(IJ.start_rebuild, kb, wanted):
                    st.rerun()

# ---------------------------------------------------------------- test retrieval
with search_tab:
    st.caption("Retrieval only, no generation: if the right chunk is not here, the answer cannot be right — "
               "that is a retrieval miss, not a generation error.")
    cfg = retrieval_controls("search", kb_setting)
    retrieval_line(_run(setting_record, cfg, kb))
    with st.form("search_form", border=False):
        query = st.text_input("Query", key="search_query", max_chars=question_limit()[1])
        go = st.form_submit_button("Search", type="primary")
    if go and query.strip():
        hits = _run(retrieve, kb, query, cfg)
        if hits is not None:
            render_retrieved(hits, "hit", cfg.search_type)

# ---------------------------------------------------------------- retrieval lab
with lab_tab:
    render_lab(kb, _run)

# ---------------------------------------------------------------- ask
with ask_tab:
    st.caption("Answers come from the base model reading the retrieved chunks. With nothing relevant "
               "retrieved it says it does not know instead of guessing.")
    ingest_view.indexing_note(kb)
    cfg = retrieval_controls("ask", kb_setting)
    retrieval_line(_run(setting_record, cfg, kb))
    with st.form("ask_form", border=False):
        question = st.text_input("Question", key="ask_question", max_chars=question_limit()[1])
        asked = st.form_submit_button("Ask", type="primary")
    if asked and question.strip():
        engine = _run(get_engine)
        if engine is not None:
            stream = _run(answer_rag, kb, question, config=cfg, engine=engine)
            if stream is not None:
                with st.chat_message("assistant"), StopControl("ask") as stop:
                    box = st.empty()
                    text = ""
                    try:
                        for piece in stream:
                            text += piece
                            stop.keep(text)
                            box.markdown(answer_markdown(text) + " ▌")
                        box.markdown(answer_markdown(stream.record["answer"]) or "_(empty answer)_")
                        ss["last_answer"] = {"kb": kb, "question": question, **stream.record}
                        record_answers("Ask", {"rag": stream.record}, None)  # single-answer latency (wizard)
                    except CrossroadsError as exc:
                        show_error(exc)
    if (partial := stopped_answer("ask")) is not None:
        with st.chat_message("assistant"):
            st.markdown(answer_markdown(partial) or "_(nothing had arrived yet)_")
            st.caption(":material/stop_circle: Stopped by you: the text above is what had arrived; it is not kept.")
    last = ss.get("last_answer")
    if last and last["kb"] == kb and partial is None:
        if not asked:
            with st.chat_message("assistant"):
                st.markdown(answer_markdown(last["answer"]) or "_(empty answer)_")
        render_timings(last)
        render_sources(last["sources"], "src")
