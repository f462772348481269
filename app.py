"""Crossroads: the page list and the shared frame. Each page lives in pages/."""

import streamlit as st

import core  # noqa: F401  (offline environment before anything else loads)

st.set_page_config(page_title="Crossroads — RAG or fine-tune?", page_icon=":material/alt_route:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/knowledge.py", title="Knowledge", icon=":material/library_books:"),
    st.Page("pages/finetune.py", title="Fine-tune", icon=":material/tune:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/monitoring:"),
    st.Page("pages/recommend.py", title="Recommend", icon=":material/explore:"),
]

st.navigation(PAGES).run()
