"""Home: the workflow in three sentences and the state of the workspace."""

import streamlit as st

from core.runtime import engines
from core.runtime.settings import get_settings
from core.runtime.text import md_escape
from core.runtime.workspace import read_state
from ui.common import get_engine
from ui.jobs_view import running_jobs

st.title("Crossroads", anchor=False)
st.markdown(
    "**Put your knowledge in retrieval, in the weights, or both?** "
    "Crossroads answers by measurement: index your documents for RAG and fine-tune a LoRA "
    "adapter on your labeled data, both on the same local base model. "
    "Then compare the answers side by side, evaluate every arm with confidence intervals, "
    "and let the wizard turn your situation and those measurements into a recommendation."
)

state = read_state()
settings = get_settings()
engine = engines.engine_name(settings)
ENGINE_WHAT = {"ct2": "CTranslate2 float32 on the CPU", "ct2-int8": "CTranslate2 int8 on the CPU: fast, approximate"}
needs_preparing = engines.engine_needs_preparing(settings)
cols = st.columns(4)
# A short value: a quarter-width metric cut "not converted yet" to "not convert…".
cols[0].metric("Base model", "pending" if needs_preparing else "ready",
               help=f"{settings.model_name}. Ready = converted for the {engine} engine "
                    f"({ENGINE_WHAT.get(engine, 'transformers + PEFT')}). A model is converted once, on first use "
                    "(~1 min for the bundled SmolLM2-135M-Instruct), with the button below, or with "
                    "`python -m core models prepare`. Choose the base model on the Models page.")
cols[1].metric("Knowledge bases", len(state.knowledge_bases))
cols[2].metric("Adapters", len(state.adapters))
cols[3].metric("Evaluation reports", len(state.reports))

# Two one-element placeholders, drawn on every run: the note (then the preparation's progress) and
# the button (then the same widget, disabled, "Preparing"). The click only sets a flag (a callback,
# before the run); that run prepares the model at the end of the script, once the rest of the page
# is drawn: nothing waits faded under the progress. The browser keeps showing a widget of the last
# run until the run ends unless the same widget replaces it: hence the same key, disabled.
note, button = st.empty(), st.empty()
prepare_now = needs_preparing and st.session_state.pop("prepare_model_now", False)
if prepare_now:
    button.button("Preparing the model…", icon=":material/hourglass:", key="prepare_model", disabled=True)
elif needs_preparing:
    note.info(f"**The model is not prepared yet.** The first answer converts it for the {engine} engine "
              "(first time, ~1 min). Prepare it now and the first question is answered at once.",
              icon=":material/info:")
    button.button("Prepare the model", icon=":material/download:", key="prepare_model",
                  on_click=lambda: st.session_state.update(prepare_model_now=True))

st.page_link("app_pages/models.py", label=f"Base model: {md_escape(settings.model_name)} — change it on the Models page",
             icon=":material/memory:")
running_jobs()

st.subheader("The workflow")
steps = [
    ("app_pages/knowledge.py", ":material/library_books:", "1. Knowledge", "Upload documents into a knowledge base and test retrieval."),
    ("app_pages/finetune.py", ":material/tune:", "2. Fine-tune", "Upload labeled examples and train a LoRA adapter."),
    ("app_pages/compare.py", ":material/compare:", "3. Compare", "Ask one question; see base, RAG, fine-tuned and hybrid answers."),
    ("app_pages/evaluate.py", ":material/monitoring:", "4. Evaluate", "Score every arm on an eval set, with confidence intervals."),
    ("app_pages/recommend.py", ":material/explore:", "5. Recommend", "Answer a few questions; get RAG, fine-tune, hybrid or prompt-first."),
]
for page, icon, label, text in steps:
    with st.container(border=True):
        left, right = st.columns([1, 3])
        left.page_link(page, label=label, icon=icon)
        right.write(text)

with st.expander("Workspace details"):
    st.write(f"Data directory: `{state.data_dir}`")
    st.write("Knowledge bases:", ", ".join(state.knowledge_bases) or "none yet")
    st.write("Adapters:", ", ".join(state.adapters) or "none yet")
    st.write("Reports:", ", ".join(state.reports) or "none yet")

if prepare_now:
    with note.container():
        get_engine()
    note.empty()
    st.rerun()
