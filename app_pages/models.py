"""Models: the base model every arm, adapter, cache and report follows; add one, switch it."""

import streamlit as st

from core.runtime import model_registry as registry
from core.runtime.settings import get_settings
from core.runtime.text import md_escape
from ui.common import page_section
from ui.models_view import active_switch, add_form, models_table, override_note

st.title("Models", anchor=False)
st.caption("The verdict is about one base model: choose the one you will deploy. RAG, fine-tuning, "
           "Compare, Evaluate and Recommend all use the active model; each adapter belongs to the model it was "
           "trained on and is refused on another.")

settings = get_settings()
data_dir = settings.data_dir
with page_section("Models"):
    facts = registry.machine_facts()
    entries = registry.list_models(data_dir)
    rows = [registry.describe(e, facts, data_dir) for e in entries]
    where = (f"GPU {facts['gpu']} ({facts['gpu_gb']:.0f} GB)" if facts["device"] == "cuda"
             else f"CPU only, {facts['ram_gb']:.0f} GB RAM")
    st.markdown(f"**Active model: {md_escape(settings.model_name)}** · this machine: {md_escape(where)}")
    override_note()
    models_table(rows, settings.model_name)
    cuda = facts["device"] == "cuda"
    formula = (f"Estimates before loading: memory = parameters × {2 if cuda else 4} bytes × {registry.MEMORY_OVERHEAD} "
               f"+ {registry.MEMORY_FIXED_GB} GB; tokens/s = the bundled model's ({rows[0]['estimate_source']}) × "
               f"its parameters / these parameters (at most the bundled model's); it fits when the memory is at most {registry.RAM_SHARE:.0%} of "
               f"{'GPU memory' if cuda else 'RAM'} and the speed at least {registry.USABLE_TOKENS_PER_S:g} tokens/s. "
               "Measured speeds appear after the model has answered.")
    st.caption(md_escape(formula))
    active_switch([e.name for e in entries], settings.model_name, data_dir)

with page_section("Add a model"):
    add_form(data_dir)
