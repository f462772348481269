"""Compare page, classification / extraction (issue 27): a pasted text through the task's arms side by
side — base (zero-shot), retrieved examples (the most similar training rows as few-shot examples,
shown like sources), fine-tuned, hybrid — on the same base model and decoding."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.runtime.errors import CrossroadsError
from core.runtime.text import md_escape, plural
from ui.common import get_engine, show_error
from ui.task_eval_view import (
    ADAPTER_ARMS,
    EXAMPLE_ARMS,
    demo_files,
    file_picker,
    file_task,
    task_adapters,
)
from ui.task_report_view import ARM_ORDER, ARM_TITLES

RESULT = "task_compare_result"
MAX_TEXT = 4000


@st.cache_resource(show_spinner="Loading the arms (adapter and examples index)…", max_entries=4)
def _arms(spec, arms: tuple, adapter: str | None, train_path: str | None, train_sha: str | None, k: int):
    from core.evaluation.tasks.arms import TaskArms
    from core.training.tasks import load_task_data

    rows = load_task_data(Path(train_path), task=spec.task).require_valid().rows if train_path else ()
    return TaskArms(spec, arms, adapter=adapter, train_rows=rows, k=k)


@st.cache_data(show_spinner=False, max_entries=16)
def _spec_of_file(path: str, mtime: float):
    from core.training.tasks import load_task_data

    data = load_task_data(Path(path))
    return data.spec, data.sha256, [i.text() for i in data.report.errors]


def _prediction(task: str, record: dict) -> None:
    pred = record.get("prediction")
    if task == "classification":
        st.markdown(f"### {md_escape(pred)}" if pred else ":orange[**unmapped**: the output names no label]")
        return
    if pred is None:
        st.markdown(":orange[**invalid JSON**: no list of entities could be read]")
    elif not pred:
        st.caption("No entity found.")
    else:
        st.dataframe(pd.DataFrame(pred), hide_index=True, width="stretch")


def _examples(demos: list[dict]) -> None:
    if not demos:
        return
    with st.expander(f"Retrieved examples ({len(demos)})"):
        for n, demo in enumerate(demos, 1):
            st.markdown(f"**[{n}]** training row {md_escape(demo['row'])} → **{md_escape(demo['target'])}**")
            st.text(demo["text"])


def render_answers(result: dict) -> None:
    st.markdown(f"**Text:** {md_escape(result['text'])}")
    answers = result["answers"]
    for column, (arm, record) in zip(st.columns(len(answers)), answers.items(), strict=True):
        with column, st.container(border=True):
            st.markdown(f"**{md_escape(ARM_TITLES.get(arm, arm))}**", help=result["help"].get(arm))
            _prediction(result["task"], record)
            st.caption("Raw output:")
            st.text(record["answer"] or "(empty)")
            st.caption(f"{record['total_ms'] / 1000:.1f} s · {plural(record['prompt_tokens'], 'prompt token')} · "
                       f"{plural(record['tokens'], 'answer token')}")
            _examples(record.get("demos_shown") or [])
    with st.expander("What changed: the prompt each arm received"):
        tabs = st.tabs([ARM_TITLES.get(a, a) for a in answers])
        for tab, record in zip(tabs, answers.values(), strict=True):
            tab.code(record["prompt"], language=None, wrap_lines=True)


def task_compare() -> None:
    """Adapter and/or training file -> arms -> a pasted text -> the arms' answers side by side."""
    from core.evaluation.tasks.arms import DEFAULT_K, TASK_ARM_HELP

    adapters = task_adapters()
    with st.container(border=True):
        c1, c2 = st.columns(2)
        adapter = c1.selectbox("Task adapter", [None, *adapters], key="task_cmp_adapter",
                               format_func=lambda a: "— none —" if a is None else f"{a} ({adapters[a]['task']})",
                               help="The LoRA adapter of the fine-tuned and hybrid arms (trained on the Fine-tune page "
                                    "from a classification or extraction file).")
        meta = adapters.get(adapter) or {}
        trained_on = Path(meta["train_file"]) if meta.get("train_file") else None
        with c2:
            train = file_picker("Training rows (retrieved examples)", demo_files(meta.get("task"), "train"),
                                trained_on if trained_on and trained_on.is_file() else None, f"task_cmp_train_{adapter}",
                                "The labeled rows the retrieved-examples arm searches for the most similar examples.",
                                meta.get("data_name"))
        spec, train_sha = None, None
        if train is not None and file_task(train[0]):
            spec, train_sha, errors = _spec_of_file(str(train[0]), train[0].stat().st_mtime)
            if errors:
                st.error(f"{md_escape(train[1])}: {md_escape(errors[0])}", icon=":material/block:")
                return
        if adapter:
            from core.training.task_prompts import TaskSpec

            spec = TaskSpec.from_dict(meta)  # the adapter's own label set / entity types
        if spec is None:
            st.info("Choose a task adapter or a labeled training file (text + label, or text + entities): they "
                    "say the task and its labels or entity types.", icon=":material/category:")
            return
        available = [a for a in ARM_ORDER if (a not in ADAPTER_ARMS or adapter) and (a not in EXAMPLE_ARMS or train)]
        arms = st.pills("Arms", available, default=available, selection_mode="multi", format_func=ARM_TITLES.get,
                        key=f"task_cmp_arms_{adapter}_{train_sha}")
        k = st.number_input("Examples per prompt (k)", 1, 16, DEFAULT_K, key="task_cmp_k",
                            help="How many of the most similar training rows the retrieved-examples and hybrid arms "
                                 "see (Evaluate chooses it by a sweep).")
        what = (f"labels: {', '.join(spec.labels)}" if spec.task == "classification"
                else f"entity types: {', '.join(spec.entity_types)}")
        st.caption(f":material/category: {md_escape(spec.task.capitalize())} · {md_escape(what)}")
    text = st.text_area("Text to " + ("classify" if spec.task == "classification" else "extract entities from"),
                        key="task_cmp_text", max_chars=MAX_TEXT, height=100)
    # not disabled while the box is empty: a text typed and not yet committed would swallow the click
    if st.button("Run the arms", type="primary", icon=":material/play_arrow:", disabled=not arms,
                 key="task_cmp_go"):
        try:
            get_engine()  # the one cached engine, prepared visibly first
            engine = _arms(spec, tuple(a for a in ARM_ORDER if a in arms), adapter,
                           str(train[0]) if train and set(arms) & set(EXAMPLE_ARMS) else None, train_sha, int(k))
            with st.spinner("Every arm answers…"):
                answers = engine.answer(text)
            st.session_state[RESULT] = _result(engine, spec.task, text, answers, TASK_ARM_HELP)
        except CrossroadsError as exc:
            show_error(exc)
    if st.session_state.get(RESULT):
        render_answers(st.session_state[RESULT])


def _result(engine, task: str, text: str, answers: dict, help_texts: dict) -> dict:
    from core.runtime.generation import chat_text

    out = {"task": task, "text": text, "help": dict(help_texts), "answers": {}}
    for arm, answer in answers.items():
        record = answer.record()
        record["prompt"] = chat_text(engine.tokenizer, answer.messages)
        record["demos_shown"] = [{"row": d.number, "text": d.text, "target": d.target} for d in reversed(answer.demos)]
        out["answers"][arm] = record
    return out
