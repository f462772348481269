"""Rendering of arm answers (Compare page) and the cached arms engine."""

from __future__ import annotations

import time

import streamlit as st

from core.evaluation.arms import ARM_TITLES, Arms, ArmSetup, arm_help
from core.evaluation.conversation import figures_line, setup_lines
from core.knowledge.sanitize import answer_markdown
from ui.common import get_engine
from ui.knowledge_view import md_escape
from ui.stop import StopControl, stopped_answer


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
    title = title or ARM_TITLES[arm]
    st.markdown(f"**{title}**", help=arm_help(arm, "raft" if "RAFT" in title else None))


def render_sources(sources: list[dict]) -> None:
    if not sources:
        return
    # An expander stays inside its column; a popover opened from the last column ran off the page.
    with st.expander(f"Sources ({len(sources)})"):
        for n, source in enumerate(sources, 1):
            where = f"p. {source['page']}, " if source.get("page") is not None else ""
            st.markdown(f"**[{n}]** {md_escape(source['file'])} · {md_escape(where)}chunk {md_escape(source['chunk'])} · "
                        f"cosine {source['score']:.2f}")
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
            fidelity = f" · {record['fidelity']}" if record.get("fidelity") else ""
            st.caption(md_escape(f"engine {record['engine']} {record.get('quantization') or ''}{fidelity}"))
        if record.get("note"):
            st.caption(f":material/content_cut: {md_escape(record['note'])}")
        render_sources(record.get("sources", []))


def model_wait_note(records) -> None:
    """The one wait for the model before a batch (every arm of it waited the same): said once."""
    waits = [r["load_ms"] for r in records if r.get("load_ms")]
    if waits:
        st.caption(f":material/hourglass: Waited {max(waits) / 1000:.1f} s for the model before answering "
                   "(loading, not in the figures).")


def stream_into_columns(engine: Arms, prepared: dict, columns: dict, question: str = "") -> None:
    """Stream every arm's answer into its own column as tokens arrive, with a Stop button."""
    with StopControl("compare") as stop:
        _stream(engine, prepared, columns, stop, question)


def _stream(engine: Arms, prepared: dict, columns: dict, stop: StopControl, question: str) -> None:
    slots = {}
    for arm, column in columns.items():
        with column, st.container(border=True):
            arm_header(arm, engine.title(arm))
            slots[arm] = st.empty()
    texts = {arm: "" for arm in prepared}
    stop.keep({"question": question, "answers": texts})  # filled in place: Stop finds what had arrived
    last_draw = 0.0
    for answer, piece in engine.stream(list(prepared.values())):
        texts[answer.arm] += piece
        if time.monotonic() - last_draw > 0.15:
            for arm, text in texts.items():
                slots[arm].markdown(answer_markdown(text) + " ▌")
            last_draw = time.monotonic()


def show_stopped(titles: dict[str, str]) -> None:
    """After Stop: what each arm had written (not kept in the conversation)."""
    stopped = stopped_answer("compare")
    if stopped is None:
        return
    partial = stopped["answers"]
    with st.chat_message("user"):
        st.write(stopped["question"])
    st.info("Stopped by you: below is what each arm had written; this exchange is not kept.",
            icon=":material/stop_circle:")
    for column, (arm, text) in zip(st.columns(max(len(partial), 1)), partial.items(), strict=False):
        with column, st.container(border=True):
            arm_header(arm, titles.get(arm))
            st.markdown(answer_markdown(text) or "_(nothing had arrived yet)_")
