"""A Stop button beside an answer while it streams (Knowledge Ask, Compare).

Clicking any widget reruns the page, which stops the running script at its next Streamlit call;
the stream's consumer then leaves its loop and the generation stops within one decode step
(core.runtime.generation). The button's callback runs first in that rerun and keeps the text
shown so far, so the page can say the answer was stopped and show what had arrived.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def _stopped(key: str) -> None:
    st.session_state[f"{key}_stopped"] = st.session_state.pop(f"{key}_partial", None) or ""


class StopControl:
    """`with StopControl("ask") as stop:` ... `stop.keep(text_so_far)` at each piece."""

    def __init__(self, key: str):
        self.key = key
        st.session_state.pop(f"{key}_partial", None)
        self._slot = st.empty()

    def __enter__(self) -> StopControl:
        self._slot.button("Stop", key=f"{self.key}_stop_button", icon=":material/stop_circle:",
                          on_click=_stopped, args=(self.key,),
                          help="Stop generating: the text so far stays on screen, and is not kept.")
        return self

    def keep(self, partial: Any) -> None:
        st.session_state[f"{self.key}_partial"] = partial

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:  # ended by itself; a Stop rerun leaves by an exception, partial kept
            st.session_state.pop(f"{self.key}_partial", None)
            self._slot.empty()


def stopped_answer(key: str) -> Any | None:
    """What had arrived when Stop was clicked (once, on the rerun Stop caused), else None."""
    return st.session_state.pop(f"{key}_stopped", None)
