"""Compare: one question, the chosen arms side by side, streamed, with figures and sources."""

from dataclasses import replace

import streamlit as st

from core.evaluation.arms import (
    ADAPTER_ARMS,
    ARMS,
    RETRIEVAL_ARMS,
    ArmSetup,
    arm_title,
    starting_retrieval,
)
from core.evaluation.conversation import (
    Conversation,
    clear_conversation,
    load_conversation,
    save_conversation,
)
from core.knowledge.manifest import list_kbs
from core.runtime.answer_times import record_answers
from core.runtime.engines import engine_caption
from core.runtime.errors import CrossroadsError
from core.runtime.generation import Decoding
from core.runtime.limits import question_limit
from core.runtime.text import md_escape
from core.training.adapters import get_adapter, list_adapters
from core.training.raft import adapter_mode
from ui.arms_view import (
    exchange_caption,
    get_arms,
    model_wait_note,
    render_record,
    show_stopped,
    stream_into_columns,
)
from ui.common import show_error
from ui.ingest_view import indexing_note
from ui.retrieval_view import retrieval_controls, retrieval_line
from ui.task_compare_view import task_compare

st.title("Compare")
st.caption("One question, up to four arms on the same base model with the same decoding. "
           "Base and fine-tuned get the same prompt; RAG and hybrid get the same retrieved context.")
try:
    st.caption(engine_caption())  # the engine's measured fidelity to the fp32 model, and its speed
except CrossroadsError:
    pass  # a wrong CROSSROADS_ENGINE is reported when the arms load

# Classification / extraction (issue 27): a pasted text through the task's arms (ui/task_compare_view.py).
if st.segmented_control("What to compare", ["Questions", "Classification / extraction"], default="Questions",
                        key="compare_mode") == "Classification / extraction":
    task_compare()
    st.stop()

kbs = [kb["name"] for kb in list_kbs()]
adapters = [a.name for a in list_adapters(active_model_only=True)]  # others are refused on this model

with st.container(border=True):
    c1, c2, c3 = st.columns([1, 1, 2])
    kb = c1.selectbox("Knowledge base", kbs, index=0 if kbs else None, placeholder="none yet",
                      help="Used by the RAG and hybrid arms.")
    adapter = c2.selectbox("Adapter", adapters, index=0 if adapters else None, placeholder="none yet",
                           help="The LoRA adapter used by the fine-tuned and hybrid arms.")
    indexing_note(kb)
    available = [a for a in ARMS if (a not in RETRIEVAL_ARMS or kb) and (a not in ADAPTER_ARMS or adapter)]
    meta = get_adapter(adapter).meta if adapter else {}
    mode = adapter_mode(meta) if adapter else None  # a RAFT adapter's hybrid arm is "Hybrid (RAFT)"
    arms = c3.pills("Arms", available, default=available, selection_mode="multi",
                    format_func=lambda a: arm_title(a, mode), help="Arms that need a missing knowledge base or adapter are hidden.")
    labels = (meta.get("data") or {}).get("labels") if adapter else None
    if labels:
        st.caption(f"{md_escape(adapter)} is a text classifier ({md_escape(', '.join(labels))}): the base and fine-tuned arms get its "
                   "classification prompt, so they answer with a label.")
    if len(available) < len(ARMS):
        st.caption("RAG and hybrid need a knowledge base (Knowledge page); fine-tuned and hybrid need an "
                   "adapter (Fine-tune page).")
    base, _ = starting_retrieval(kb, adapter)  # the kb's setting, or a RAFT adapter's training one
    # Stateful (key + rerun): the open state lives in the session, so the controls stay open when
    # a note above them (an indexing job ending) shifts the page and the block is drawn anew.
    with st.expander("Decoding and retrieval (shared by every arm)", key="compare_decoding", on_change="rerun"):
        d1, d2, d3, d4 = st.columns(4)
        max_new = d1.number_input("Max new tokens", 8, 512, Decoding().max_new_tokens, step=8,
                                  help=Decoding.__dataclass_fields__["max_new_tokens"].metadata["help"])
        retrieval = retrieval_controls(f"compare_{kb}_{adapter}", base, columns=(d2, d3, d4))
        st.caption("Greedy decoding (reproducible); no repetition penalty, so arms can copy facts from context.")
    setup = None
    try:
        setup = ArmSetup(arms=tuple(a for a in ARMS if a in (arms or [])), kb=kb, adapter=adapter, retrieval=retrieval,
                         decoding=replace(Decoding(), max_new_tokens=int(max_new)))
    except CrossroadsError:
        pass  # no arm chosen or a missing kb/adapter: said below, where the question is asked
    if kb:
        retrieval_line(setup.retrieval_record() if setup else None)

