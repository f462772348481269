"""Formatting rows for the model: the ONE prompt format, shared by training and inference.

    messages = chat_messages(row, labels)          # [system?] + user turn(s): the prompt
    target   = row.target                          # the assistant answer (the trained part)

`chat_messages` is what the evaluation and compare arms must send to the fine-tuned model
(through the tokenizer's chat template with `add_generation_prompt=True`); training appends
`{"role": "assistant", "content": row.target}` and computes the loss on the assistant tokens only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.runtime.generation import chat_input_ids
from core.training.schema import Row

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

CLASSIFY_INSTRUCTION = "Classify the text into one of these labels: {labels}. Answer with the label only."


def chat_messages(row: Row, labels: tuple[str, ...] | list[str] = (), system: str | None = None) -> list[dict]:
    """The prompt side of `row` as chat messages: [system] + earlier turns + the user turn.

    This is the ONE formatting function: training appends the assistant turn
    `{"role": "assistant", "content": row.target}` and learns only that turn; inference sends
    exactly these messages with `add_generation_prompt=True`. For classification the user turn
    names the allowed labels (`labels`, stored in the adapter's meta.json), so pass the same
    labels at inference. Without a system message the model's chat template adds its default one.
    """
    messages: list[dict] = []
    system = system if system is not None else row.system
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend({"role": role, "content": content} for role, content in row.context)
    user = row.prompt
    if row.label is not None:
        user = CLASSIFY_INSTRUCTION.format(labels=", ".join(labels)) + f"\n\nText: {row.prompt}"
    messages.append({"role": "user", "content": user})
    return messages


def classification_row(text: str, number: int = 0) -> Row:
    """A Row for classifying `text` at inference (label unknown); use with `chat_messages(row, labels)`."""
    return Row(number, prompt=text, target="", label="")


def training_messages(row: Row, labels=(), system: str | None = None) -> list[dict]:
    return chat_messages(row, labels, system) + [{"role": "assistant", "content": row.target}]


def _ids(tokenizer, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    # the generation path's templating: training rows get the same neutralised special tokens
    return chat_input_ids(tokenizer, messages, add_generation_prompt)


def sequence_lengths(tokenizer, row: Row, labels=()) -> tuple[int, int]:
    """(prompt tokens, prompt + answer tokens) with the chat template applied."""
    prompt = _ids(tokenizer, chat_messages(row, labels), True)
    full = _ids(tokenizer, training_messages(row, labels), False)
    return len(prompt), len(full)


def tokenize_row(tokenizer, row: Row, labels=(), max_length: int = 256) -> dict:
    """input_ids / attention_mask / labels for one row; labels are -100 on the prompt (loss on the answer only)."""
    prompt = _ids(tokenizer, chat_messages(row, labels), True)
    full = _ids(tokenizer, training_messages(row, labels), False)
    if full[: len(prompt)] != prompt:  # templates that re-render earlier turns differently
        full = prompt + full[len(prompt):]
    # The template ends the assistant turn with end-of-turn + newline: train up to end-of-turn.
    end = len(full)
    while end > len(prompt) + 1 and tokenizer.decode(full[end - 1 : end]).strip() == "":
        end -= 1
    full = full[:end][:max_length]
    n_prompt = min(len(prompt), len(full))
    return {
        "input_ids": full,
        "attention_mask": [1] * len(full),
        "labels": [-100] * n_prompt + full[n_prompt:],
    }


@dataclass(frozen=True)
class PromptPreview:
    number: int
    prompt_text: str  # rendered template, not trained on
    trained_text: str  # the part the loss is computed on
    cut_text: str  # beyond max_length (dropped)
    tokens: int
    trained_tokens: int


def preview(data, tokenizer, max_length: int, n: int = 3) -> list[PromptPreview]:
    """The exact training text of the first `n` rows, split into prompt / trained / truncated parts."""
    out = []
    for row in data.rows[:n]:
        full = tokenize_row(tokenizer, row, data.labels, max_length=10**9)["input_ids"]
        encoded = tokenize_row(tokenizer, row, data.labels, max_length)
        ids, labels = encoded["input_ids"], encoded["labels"]
        n_prompt = sum(1 for x in labels if x == -100)
        out.append(PromptPreview(
            number=row.number,
            prompt_text=tokenizer.decode(ids[:n_prompt]),
            trained_text=tokenizer.decode(ids[n_prompt:]),
            cut_text=tokenizer.decode(full[len(ids):]) if len(full) > len(ids) else "",
            tokens=len(ids),
            trained_tokens=len(ids) - n_prompt,
        ))
    return out


def to_dataset(rows: list[Row], tokenizer, labels=(), max_length: int = 256):
    """A tokenized `datasets.Dataset` (input_ids, attention_mask, labels, length)."""
    from datasets import Dataset

    encoded = [tokenize_row(tokenizer, r, labels, max_length) for r in rows]
    return Dataset.from_dict({
        "input_ids": [e["input_ids"] for e in encoded],
        "attention_mask": [e["attention_mask"] for e in encoded],
        "labels": [e["labels"] for e in encoded],
        "length": [len(e["input_ids"]) for e in encoded],
    })
