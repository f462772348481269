"""Bounds on what enters the model, derived from its context window: how long a question may be
(one limit for every arm, the CLI, eval rows, retrieval and the Retrieval lab), and that no prompt
plus its answer ever exceeds the window.

The window is the generator's `max_position_embeddings` (8,192 tokens for the bundled
SmolLM2-135M-Instruct). A question may take an eighth of it (1,024 tokens there): the rest holds
the prompt template and instructions, the retrieved passages and the answer (up to
`Decoding.max_new_tokens`). The character limit (6 characters per allowed token) is checked first
and costs nothing, so a 10 MB line is refused before anything tokenizes or embeds it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from core.runtime.errors import CrossroadsError
from core.runtime.settings import BUNDLED_GENERATOR, Settings, get_settings

BUNDLED_CONTEXT_WINDOW = 8192  # SmolLM2-135M-Instruct's max_position_embeddings
FALLBACK_CONTEXT_WINDOW = 2048  # a model that states no window: assume a small one
QUESTION_SHARE = 8  # a question may take 1/8 of the window
CHARS_PER_TOKEN = 6  # the cheap first check: generous, real text averages ~4 characters a token


class QuestionTooLong(CrossroadsError):
    """A question longer than the model can read with its instructions, context and answer."""


class PromptTooLong(CrossroadsError):
    """A prompt plus its answer would not fit the model's context window."""


@lru_cache(maxsize=16)
def _window_of_folder(folder: str) -> int | None:
    try:
        value = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def context_window(settings: Settings | None = None, tokenizer=None) -> int:
    """The generator's context window in tokens (read from its config, never by loading it)."""
    if tokenizer is not None and (window := _window_of_folder(str(getattr(tokenizer, "name_or_path", "")))):
        return window
    settings = settings or get_settings()
    if settings.generator == BUNDLED_GENERATOR:
        return BUNDLED_CONTEXT_WINDOW
    if window := _window_of_folder(str(Path(settings.generator).expanduser())):
        return window
    stated = getattr(tokenizer, "model_max_length", None)
    return stated if isinstance(stated, int) and 0 < stated < 10**7 else FALLBACK_CONTEXT_WINDOW


def question_limit(settings: Settings | None = None, tokenizer=None) -> tuple[int, int]:
    """(most tokens, most characters) a question may have."""
    tokens = context_window(settings, tokenizer) // QUESTION_SHARE
    return tokens, tokens * CHARS_PER_TOKEN


def check_question(question: str, settings: Settings | None = None, tokenizer=None, *, what: str = "The question") -> None:
    """Raise QuestionTooLong unless `question` fits the limit (tokens counted when a tokenizer is given)."""
    window = context_window(settings, tokenizer)
    max_tokens, max_chars = question_limit(settings, tokenizer)
    why = (f"this model reads {window:,} tokens at once and a question may take at most {max_tokens:,} of them "
           f"(about {max_chars:,} characters; the rest holds the instructions, the retrieved passages and the answer)")
    hint = "Shorten it, or ask about one part at a time."
    if len(question) > max_chars:
        raise QuestionTooLong(f"{what} is {len(question):,} characters long: {why}.", hint=hint)
    if tokenizer is not None:
        n = len(tokenizer(question, add_special_tokens=False)["input_ids"])
        if n > max_tokens:
            raise QuestionTooLong(f"{what} is {n:,} tokens long: {why}.", hint=hint)


def check_prompt_fits(prompt_tokens: int, max_new_tokens: int, window: int) -> None:
    """The last guard before generation: a prompt and its answer must fit the window."""
    if prompt_tokens + max_new_tokens > window:
        raise PromptTooLong(
            f"The prompt is {prompt_tokens:,} tokens and the answer may take {max_new_tokens:,}: together more "
            f"than the model's context window of {window:,} tokens.",
            hint="Ask a shorter question, retrieve fewer passages (k) or allow a shorter answer.")
