"""Streamlit helpers shared by the pages (cached resources, error display)."""
