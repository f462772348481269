"""The retrieval setting on every screen: controls that start from the screen's base setting, and
the one line that says which setting is in use and where it came from
(core.knowledge.retrieval_setting writes and describes the record)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.knowledge.retrieval import SEARCH_TYPES, RetrievalConfig
from core.knowledge.retrieval_setting import describe_setting
from core.runtime.text import md_escape


def _fingerprint(config: RetrievalConfig) -> str:
    # Part of the widget keys: when the base changes (the lab applied a setting, another kb or a
    # RAFT adapter was chosen) the controls start again from it instead of keeping an old value.
    return f"{config.search_type}-{config.k}-{config.min_score}"


def retrieval_controls(prefix: str, base: RetrievalConfig | None = None, *, columns=None) -> RetrievalConfig:
    """k, search type and minimum relevance, starting from `base` (the screen's starting setting).

    `columns`: three containers to put the widgets in (default: a new row of three)."""
    base = base or RetrievalConfig()
    cfg_help = {name: f.metadata.get("help") for name, f in RetrievalConfig.__dataclass_fields__.items()}
    c1, c2, c3 = columns or st.columns(3)
    key = f"{prefix}_{_fingerprint(base)}"
    k = c1.number_input("Chunks (k)", 1, 10, min(base.k, 10), key=f"{key}_k", help=cfg_help["k"])
    search_type = c2.selectbox("Search", SEARCH_TYPES, index=SEARCH_TYPES.index(base.search_type),
                               key=f"{key}_search", help=cfg_help["search_type"])
    min_score = c3.slider("Min relevance", 0.0, 1.0, base.min_score if base.min_score is not None else 0.0,
                          0.05, key=f"{key}_min", help=cfg_help["min_score"])
    chosen = replace(base, k=int(k), search_type=search_type, min_score=float(min_score))
    if base.min_score is None and min_score == 0.0:
        chosen = replace(chosen, min_score=None)  # 0 on the slider is the base's "no threshold"
    return chosen


def retrieval_line(record: dict | None, container=None) -> None:
    """The setting in use in one line; an override is marked as such."""
    target = container or st
    override = isinstance(record, dict) and bool(record.get("override"))
    target.caption((":material/tune: **Retrieval** (changed here): " if override else ":material/tune: **Retrieval**: ")
                   + md_escape(describe_setting(record)))
