"""The Models page's views: the table of base models with their estimates here, the form that adds
one, and the switch of the active model (core/runtime/model_registry.py does the work)."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from core.runtime import model_registry as registry
from core.runtime.errors import CrossroadsError
from core.runtime.settings import reset_settings
from core.runtime.text import md_escape
from ui.common import show_error


def fmt_params(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _measured(measured: dict | None) -> str:
    if not measured:
        return "—"
    parts = []
    for engine, figure in sorted(measured.items()):
        if isinstance(figure, dict) and figure.get("tokens_per_s"):
            rows = figure.get("rows") or 1
            parts.append(f"{figure['tokens_per_s']:.1f} ({engine}" + (f", {rows} answers at once)" if rows > 1 else ")"))
    return ", ".join(parts) or "—"


def models_table(rows: list[dict], active: str) -> None:
    table = [{
        "active": "●" if r["name"] == active else "",
        "name": r["name"], "fits here": r["verdict"],
        "est. memory": f"{r['memory_gb']:.1f} GB",
        "est. tokens/s": f"{r['tokens_per_s']:.1f}" if r["tokens_per_s"] is not None else "not estimated on CUDA",
        "measured tokens/s": _measured(r["measured_tokens_per_s"]),
        "parameters": fmt_params(r["params"]), "disk": _size(r["disk_bytes"]),
        "architecture": r["architecture"], "format": r["kind"],
        "engines": ", ".join(r["engines"]), "device": r["device"],
    } for r in rows]
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch", column_config={
        "active": st.column_config.TextColumn(width=50), "parameters": st.column_config.TextColumn(width=80),
        "disk": st.column_config.TextColumn(width=60), "format": st.column_config.TextColumn(width=90),
        "est. memory": st.column_config.TextColumn(help="parameters × 4 bytes (float32 on CPU; 2 bytes bf16 on CUDA) "
                                                        "× 1.2 + 0.5 GB"),
        "est. tokens/s": st.column_config.TextColumn(help="the bundled model's tokens/s × 134.5M / parameters "
                                                          "(decoding reads every weight once per token), at most "
                                                          "the bundled model's"),
        "measured tokens/s": st.column_config.TextColumn(help="the median answer's speed the last time it answered here"),
        "fits here": st.column_config.TextColumn(help=f"fits: memory ≤ {registry.RAM_SHARE:.0%} of RAM (GPU memory on "
                                                      f"CUDA) and ≥ {registry.USABLE_TOKENS_PER_S:g} tokens/s"),
    })


def override_note() -> None:
    """Say so when an environment variable chooses the model instead of this page."""
    for var in ("CROSSROADS_MODEL", "CROSSROADS_GENERATOR"):
        if os.environ.get(var):
            st.warning(f"`{md_escape(var)}` is set for this app, so it chooses the model; the switch below changes the "
                       "workspace's active model for when it is unset.", icon=":material/info:")
            return


def active_switch(names: list[str], active: str, data_dir) -> None:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Active model", names, index=names.index(active) if active in names else 0,
                        key=f"models_active_pick_{active}",  # a fresh widget when the active model changes
                        help="Every arm, adapter, cache and report of this workspace follows it. Caches of the other "
                             "models stay: switching back rebuilds nothing.")
    if c2.button("Use this model", key="models_use", disabled=pick == active, icon=":material/swap_horiz:"):
        try:
            registry.use(data_dir, pick)
        except CrossroadsError as exc:
            show_error(exc)
            return
        reset_settings()
        st.session_state["models_switched"] = pick
        st.rerun()
    if switched := st.session_state.pop("models_switched", None):
        st.success(f"**{md_escape(switched)}** is the active model now.", icon=":material/check_circle:")


def add_form(data_dir) -> None:
    # kept filled on a refusal (fix the path, not retype it); fresh widgets once a model was added
    n = st.session_state.setdefault("models_add_form", 0)
    with st.form(f"models_add_{n}", border=True):
        st.markdown("**Add a model** — a local transformers folder (config.json, tokenizer, *.safetensors) or a "
                    "local .gguf file. Nothing is downloaded.")
        path = st.text_input("Folder or .gguf file", key=f"models_add_path_{n}", placeholder="/models/Qwen2.5-0.5B-Instruct")
        name = st.text_input("Name", key=f"models_add_name_{n}", placeholder="qwen2.5-0.5b",
                             help="How adapters, reports and `--model` name it: letters, digits, '.', '_' or '-'.")
        activate = st.checkbox("Make it the active model", key=f"models_add_use_{n}")
        submitted = st.form_submit_button("Add model", icon=":material/add:")
    if submitted:
        try:
            entry = registry.add(data_dir, path.strip(), name.strip(), activate=activate)
        except CrossroadsError as exc:
            show_error(exc)
            return
        reset_settings()
        st.session_state["models_add_form"] = n + 1
        st.session_state["models_added"] = entry.name
        st.rerun()
    if added := st.session_state.pop("models_added", None):
        st.success(f"Added **{md_escape(added)}**.", icon=":material/check_circle:")
