"""The Knowledge page's "Retrieval lab" tab: sweep retrieval settings over an eval set, chart
them, mark the best, and store it as the knowledge base's own setting with one click.

The sweep runs in the page's script run: the Cancel button (any click) makes Streamlit stop the
run, the lab's `finally` removes its temporary collections, and nothing is applied.
"""

from __future__ import annotations

import time

import streamlit as st

from core.evaluation import evalset_choice as C
from core.evaluation.retrieval_lab import DEFAULT_KS, apply_best, run_lab
from core.knowledge.retrieval import SEARCH_TYPES, kb_retrieval
from core.knowledge.retrieval_setting import setting_record
from ui.evalset_view import choose_eval_set
from ui.knowledge_view import md_escape
from ui.retrieval_view import retrieval_line

SOURCES = (C.KB_FILE, C.CLOZE, C.UPLOAD, C.DEMO)


def _progress(bar):
    state = {"last": 0.0}

    def update(p) -> None:
        if time.monotonic() - state["last"] >= 0.2 or p.done == p.total:
            state["last"] = time.monotonic()
            bar.progress(min(1.0, p.fraction), text=p.describe())

    return update


def _table(result: dict) -> list[dict]:
    rows = []
    for r in result["settings"]:
        ci = r["hit_at_k_vs_current"]
        rows.append({"": "★ best" if r["best"] else ("current" if r["current"] else ""),
                     "Setting": r["label"], "hit@k": r["hit_at_k"], "MRR": r["mrr"],
                     "Context tokens": round(r["context_tokens"] or 0), "p50 ms": round(r["retrieval_p50_ms"] or 0, 1),
                     "hit@k vs current (95% CI)": f"{ci['diff']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]"})
    return rows


def render_lab(kb: str, run_safely) -> None:
    """The tab. `run_safely(fn, *args)` shows a CrossroadsError and returns None."""
    current = run_safely(kb_retrieval, kb)
    if current is None:
        return
    st.caption("Which retrieval setting finds the chunk holding the answer, on your own questions? No generation: "
               "hit@k (the gold chunk is among the k given to the model), MRR, the context's cost in tokens, and "
               "the retrieval latency, per setting. Questions without a source count a chunk as gold when it "
               "contains the answer.")
    retrieval_line(run_safely(setting_record, current, kb))
    if applied := st.session_state.pop("lab_applied", None):
        st.success(f"Stored as this knowledge base's setting: {md_escape(applied)}", icon=":material/task_alt:")
    loader = choose_eval_set(kb, None, key="lab", sources=SOURCES, cloze_n=30)
    c1, c2, c3 = st.columns(3)
    types = c1.multiselect("Search types", SEARCH_TYPES, default=list(SEARCH_TYPES), key="lab_types")
    ks = c2.multiselect("k", [1, 2, 3, 4, 5, 6, 8, 10], default=list(DEFAULT_KS), key="lab_ks")
    sizes = c3.text_input("Also try chunk sizes", "", key="lab_sizes", placeholder="e.g. 300,600",
                          help="Each is indexed into a temporary collection, removed afterwards.")
    if st.button("Run the lab", key="lab_run", type="primary", disabled=not types or not ks):
        try:
            chunk_sizes = [int(s) for s in sizes.replace(" ", "").split(",") if s]
        except ValueError:
            st.error("Chunk sizes: whole numbers separated by commas.", icon=":material/error:")
            return
        eval_set = run_safely(loader) if loader else None
        if eval_set is None:
            if loader is None:
                st.info("Choose the questions first (upload a file, or tick the demo set's box).",
                        icon=":material/upload_file:")
            return
        st.button("Cancel", key="lab_cancel", icon=":material/stop_circle:")  # a click stops this run
        bar = st.progress(0.0, text=f"Sweeping {len(eval_set)} questions…")
        result = run_safely(run_lab, kb, eval_set, search_types=types, ks=ks, chunk_sizes=chunk_sizes,
                            progress=_progress(bar))
        bar.empty()
        if result is not None:
            st.session_state["lab_result"] = result
    result = st.session_state.get("lab_result")
    if not result or result["kb"] != kb:
        return
    best = result["best"]
    st.success(f"Best: **{md_escape(best['label'])}** — hit@k {best['hit_at_k']:.3f}, MRR {best['mrr']:.3f}, "
               f"{best['context_tokens']:.0f} context tokens · {result['n_settings']:d} settings on "
               f"{result['eval_set']['size']:d} questions in {result['seconds']:.0f} s", icon=":material/star:")
    st.caption(md_escape(result["rule"]) + " · " + md_escape(result["ci"]))
    st.scatter_chart([{"context tokens": r["context_tokens"], "hit@k": r["hit_at_k"],
                       "search": r["setting"]["search_type"]} for r in result["settings"]],
                     x="context tokens", y="hit@k", color="search")
    st.dataframe(_table(result), hide_index=True, width="stretch", key="lab_table")
    if best["current"]:
        st.info("The current setting is already the best.", icon=":material/check:")
    elif st.button("Use the best setting for this knowledge base", key="lab_apply", type="primary",
                   help="Compare, Evaluate and Ask start from it. A different chunking re-indexes the originals."):
        applied = run_safely(apply_best, kb, result)
        if applied is not None:
            st.session_state.pop("lab_result", None)
            st.session_state["lab_applied"] = applied.describe()
            st.rerun()
