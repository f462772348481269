"""The wizard's answers on disk, per workspace: DATA_DIR/ui/wizard.json, written atomically.

They survive a browser reload and a page switch. A file that cannot be used (not JSON, not an
object, an answer the wizard does not know) is reported, moved aside (nothing is lost) and
ignored: the wizard starts empty.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core.decision.answers import AnswerError, normalize_answers
from core.runtime.jobs import write_json_atomic

VERSION = 1


def wizard_path(data_dir: Path) -> Path:
    return Path(data_dir) / "ui" / "wizard.json"


def load_wizard(data_dir: Path, steps: int) -> tuple[dict[str, Any], int, str | None]:
    """(answers, step, problem): the saved answers and step, or ({}, 0, what was wrong)."""
    path = wizard_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, 0, None
    except OSError as exc:
        return {}, 0, f"The saved answers ({path}) cannot be read: {exc.strerror}. Starting empty."
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("answers", {}), dict):
            raise ValueError("not an object with 'answers'")
        answers, _ = normalize_answers(data.get("answers") or {})
        step = data.get("step", 0)
        step = min(max(int(step), 0), steps) if isinstance(step, int | float) else 0
    except (ValueError, AnswerError) as exc:
        aside = path.with_name(f"wizard.unreadable-{time.strftime('%Y%m%d-%H%M%S')}.json")
        try:
            path.replace(aside)
            kept = f" It was kept as {aside.name}."
        except OSError:
            kept = ""
        return {}, 0, f"The saved answers ({path.name}) could not be used ({exc}); starting empty.{kept}"
    return answers, step, None


def save_wizard(data_dir: Path, answers: dict[str, Any], step: int) -> None:
    """Write the answers (unanswered ones left out) and the step, atomically."""
    path = wizard_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {k: v for k, v in answers.items() if v is not None}
    write_json_atomic(path, {"version": VERSION, "answers": kept, "step": int(step)})
