"""Answers: checked and normalised, the factors derived from them, and the gates they fire."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.decision.questions import QUESTION_BY_ID
from core.decision.rules import (
    BUNDLED_CONTEXT_WINDOW,
    CORPUS_FITS_FRACTION,
    EXAMPLE_BANDS,
    MIN_FT_EXAMPLES,
    RAFT_MIN_QA,
    RULES,
)


def fired_gates(a: Mapping[str, Any], has_evidence: bool) -> list[str]:
    fired = []
    if a.get("citations") == "required":
        fired.append("citations_required")
    if a.get("volatility") == "weekly" and a.get("goal") in (None, "facts", "both"):
        fired.append("facts_change_weekly")
    if a.get("labeled_examples") is not None and a["labeled_examples"] < MIN_FT_EXAMPLES:
        fired.append("too_few_examples")
    # An evaluation report with a base arm *is* a baseline.
    if a.get("baseline") == "none" and not has_evidence:
        fired.append("no_baseline")
    return fired


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------
class AnswerError(ValueError):
    """An answers file holds a value the wizard does not know."""


MAX_NUMBER = 1e12  # beyond any real count (examples, queries a day); 1e400 parses as inf


def normalize_answers(answers: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check and clean answers. Returns (clean answers, notes about ignored keys).

    Unknown question ids are ignored (with a note); None / "" means unanswered (neutral).
    Raises AnswerError for a known id with a value it cannot take.
    """
    if not isinstance(answers, Mapping):
        raise AnswerError("The answers must be a JSON object of question id -> answer.")
    clean: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in answers.items():
        q = QUESTION_BY_ID.get(key)
        if q is None:
            notes.append(f"ignored unknown question id {key!r}")
            continue
        if value is None or value == "" or value == "unanswered":
            continue
        if q.kind == "number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise AnswerError(f"{key} must be a number, got {value!r}.") from None
            if isinstance(value, bool) or not math.isfinite(number) or number < q.min_value or number > MAX_NUMBER:
                raise AnswerError(f"{key} must be a number from {q.min_value:g} to {MAX_NUMBER:.0e}, got {value!r}.")
            clean[key] = int(number) if number.is_integer() else number
        else:
            value = str(value).strip().lower()
            if value not in q.values:
                raise AnswerError(f"{key} must be one of {', '.join(q.values)}; got {value!r}.")
            clean[key] = value
    return clean, notes


def example_band(n: float) -> str:
    for upper, band in EXAMPLE_BANDS:
        if n < upper:
            return band
    return EXAMPLE_BANDS[-1][1]


def derived_factors(a: Mapping[str, Any]) -> dict[str, str]:
    """Factor values computed from several answers (or from a number)."""
    out: dict[str, str] = {}
    if a.get("labeled_examples") is not None:
        out["examples"] = example_band(a["labeled_examples"])
    if a.get("corpus_tokens") is not None:
        window = a.get("context_window", BUNDLED_CONTEXT_WINDOW)
        out["corpus_fit"] = (
            "fits" if a["corpus_tokens"] <= CORPUS_FITS_FRACTION * window else "larger"
        )
    if a.get("noisy_retrieval") == "yes":
        enough = a.get("labeled_examples") is not None and a["labeled_examples"] >= RAFT_MIN_QA
        out["raft"] = "ready" if enough else "noisy_few"
    return out


def factor_values(a: Mapping[str, Any]) -> dict[str, str]:
    """Every scored factor -> its value (answers + derived factors)."""
    values = {k: v for k, v in a.items() if k in RULES}
    values.update(derived_factors(a))
    return values

