import streamlit as st

from ui.common import placeholder

st.title("Knowledge")
placeholder("Upload PDF, TXT, MD, DOCX, HTML and CSV files into named knowledge bases (Chroma), "
            "watch them index, test retrieval and ask questions answered with cited sources.", "issue 3")
