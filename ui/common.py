"""Helpers shared by pages: cached model handles and a friendly error display."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import streamlit as st

from core.runtime import models
from core.runtime.errors import CrossroadsError
from core.runtime.settings import get_settings
from core.runtime.text import md_escape

log = logging.getLogger("crossroads")


@st.cache_resource(show_spinner=False)
def _generator(generator: str, device: str):
    return models.load_generator(get_settings())


def get_generator():
    """(model, tokenizer), shared read-only by every session; converts the GGUF on first use."""
    settings = get_settings()
    if not models.generator_is_converted(settings) and settings.generator.startswith("bundled:"):
        with st.status("Preparing the bundled model (once, about 30–45 s)…", expanded=True) as status:
            status.write("Converting SmolLM2-135M-Instruct from GGUF to safetensors under the data directory.")
            handle = _generator(settings.generator, settings.resolved_device)
            status.update(label="Model ready", state="complete", expanded=False)
        return handle
    with st.spinner("Loading the generator…"):
        return _generator(settings.generator, settings.resolved_device)


def get_engine():
    """The generation engine, shared by every session. The first time, it converts the model
    (about a minute): that is shown as such, not as a silent wait."""
    from core.runtime import engines

    settings = get_settings()
    if engines.engine_is_loaded(settings):
        return engines.get_engine(settings)
    if engines.engine_needs_preparing(settings):
        with st.status("Preparing the model (first time, ~1 min)…", expanded=True) as status:
            handle = engines.get_engine(settings, progress=status.write)
            status.update(label="Model ready", state="complete", expanded=False)
        return handle
    with st.spinner("Loading the model…"):
        return engines.get_engine(settings)


@st.cache_resource(show_spinner="Loading the embedder…")
def get_embedder():
    return models.load_embedder(get_settings())


def show_error(exc: Exception) -> None:
    """A CrossroadsError as message + hint; anything else as a generic message (details in the log)."""
    if isinstance(exc, CrossroadsError):
        # messages name files, zip members, columns and adapters: escaped, so a name is never markup
        st.error(md_escape(exc.message) + (f"\n\n**What to do:** {md_escape(exc.hint)}" if exc.hint else ""),
                 icon=":material/error:")
    else:
        log.exception("unexpected error")
        st.error("Something went wrong. The details are in the app's log.", icon=":material/error:")


@contextmanager
def page_section(name: str):
    """One section of a page: an error inside it is shown there (details in the log) and the
    page's other sections still render. Streamlit's rerun / stop are BaseExceptions: they pass."""
    try:
        yield
    except CrossroadsError as exc:
        show_error(exc)
    except Exception as exc:  # noqa: BLE001 - any failure stays inside its section
        log.exception("unexpected error in the %s section", name)
        st.error(f"The {md_escape(name)} section could not be shown ({md_escape(type(exc).__name__)}); the rest "
                 "of the page works. The details are in the app's log.", icon=":material/error:")


def placeholder(what_it_will_do: str, issue: str) -> None:
    st.info(f"**Coming next ({issue}).** {what_it_will_do}", icon=":material/construction:")
