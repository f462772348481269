"""The prompt and target of a task row, for training and for every arm at inference.

    spec = TaskSpec("classification", labels=("negative", "neutral", "positive"))
    task_messages("Great value.", spec)                 # zero-shot (base, fine-tuned)
    task_messages("Great value.", spec, demos=rows)     # retrieved examples as earlier chat turns

Classification uses exactly `core.training.chat_format.chat_messages` (the format the existing
classification fine-tune trains on), so an adapter trained on a text/label file and the task arms
read the same prompt. Extraction asks for a JSON list of {"text", "type"}; its fine-tune trains on
a prompt/completion file holding these very prompts (`write_training_file`).
Demonstrations are earlier user/assistant turns in the same format, most similar last (nearest
the question), so the few-shot arms differ from the zero-shot ones only by those turns.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.training.chat_format import chat_messages, classification_row

EXTRACT_INSTRUCTION = ("Extract the entities of these types from the text: {types}. Answer with a JSON list of "
                       'objects with "text" (the exact words from the text) and "type"; answer [] if there are none.')


@dataclass(frozen=True)
class TaskSpec:
    """What the prompt needs: the task, its label set (classification) or entity types (extraction)."""

    task: str
    labels: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"task": self.task, "labels": list(self.labels), "entity_types": list(self.entity_types)}

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        return cls(data["task"], tuple(data.get("labels") or ()), tuple(data.get("entity_types") or ()))


def user_text(text: str, spec: TaskSpec) -> str:
    """The user turn for one text."""
    if spec.task == "classification":
        return chat_messages(classification_row(text), spec.labels)[-1]["content"]
    if spec.task == "extraction":
        return EXTRACT_INSTRUCTION.format(types=", ".join(spec.entity_types)) + f"\n\nText: {text}"
    return text


def task_messages(text: str, spec: TaskSpec, demos: Sequence = ()) -> list[dict]:
    """[demo user, demo assistant]* + the user turn. `demos` are TaskRows (their `.text`, `.target`)."""
    messages: list[dict] = []
    for demo in demos:
        messages.append({"role": "user", "content": user_text(demo.text, spec)})
        messages.append({"role": "assistant", "content": demo.target})
    messages.append({"role": "user", "content": user_text(text, spec)})
    return messages


def write_training_file(data, path: Path) -> Path:
    """The file the existing fine-tune path trains on: text/label CSV (classification, trained by the
    classification schema with these labels), or prompt/completion JSONL (extraction)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data.task == "classification":
        path = path.with_suffix(".csv")
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows([r.text, r.label] for r in data.rows)
        return path
    if data.task != "extraction":
        raise ValueError(f"write_training_file is for classification / extraction, not {data.task}")
    path = path.with_suffix(".jsonl")
    spec = data.spec
    with path.open("w", encoding="utf-8") as fh:
        for r in data.rows:
            fh.write(json.dumps({"prompt": user_text(r.text, spec), "completion": r.target}, ensure_ascii=False) + "\n")
    return path
