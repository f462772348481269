import streamlit as st

from ui.common import placeholder

st.title("Fine-tune")
placeholder("Upload labeled data (CSV / JSONL), see it validated and previewed as the model sees it, "
            "and train a LoRA adapter in the background with a live loss curve, cancel and resume.", "issue 4")
