"""Fine-tune: labeled data -> validation + prompt preview -> options + estimate -> background LoRA run -> adapters.

The file, its mapping and the options are kept as a draft in the workspace (data/ui/finetune_draft/),
so a browser reload or a page switch comes back to them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.runtime.errors import CrossroadsError
from core.runtime.settings import get_settings
from core.runtime.text import md_escape
from core.training import chat_format, datasets, raft
from core.training.finetune_draft import clear_draft, load_draft, save_draft
from core.training.schema import Schema
from ui import finetune_views as views
from ui.common import get_generator, show_error
from ui.finetune_data import DEMO_SETS, data_section, forget_upload
from ui.finetune_options import options_section
from ui.finetune_train import adapters_section, run_section, train_section
from ui.raft_view import mode_section
from ui.task_data_view import EXTRACTION_MAX_LENGTH, task_section

st.title("Fine-tune")
st.caption("Teach the base model with your own labeled examples: a LoRA adapter trained in the background, "
           "with the loss computed on the answers only.")
settings = get_settings()
draft, draft_problem = load_draft(settings)
if draft_problem:
    st.warning(md_escape(draft_problem), icon=":material/warning:")


@st.cache_data(show_spinner="Validating…", max_entries=8)
def _validate(path: str, sha: str, name: str, kind: str, mapping: tuple, max_length: int, _tokenizer):
    data = datasets.load_labeled(Path(path), name=name, schema=Schema.of(kind, dict(mapping)),
                                 tokenizer=_tokenizer, max_length=max_length)
    previews = chat_format.preview(data, _tokenizer, max_length, n=3) if data.rows else []
    return data, previews


_numbers = iter(range(1, 10))


def section(title: str) -> None:
    """Numbered in the order shown: without a file, Train follows Labeled data as 2, not 5."""
    number = next(_numbers)
    st.subheader(f"{number:d} · {title}")


section("Labeled data")
choice = data_section(settings, draft)
data = options = preset = None
# The draft's choices (mode, options, adapter name) belong to its file: another file starts afresh.
same_file = draft if choice is not None and (draft.get("display_name"), draft.get("source")) == \
    (choice.display_name, choice.source) else {}
task = None
if choice is not None:
    # classification / extraction: the task, its labels or entity types, the exact prompt and target
    task = task_section(choice, settings, get_generator()[1])
    section("Options")
    mode = mode_section(task.training if task else choice, settings, same_file.get("training_mode"),
                        task.task if task else None)  # closed-book, or RAFT (trains its built file)
    rows = len(mode.build.rows) if mode.build else choice.rows_read  # what trains: RAFT may drop rows
    # an extraction prompt lists the types and its target is JSON: 128 tokens would cut most rows
    min_length = mode.max_length or (EXTRACTION_MAX_LENGTH if task and task.task == "extraction" else None)
    preset, options = options_section(choice.schema.kind, rows, choice.sha, same_file, min_length,
                                      task.task if task else None)
    options = mode.fit(options)
    if min_length:
        st.caption(f"Max length at least {min_length:d} tokens (this run: {options.max_length:d}): sized to fit "
                   + ("the entity types and the JSON answer." if task and task.task == "extraction" else
                      "the retrieved context."))
    tokenizer = get_generator()[1]
    try:
        options.check()
        trained = mode.choice
        data, previews = _validate(str(trained.path), trained.sha, trained.display_name, trained.schema.kind,
                                   tuple(sorted(trained.schema.mapping.items())), options.max_length, tokenizer)
    except CrossroadsError as exc:
        show_error(exc)
        st.stop()
    section("Validation")
    views.validation_report(data)
    if previews:
        section("What the model sees")
        st.caption("The exact training text of the first rows, chat template applied.")
        views.prompt_preview(previews)

section("Train")
adapter_mode = mode.adapter_mode if choice is not None else None
if choice is not None and choice.source == "generated" and (generated := raft.generated_mode(choice.path)):
    adapter_mode = {**(adapter_mode or raft.closed_book_mode()), "generated": generated}
if task is not None:  # the adapter remembers its task: Compare and Evaluate run the task's arms
    adapter_mode = {**(adapter_mode or raft.closed_book_mode()), **task.adapter_mode()}
active, adapter_name = train_section(mode.choice if choice is not None else None, preset, options, data, same_file,
                                     settings, adapter_mode=adapter_mode)
if choice is not None:
    demo_choice = next((k for k, v in DEMO_SETS.items() if v == choice.path), None)
    current = {**choice.draft(settings), "demo_choice": demo_choice, "preset": preset,
               "options": options.as_dict(), "adapter_name": adapter_name, "training_mode": mode.draft}
    if st.session_state.get("ft_draft_saved") != current:
        save_draft(current, settings)
        st.session_state["ft_draft_saved"] = current
    if st.button("Forget this file", icon=":material/restart_alt:", key="ft_forget",
                 help="Clear the saved file, mapping and options of this page."):
        clear_draft(settings)
        for key in [k for k in st.session_state if k.startswith(("ft_adapter_name_", "ft_mode", "ft_raft_"))]:
            st.session_state.pop(key, None)
        for key in ("ft_source", "ft_upload_kept", "ft_draft_saved", "ft_generated_kept"):
            st.session_state.pop(key, None)
        forget_upload()  # the uploader still held the file: it would come straight back
        st.rerun()
run_section(active, settings)

section("Adapters")
adapters_section(settings)
