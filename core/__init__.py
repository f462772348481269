"""Crossroads engine: knowledge bases, fine-tuning, the four arms, evaluation, recommendation.

Nothing in this package imports Streamlit.
"""

from core.runtime import settings as _settings  # noqa: F401  (sets the offline environment first)
