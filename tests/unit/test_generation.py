import pytest

from core.runtime import models
from core.runtime.generation import ChatStream, Decoding, generate_chat


@pytest.mark.slow
def test_stream_yields_text_and_final_stats(model_data_dir):
    model, tokenizer = models.load_generator()
    stream = ChatStream(model, tokenizer, [{"role": "user", "content": "Say hello."}], Decoding(max_new_tokens=12))
    pieces = list(stream)
    assert "".join(pieces) == stream.text and stream.text.strip()
    stats = stream.stats
    assert 0 < stats.answer_tokens <= 12
    assert stats.prompt_tokens > 5
    assert 0 < stats.first_token_ms <= stats.total_ms
    assert stats.tokens_per_s > 0


@pytest.mark.slow
def test_greedy_decoding_is_reproducible(model_data_dir):
    model, tokenizer = models.load_generator()
    messages = [{"role": "user", "content": "What is two plus two?"}]
    first, _ = generate_chat(model, tokenizer, messages, Decoding(max_new_tokens=16))
    second, _ = generate_chat(model, tokenizer, messages, Decoding(max_new_tokens=16))
    assert first == second


def test_sampling_settings_only_apply_when_sampling():
    assert Decoding().generate_kwargs()["temperature"] is None
    assert Decoding(do_sample=True, temperature=0.5).generate_kwargs()["temperature"] == 0.5
