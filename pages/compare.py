import streamlit as st

from ui.common import placeholder

st.title("Compare")
placeholder("Ask one question and watch base, RAG, fine-tuned and hybrid answers stream side by side, "
            "each with latency, tokens/s and cited sources.", "issue 5")
