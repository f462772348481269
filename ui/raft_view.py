"""Fine-tune page, the training mode: closed-book, or for use with retrieval (RAFT).

RAFT rows are built here from the chosen Q&A file and knowledge base (core/training/raft.py) and
written into the workspace as an ordinary chat file; the rest of the page (validation, the exact
training text, estimate, start) then works on that file, so what is previewed and estimated is
what trains. The adapter's meta records the mode, which titles its hybrid arm "Hybrid (RAFT)".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import streamlit as st

from core.knowledge.manifest import list_kbs
from core.knowledge.retrieval import kb_retrieval
from core.knowledge.retrieval_setting import setting_record
from core.runtime.errors import CrossroadsError
from core.runtime.text import md_escape
from core.training import raft
from core.training.raft import DEFAULT_P, RaftOptions
from core.training.schema import Schema
from ui.common import show_error
from ui.retrieval_view import retrieval_line

MODES = {"closed_book": "Closed-book (facts in the weights)", "raft": "For use with retrieval (RAFT)"}
MISSING_TITLES = {"closed_book": "Train them closed-book (no context)", "drop": "Drop them"}


def _help(name: str) -> str:
    return next(f.metadata.get("help", "") for f in fields(RaftOptions) if f.name == name)


@dataclass(frozen=True)
class TrainingMode:
    """What the rest of the page trains: `choice` (the RAFT file for RAFT) and the adapter's mode."""

    choice: object  # ui.finetune_data.DataChoice
    adapter_mode: dict | None = None
    max_length: int | None = None  # fitted to the longest RAFT row (context included)
    build: raft.RaftBuild | None = None
    draft: dict | None = None  # the mode's choices, kept in the page's draft (a page switch comes back to them)

    def fit(self, options):
        """The options with max length raised to fit the context (never lowered)."""
        if self.max_length and options.max_length < self.max_length:
            return replace(options, max_length=self.max_length)
        return options


@st.cache_resource(show_spinner="Retrieving passages for every row…", max_entries=4)
def _build(path: str, sha: str, kind: str, mapping: tuple, kb: str, p: float, distractors: int,
           missing: str, kb_state: str, data_dir: str) -> raft.RaftBuild:
    from core.runtime.settings import get_settings

    settings = get_settings()
    rows = raft.qa_rows_from_file(Path(path), Schema.of(kind, dict(mapping)))
    return raft.build_raft_rows(rows, RaftOptions(kb=kb, p=p, distractors=distractors, missing=missing),
                                settings=settings)


def _fitted_length(build: raft.RaftBuild) -> int:
    from ui.common import get_generator

    return raft.fitted_max_length(build, get_generator()[1])


def _index(options: list, value, default: int = 0) -> int:
    return options.index(value) if value in options else default


def mode_section(choice, settings, saved: dict | None = None, task: str | None = None) -> TrainingMode:
    """The mode radio and, for RAFT, knowledge base, P, distractors and rows without an oracle.

    `saved`: this file's draft ({"mode": ..., "kb": ..., "p": ..., ...}); the widgets start from it,
    so leaving the page (e.g. during a RAFT run) and coming back keeps the mode. `task`
    (classification / extraction): no choice to make, RAFT reads passages for questions."""
    if task:
        st.caption(f":material/school: A {md_escape(task)} adapter learns the task's own prompt → answer pairs; the "
                   "retrieval arm of a task is retrieved examples, not passages, so RAFT does not apply.")
        return TrainingMode(choice, draft={"mode": "closed_book"})
    saved = saved or {}
    mode = st.radio("Training mode", list(MODES), format_func=MODES.get, horizontal=True, key="ft_mode",
                    index=_index(list(MODES), saved.get("mode")),
                    help="Closed-book: the adapter learns the answers by heart and answers without context. "
                         "For use with retrieval (RAFT): each row is trained on the RAG arm's prompt with the "
                         "retrieved passages, so the hybrid arm learns to read them.")
    if mode != "raft":
        return TrainingMode(choice, draft={"mode": mode})
    if choice.schema.kind != "qa":
        st.info("RAFT needs question/answer rows (map a question and an answer column above).",
                icon=":material/info:")
        return TrainingMode(choice, draft={"mode": mode})
    kbs = [k for k in list_kbs(settings) if k["chunks"]]
    if not kbs:
        st.info("RAFT reads passages from a knowledge base: add documents on the Knowledge page first.",
                icon=":material/info:")
        return TrainingMode(choice, draft={"mode": mode})
    names = [k["name"] for k in kbs]
    c1, c2, c3 = st.columns(3)
    kb = c1.selectbox("Knowledge base", names, key="ft_raft_kb", help=_help("kb"),
                      index=_index(names, saved.get("kb")))
    try:
        retrieval = kb_retrieval(kb, settings)
    except CrossroadsError as exc:
        show_error(exc)
        return TrainingMode(choice, draft={"mode": mode})
    p = c2.slider("P (answer passage in context)", 0.0, 1.0, float(saved.get("p", DEFAULT_P)), 0.05, key="ft_raft_p",
                  help=_help("p"))
    distractors = c3.number_input("Distractors", 0, 20, int(saved.get("distractors", max(0, retrieval.k - 1))),
                                  key="ft_raft_distractors", help=_help("distractors"))
    # The kb's own setting, in the same line as every other screen; the adapter records it and is
    # later measured with it (core.evaluation.arms.starting_retrieval).
    retrieval_line(setting_record(retrieval, kb, settings=settings))
    missing = st.radio("Rows whose answer passage is not found", list(MISSING_TITLES),
                       format_func=MISSING_TITLES.get, horizontal=True, key="ft_raft_missing",
                       index=_index(list(MISSING_TITLES), saved.get("missing")), help=_help("missing"))
    kb_state = str(next(k for k in kbs if k["name"] == kb))
    try:
        build = _build(str(choice.path), choice.sha, choice.schema.kind, tuple(sorted(choice.schema.mapping.items())),
                       kb, float(p), int(distractors), missing, kb_state, str(settings.data_dir))
    except CrossroadsError as exc:
        show_error(exc)
        return TrainingMode(choice, draft={"mode": mode})
    with_oracle = sum(r.oracle is not None for r in build.rows)
    st.success(f"{len(build.rows)} RAFT rows: the answer passage was found for {with_oracle}; it is in the "
               f"context of {build.oracle_share:.0%} of them (P = {p:g}).", icon=":material/check_circle:")
    if build.missing:
        what = "train closed-book" if missing == "closed_book" else "are dropped"
        with st.expander(f"{len(build.missing)} row(s) without an answer passage ({what})", expanded=True):
            st.dataframe([{"row": r.number, "question": r.question, "answer": r.answer, "source": r.source or ""}
                          for r in build.missing], hide_index=True, width="stretch")
    folder = settings.path("ui", "raft")
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{choice.sha}|{kb}|{p}|{distractors}|{missing}|{kb_state}".encode()).hexdigest()[:16]
    path = build.write_jsonl(folder / f"{key}.jsonl")
    raft_choice = replace(choice, path=path, sha=hashlib.sha256(path.read_bytes()).hexdigest(),
                          columns=("messages",), schema=Schema.of("chat", {"messages": "messages"}))
    chosen = {"mode": mode, "kb": kb, "p": float(p), "distractors": int(distractors), "missing": missing}
    return TrainingMode(raft_choice, build.mode_meta(), _fitted_length(build), build, chosen)
