"""The Stop button beside a streaming answer (ui/stop.py): a click ends the run mid-stream (here
the script leaves the stream by an exception, as a rerun does), and the next run shows what had
arrived, once. The real stream stopping within a step is tested in tests/unit/test_generation_stop.py."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st

    from ui.stop import StopControl, stopped_answer

    if (partial := stopped_answer("t")) is not None:
        st.markdown(f"stopped with: {partial}")
    if st.session_state.get("ask"):
        st.session_state["ask"] = False
        with StopControl("t") as stop:
            stop.keep("the first words")
            if not st.session_state.get("finish"):
                st.stop()  # leaves the stream by an exception, as the rerun a click causes does
            stop.keep("the whole answer")
        st.markdown("finished")


def test_stop_keeps_what_had_arrived_and_says_so_once():
    at = AppTest.from_function(_script, default_timeout=30)
    at.session_state["ask"] = True
    at.run()
    assert [b.label for b in at.button] == ["Stop"]  # on screen while the answer streams
    at.button(key="t_stop_button").click().run()
    assert [m.value for m in at.markdown] == ["stopped with: the first words"]
    at.run()
    assert not at.markdown  # said once


def test_an_answer_that_ends_by_itself_leaves_no_stop_button():
    at = AppTest.from_function(_script, default_timeout=30)
    at.session_state["ask"] = True
    at.session_state["finish"] = True
    at.run()
    assert [m.value for m in at.markdown] == ["finished"]
    assert not at.button
