import streamlit as st

from ui.common import placeholder

st.title("Evaluate")
placeholder("Run an eval set through every arm and get exact match, F1, ROUGE-L, hit@k and latency, "
            "with paired-bootstrap confidence intervals and a per-question diff.", "issue 5")
