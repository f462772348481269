"""Inputs are bounded where they enter (issue 25): question length from the model's context
window, eval and training rows' nesting and numbers, repeated questions, and prompts that never
exceed the window."""

from __future__ import annotations

import json

import pytest

from core.evaluation.evalset_files import load_eval_bytes
from core.evaluation.evalsets import EvalFileFormat, EvalFileValue, EvalItem, EvalSet
from core.runtime.limits import (
    PromptTooLong,
    QuestionTooLong,
    check_prompt_fits,
    check_question,
    question_limit,
)

DEEP = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = "1" * 5_000


def test_the_question_limit_comes_from_the_context_window():
    tokens, chars = question_limit()
    assert tokens == 8192 // 8 and chars == tokens * 6  # the bundled SmolLM2's window
    check_question("How long is the warranty?")
    with pytest.raises(QuestionTooLong, match="8,192 tokens") as info:
        check_question("x" * 10_000_000)  # refused on its length alone: nothing tokenized
    assert "10,000,000 characters" in info.value.message and info.value.hint


def test_a_prompt_and_its_answer_never_exceed_the_window():
    check_prompt_fits(8000, 192, 8192)
    with pytest.raises(PromptTooLong, match="context window of 8,192"):
        check_prompt_fits(8100, 128, 8192)


@pytest.mark.parametrize("line,match", [
    ('{"question": ' + DEEP + ', "answer": "a"}', "line 2 is nested too deeply"),
    ('{"question": "q", "answer": ' + LONG_NUMBER + "}", "line 2 holds a number too long"),
    ('{"question": "q", "answer": [[[[["a"]]]]]}', "line 2: a field is nested"),
    (json.dumps({"question": "q" * 10_000_000, "answer": "a"}), "line 2.*10,000,000 characters"),
])
def test_hostile_eval_rows_are_refused_with_their_line(line, match):
    data = '{"question": "fine?", "answer": "yes"}\n' + line + "\n"
    with pytest.raises((EvalFileFormat, EvalFileValue), match=match) as info:
        load_eval_bytes(data.encode(), "hostile.jsonl")
    assert info.value.where == "line 2"


@pytest.mark.parametrize("text,match", [(DEEP, "nested too deeply"), (f'[{{"question": "q", "answer": {LONG_NUMBER}}}]', "number too long")])
def test_hostile_json_eval_files_are_refused_clearly(text, match):
    with pytest.raises(EvalFileFormat, match=match):
        load_eval_bytes(text.encode(), "hostile.json")


def test_hostile_training_rows_are_reported_not_raised():
    from core.training import data_files
    from core.training.schema import DataError

    good = "\n".join(json.dumps({"question": f"q{i}", "answer": "a"}) for i in range(3))
    for bad in ('{"question": ' + DEEP + "}", '{"question": "q", "answer": ' + LONG_NUMBER + "}"):
        records, _columns, report = data_files.read_records((good + "\n" + bad + "\n").encode(), "rows.jsonl")
        assert len(records) == 3
        assert any(4 in issue.rows for issue in report.issues), report.issues
    for text in (DEEP, "[" + LONG_NUMBER + "]"):
        with pytest.raises(DataError, match="too deeply|too long"):
            data_files.read_records(text.encode(), "rows.json")


def test_repeated_questions_are_counted_and_can_be_removed():
    items = [EvalItem(question=q, golds=("a",)) for q in ["Same?"] * 5 + ["  same? ", "Other?"]]
    eval_set = EvalSet("dupes", tuple(items))
    assert eval_set.duplicates() == 5
    once = eval_set.deduplicated()
    assert [it.question for it in once] == ["Same?", "Other?"] and once.duplicates() == 0


def test_passages_that_do_not_fit_the_window_are_left_out_least_relevant_first(model_data_dir):
    from types import SimpleNamespace

    from core.evaluation.arms import Arms
    from core.knowledge.rag import rag_messages
    from core.knowledge.retrieval import Retrieved
    from core.runtime import models
    from core.runtime.generation import Decoding, chat_input_ids
    from core.runtime.settings import get_settings

    tokenizer = models.load_tokenizer()
    passages = [Retrieved(text=f"Passage {i}: " + "the warranty lasts thirty six months " * 20, source="a.txt",
                          chunk=i, score=1 - i / 100) for i in range(40)]
    arms = SimpleNamespace(settings=get_settings(), tokenizer=tokenizer,
                           setup=SimpleNamespace(decoding=Decoding(max_new_tokens=4000)))
    kept = Arms._fitted(arms, "How long?", passages, {"rag": [], "hybrid": []})
    assert 0 < len(kept) < len(passages) and kept == passages[: len(kept)]  # the most relevant stay
    assert len(chat_input_ids(tokenizer, rag_messages("How long?", kept))) + 4000 <= 8192
    assert len(chat_input_ids(tokenizer, rag_messages("How long?", passages[: len(kept) + 1]))) + 4000 > 8192


def test_every_way_in_refuses_an_overlong_question(model_data_dir):
    # retrieval (Test retrieval, the Retrieval lab, RAG) refuses before embedding anything
    from core.knowledge.retrieval import retrieve

    with pytest.raises(QuestionTooLong):
        retrieve("no-such-kb", "why? " * 1_000_000)
