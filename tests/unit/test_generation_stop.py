"""A generation stops when asked (cancel) or when its consumer leaves (a reload, Ctrl-C): the real model."""

import threading

import pytest

from core.runtime.engines import get_engine
from core.runtime.generation import ChatRow, Decoding, generation_lock

LONG = [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]


@pytest.mark.slow
def test_should_stop_cuts_every_row_short(model_data_dir):
    pieces = []
    stream = get_engine().stream([ChatRow(LONG), ChatRow(LONG)], Decoding(max_new_tokens=200),
                                 should_stop=lambda: len(pieces) >= 4)
    for _row, piece in stream:
        pieces.append(piece)
    assert stream.stopped
    assert all(s.answer_tokens < 50 for s in stream.stats)  # nowhere near the 200 allowed


@pytest.mark.slow
def test_an_abandoned_stream_releases_the_model(model_data_dir):
    stream = get_engine().stream([ChatRow(LONG)], Decoding(max_new_tokens=400))
    iterator = iter(stream)
    next(iterator)
    iterator.close()  # what a rerun / closed tab / Ctrl-C does to the consumer
    assert stream.stopped
    free = threading.Thread(target=lambda: generation_lock.acquire() and generation_lock.release())
    free.start()
    free.join(timeout=60)
    assert not free.is_alive()  # the next question does not wait for an orphan generation
