"""Choosing the questions of an evaluation or a retrieval-lab run (Evaluate, the Retrieval lab).

Both start on the knowledge base's own questions (core.evaluation.evalset_choice): its kept eval
file, the adapter's held-out rows or questions generated from its chunks. The demo test set is a
deliberate choice for any kb but the demo's.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.evaluation import evalset_choice as C
from core.evaluation.evalsets import EvalSet
from core.knowledge.demo import DEMO_KB
from core.runtime.text import md_escape, plural


def choose_eval_set(kb: str | None, adapter: str | None, *, key: str, sources: tuple[str, ...],
                    cloze_n: int | None = None) -> Callable[[], EvalSet] | None:
    """The radio and its options; returns a loader of the chosen set (None: nothing chosen yet).

    `cloze_n`: a fixed number of generated questions (None: a slider)."""
    files = C.kb_eval_files(kb)
    sources = tuple(s for s in sources if s != C.KB_FILE or files)
    default = C.default_source(kb, adapter, sources)
    # The key holds the kb and adapter: choosing another one starts again on its own default.
    source = st.radio("Questions", sources, index=sources.index(default), format_func=C.SOURCE_LABELS.get,
                      horizontal=True, key=f"{key}_source_{kb}_{adapter}")
    if source == C.KB_FILE:
        name = st.selectbox("Eval file", files, key=f"{key}_kbfile_{kb}",
                            help="Eval files uploaded for this knowledge base (kept in its folder).")
        return lambda: C.load_kb_eval_file(kb, name)
    if source == C.HELDOUT:
        if not adapter:
            st.info("Choose an adapter first.")
            return None
        st.caption("The rows the adapter never saw in training (its seeded held-out split).")
        from core.evaluation.heldout import heldout_set

        return lambda: heldout_set(adapter)
    if source == C.DEMO:
        st.caption("40 questions about the demo company: 20 paraphrase training questions, 20 ask unseen facts.")
        consent = True
        if kb and kb != DEMO_KB:
            consent = st.checkbox(f"Use the demo's test set with this kb ({md_escape(kb)})", key=f"{key}_demo_ok_{kb}",
                                  help="Its questions are about the demo's documents: on another knowledge base "
                                       "retrieval cannot find their answers.")
            if not consent:
                st.info("The demo test set asks about the demo's documents, not this knowledge base's. Tick the "
                        "box to use it anyway.", icon=":material/info:")
                return None
        return lambda: C.demo_set(kb, consent=consent)
    if source == C.UPLOAD:
        upload = st.file_uploader("JSONL, JSON or CSV: `question` + `answer` (or a list), optional `source`; "
                                  "or `text` + `label`", type=["jsonl", "json", "csv"], max_upload_size=50,
                                  key=f"{key}_upload")
        keep = bool(kb) and st.checkbox("Keep this file with the knowledge base (the default next time)",
                                        value=True, key=f"{key}_keep")
        if upload is None:
            return None
        data, filename = upload.getvalue(), upload.name
        kept = st.session_state.setdefault("kept_eval_files", set())
        if keep and (kb, filename, len(data)) not in kept:
            def keep_once() -> EvalSet:  # once per upload, not on every rerun of the page
                eval_set = C.keep_with_kb(kb, filename, data)
                kept.add((kb, filename, len(data)))
                return eval_set

            return keep_once
        from core.evaluation.evalset_files import load_eval_bytes

        return lambda: load_eval_bytes(data, filename)
    if not kb:
        st.info("Choose a knowledge base first.")
        return None
    from core.evaluation.cloze import cloze_set, held_apart

    n = cloze_n or st.slider("Questions", 5, 100, 30, 5, key=f"{key}_cloze_n")
    apart = held_apart(kb, adapter) if adapter else []
    if apart:
        st.caption(f"Leaves out the {plural(len(apart), 'chunk')} {md_escape(adapter)} was trained on (its rows were "
                   "generated from this knowledge base).")
    return lambda: cloze_set(kb, n, adapter=adapter)
