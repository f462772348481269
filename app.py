"""Crossroads: the page list and the shared frame. Each page lives in app_pages/ (not pages/: Streamlit would treat that folder as a legacy multipage app whenever a fresh server's first request is a page URL)."""

import streamlit as st

import core  # noqa: F401  (offline environment before anything else loads)

st.set_page_config(page_title="Crossroads — RAG or fine-tune?", page_icon="assets/icon.png", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/models.py", title="Models", icon=":material/memory:"),
    st.Page("app_pages/knowledge.py", title="Knowledge", icon=":material/library_books:"),
    st.Page("app_pages/finetune.py", title="Fine-tune", icon=":material/tune:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/monitoring:"),
    st.Page("app_pages/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("app_pages/recommend.py", title="Recommend", icon=":material/explore:"),
]

st.navigation(PAGES).run()
