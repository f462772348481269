"""The four arms on the real bundled model: one model, adapter routed per row, fair prompts."""

import re

import pytest

from core.evaluation.arms import ARMS, Arms, ArmsError, ArmSetup, Turn, parse_arms
from core.runtime import models
from core.runtime.generation import ChatRow, Decoding
from tests.helpers.adapters import make_random_adapter

pytestmark = pytest.mark.slow
SHORT = Decoding(max_new_tokens=12)


def test_parse_arms_is_canonical_and_strict():
    assert parse_arms("hybrid,base,rag") == ("base", "rag", "hybrid")
    with pytest.raises(ArmsError, match="not available"):
        parse_arms("base,magic")


def test_setup_names_what_is_missing():
    with pytest.raises(ArmsError, match="need a knowledge base"):
        ArmSetup(arms=("rag",))
    with pytest.raises(ArmsError, match="need a fine-tuned adapter"):
        ArmSetup(arms=("ft",))
    assert ArmSetup(arms=("base",)).describe()["arms"] == ["base"]


@pytest.fixture
def adapter_arms(model_data_dir):
    make_random_adapter(model_data_dir, "rnd")
    return Arms(ArmSetup(arms=("base", "ft"), adapter="rnd", decoding=SHORT))


def test_base_and_ft_get_identical_prompts(adapter_arms):
    prepared = adapter_arms.prepare("What is the capital of Norway?")
    assert prepared["base"].messages == prepared["ft"].messages


def test_adapter_is_routed_per_row_without_a_second_model(adapter_arms):
    question = "Describe the sea in one sentence."
    answers = adapter_arms.answer(question)
    messages = answers["base"].messages
    engine = adapter_arms.engine
    # The base row is the base model's answer, as if generated alone.
    (plain,), _ = engine.generate([ChatRow(messages)], SHORT)
    assert answers["base"].text == plain
    # The ft row really went through the (random, strong) adapter.
    assert answers["ft"].text != plain
    (expected,), _ = engine.generate([ChatRow(messages, "rnd")], SHORT)
    assert answers["ft"].text == expected
    for arm in ("base", "ft"):  # same engine and quantization for both arms, by construction
        assert answers[arm].record()["engine"] == engine.name
    if engine.name == "hf":  # one copy of the weights: the PEFT model wraps the very same base module
        base_model, _ = models.load_generator()
        assert engine.model.get_base_model() is base_model


def test_answer_many_gives_each_row_its_own_answer(adapter_arms):
    """Evaluation batches many questions' rows at once (ct2: every arm in one call); each answer
    still belongs to its own question and arm. Checked by content, not against the answer given
    alone: a different batch can move a greedy answer by a token (int8 and fp32 alike)."""
    questions = ["What is 2 + 2?", "Describe the sea in one sentence.", "What is the capital of France?"]
    many = adapter_arms.answer_many(questions)
    assert "4" in many[0]["base"].text
    assert re.search(r"sea|ocean|water", many[1]["base"].text, re.IGNORECASE)
    assert "Paris" in many[2]["base"].text
    assert all(answers["base"].text != answers["ft"].text for answers in many)  # ft rows went through the adapter


def test_answers_carry_figures_and_history_is_per_arm(adapter_arms):
    history = {"base": [Turn("Hi", "Hello!")], "ft": []}
    answers = adapter_arms.answer("And who are you?", histories=history)
    assert len(answers["base"].messages) == len(answers["ft"].messages) + 2
    for arm in ("base", "ft"):
        record = answers[arm].record()
        assert record["tokens"] > 0 and record["total_ms"] > 0 and record["first_token_ms"] > 0
        assert record["sources"] == [] and record["retrieval_ms"] is None


def test_prompt_text_is_the_chat_template(adapter_arms):
    prepared = adapter_arms.prepare("Why is the sky blue?")
    text = adapter_arms.prompt_text(prepared["base"])
    assert "Why is the sky blue?" in text and text.rstrip().endswith("assistant")


def test_all_arm_names_have_titles():
    from core.evaluation.arms import ARM_HELP, ARM_TITLES

    assert set(ARM_TITLES) == set(ARM_HELP) == set(ARMS)
