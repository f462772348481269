"""Rendering of arm answers (Compare page) and the cached arms engine."""

from __future__ import annotations

import time

import streamlit as st

from core.evaluation.arms import ARM_HELP, ARM_TITLES, Arms, ArmSetup
from core.evaluation.conversation import figures_line, setup_lines
from core.knowledge.sanitize import answer_markdown
from ui.common import get_engine
from ui.knowledge_view import md_escape


@st.cache_resource(show_spinner="Loading the adapter (prepared for the engine the first time, ~30 s)…",
                   max_entries=4)
def _arms(setup: ArmSetup) -> Arms:
    engine = Arms(setup)
    engine.warm_up()
    return engine


def get_arms(setup: ArmSetup) -> Arms:
    """One arms object per setup; they all share the one cached engine (prepared visibly first)."""
    get_engine()
    return _arms(setup)


def arm_header(arm: str, title: str | None = None) -> None:
    st.markdown(f"**{title or ARM_TITLES[arm]}**", help=ARM_HELP[arm])


def render_sources(sources: list[dict]) -> None:
    if not sources:
        return
    with st.popover(f"Sources ({len(sources)})", width="stretch"):
        for n, source in enumerate(sources, 1):
            where = f"p. {source['page']}, " if source.get("page") is not None else ""
            st.markdown(f"**[{n}]** {md_escape(source['file'])} · {where}chunk {source['chunk']} · score {source['score']:.2f}")
            st.text(source["text"])


def exchange_caption(setup: dict | None) -> None:
    """What produced an exchange's answers (adapter, retrieval, engine, model), under its question."""
    st.caption("  \n".join(f"**{label}**: {text}" for label, text in setup_lines(setup)))


def render_record(arm: str, record: dict) -> None:
    """A finished answer: text, figures, sources."""
    with st.container(border=True):
        arm_header(arm, record.get("title"))
        st.markdown(answer_markdown(record["answer"]) or "_(empty answer)_")
        st.caption(figures_line(record))
        if record.get("engine"):
            loading = f" · waited {record['load_ms'] / 1000:.1f} s for the model first (not in the figures)" \
                if record.get("load_ms") else ""
            st.caption(f"engine {record['engine']} {record.get('quantization') or ''}{loading}")
        render_sources(record.get("sources", []))


def stream_into_columns(engine: Arms, prepared: dict, columns: dict) -> None:
    """Stream every arm's answer into its own column as tokens arrive."""
    slots = {}
    for arm, column in columns.items():
        with column, st.container(border=True):
            arm_header(arm, engine.title(arm))
            slots[arm] = st.empty()
    texts = {arm: "" for arm in prepared}
    last_draw = 0.0
    for answer, piece in engine.stream(list(prepared.values())):
        texts[answer.arm] += piece
        if time.monotonic() - last_draw > 0.15:
            for arm, text in texts.items():
                slots[arm].markdown(answer_markdown(text) + " ▌")
            last_draw = time.monotonic()
