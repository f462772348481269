"""Rendering helpers for the Knowledge page: results, sources, chunks, progress.

Document text and model output are untrusted: they are shown with st.text / st.code or as
escaped markdown (model answers through core.knowledge.sanitize.answer_markdown). Never HTML.
"""

from __future__ import annotations

import streamlit as st

from core.runtime.text import (
    md_escape,  # noqa: F401 (re-exported for the pages)
    plural,
)


def human_size(n: int | None) -> str:
    if not n:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def render_ingest_results(report: dict) -> None:
    files = report["files"]
    ok = [f for f in files if f["status"] == "indexed"]
    cancelled = [f for f in files if f["status"] == "cancelled"]
    bad = [f for f in files if f["status"] not in ("indexed", "cancelled")]
    summary = f"{len(ok)} indexed, {len(bad)} with errors" + (f", {len(cancelled)} not indexed (cancelled)"
                                                              if cancelled else "")
    summary += f" · {plural(report['chunks_total'], 'chunk')} · {report['seconds']:.1f} s"
    if bad or cancelled:
        st.warning(md_escape(summary), icon=":material/warning:")
    else:
        st.success(md_escape(summary), icon=":material/task_alt:")
    rows = [{"File": f["name"],
             "Result": (f"indexed ({plural(f['chunks'], 'chunk')})" + (f" — {f['note']}" if f.get("note") else ""))
             if f["status"] == "indexed" else f.get("note") or f["status"] if f["status"] == "cancelled" else "error"}
            for f in files]
    st.dataframe(rows, hide_index=True, width="stretch", key="ingest_results_table")
    for f in bad:
        st.error(md_escape(f.get("error") or f"{f['name']}: failed"), icon=":material/error:")


def files_table(files: list[dict]) -> list[dict]:
    """One row per file, sorted by name (case-insensitive), as a reader looks a file up."""
    files = sorted(files, key=lambda f: (f["name"].casefold(), f["name"]))
    return [{"File": f["name"], "Type": f["kind"].upper(), "Size": human_size(f.get("size")),
             "Pages": str(f.get("pages") or "–"), "Chunks": f.get("chunks", 0),
             "Added": (f.get("added") or "").replace("T", " ").replace("+00:00", " UTC"),
             "Status": f.get("status", "")} for f in files]


ORDER_NOTES = {
    "hybrid": "Ordered by the **fused rank** (keyword and meaning rankings combined by reciprocal-rank "
              "fusion), not by the score shown: the score is each chunk's cosine similarity to the query, "
              "so it need not fall down the list.",
    "dense": "Ordered by the score shown: each chunk's cosine similarity to the query.",
    "mmr": "Ordered by maximal marginal relevance (close to the query, unlike the chunks above it), not by "
           "the score shown: the score is each chunk's cosine similarity to the query.",
    "keyword": "Ordered by BM25 word match, not by the score shown: the score is each chunk's cosine "
               "similarity to the query.",
}


def render_retrieved(hits, key: str, search_type: str | None = None) -> None:
    """Ranked chunks with their cosine score, file, page, chunk; the text as plain text. The
    order comes from the search type, which is said: only dense search orders by that score."""
    if not hits:
        st.info("No chunk reaches the minimum relevance. Lower it, or rephrase the query — "
                "the RAG answer would be \"I don't know\" here.", icon=":material/search_off:")
        return
    if search_type in ORDER_NOTES:
        st.caption(ORDER_NOTES[search_type])
    for rank, hit in enumerate(hits, 1):
        with st.container(border=True, key=f"{key}_{rank}"):
            st.markdown(f"**#{rank}** · cosine **{hit.score:.3f}** · {md_escape(hit.source)} · {md_escape(hit.location)}")
            st.progress(max(0.0, min(1.0, hit.score)))
            st.text(hit.text)


def render_sources(sources: list[dict], key: str) -> None:
    """Citations of an answer: file, page, chunk, score; expandable text."""
    if not sources:
        return
    st.markdown("**Sources**")
    for n, s in enumerate(sources, 1):
        where = " · ".join(x for x in (f"p. {s['page']}" if s.get("page") else "",
                                       f"row {s['row']}" if s.get("row") else "", f"chunk {s['chunk']}") if x)
        with st.expander(f"[{n}] {md_escape(s['file'])} · {md_escape(where)} · cosine {s['score']:.3f}"):
            st.text(s["text"])


def render_timings(record: dict) -> None:
    if not record.get("generated"):
        st.caption(f"Retrieval {record['retrieval_ms']:.0f} ms · no generation (nothing relevant retrieved)")
        return
    st.caption(f"Retrieval {record['retrieval_ms']:.0f} ms · first token {record['first_token_ms'] or 0:.0f} ms · "
               f"total {record['total_ms'] / 1000:.1f} s · {record['tokens']:d} tokens · "
               f"{record['tokens_per_s']:.1f} tokens/s")