arms = tuple(a for a in ARMS if a in (arms or []))
# The conversation lives on disk (DATA_DIR/compare/conversation.json): a reload, a page switch or
# a restart finds it again. Read every run: the file is small and is the one source of truth.
conversation, unreadable = load_conversation()
if unreadable:
    st.warning(md_escape(unreadable), icon=":material/warning:")

tools = st.columns([2, 1, 1, 1])
use_history = tools[0].toggle(
    "Conversation mode", value=conversation.use_history, key="compare_use_history",
    help="Off (default): every question is answered on its own, so a comparison is reproducible. "
         "On: each arm also sees its own earlier questions and answers.")
if use_history != conversation.use_history:
    conversation.use_history = use_history
    save_conversation(conversation)
if tools[1].button("Clear", icon=":material/delete:", disabled=not conversation.exchanges):
    clear_conversation()
    conversation = Conversation(use_history=use_history)
    save_conversation(conversation)
tools[2].download_button("Markdown", conversation.to_markdown(), "crossroads-compare.md", "text/markdown",
                         icon=":material/download:", disabled=not conversation.exchanges)
tools[3].download_button("JSON", conversation.to_json(), "crossroads-compare.json", "application/json",
                         icon=":material/download:", disabled=not conversation.exchanges)
st.caption(":material/forum: Conversation mode: each arm sees its own earlier turns." if use_history else
           ":material/filter_1: Each question is answered on its own (no history): the same question always "
           "gets the same answers.")


def show_exchange(exchange) -> None:
    with st.chat_message("user"):
        st.markdown(md_escape(exchange.question))  # a question is text, never markup
        st.caption(exchange.history_note)
        exchange_caption(exchange.setup)
        model_wait_note(exchange.answers.values())
    columns = st.columns(len(exchange.answers))
    for column, (arm, record) in zip(columns, exchange.answers.items(), strict=True):
        with column:
            render_record(arm, record)
    with st.expander("What changed: the prompt each arm received"):
        tabs = st.tabs([record.get("title") or arm_title(arm) for arm, record in exchange.answers.items()])
        for tab, record in zip(tabs, exchange.answers.values(), strict=True):
            tab.code(record["prompt"], language=None, wrap_lines=True)


for exchange in conversation.exchanges:
    show_exchange(exchange)
show_stopped({a: arm_title(a, mode) for a in ARMS})

# the model's question limit (core.runtime.limits): the box counts characters up to it
question = st.chat_input("Ask all arms a question", disabled=not arms, max_chars=question_limit()[1])
if not arms:
    st.info("Choose at least one arm.")
if question and arms:
    try:
        setup = ArmSetup(arms=arms, kb=kb, adapter=adapter, retrieval=retrieval,
                         decoding=replace(Decoding(), max_new_tokens=int(max_new)))
        engine = get_arms(setup)
        history_turns = len(conversation.exchanges) if use_history else 0
        with st.chat_message("user"):
            st.markdown(md_escape(question))
            st.caption(f"Conversation mode: each arm sees its own {history_turns} earlier turn(s)" if history_turns
                       else "Answered on its own (no history)")
        prepared = engine.prepare(question, conversation.histories_for_next())
        # A reload or a new question mid-stream stops this script; the stream then stops the
        # generation within one step (core.runtime.generation), so the next question does not wait.
        stream_into_columns(engine, prepared, dict(zip(arms, st.columns(len(arms)), strict=True)), question)
        conversation.add(question, prepared, {arm: engine.prompt_text(a) for arm, a in prepared.items()},
                         history_turns=history_turns, setup=engine.provenance())
        save_conversation(conversation)
        record_answers("Compare", {arm: a.record(with_text=False) for arm, a in prepared.items()}, int(max_new))
        st.rerun()
    except CrossroadsError as exc:
        show_error(exc)
