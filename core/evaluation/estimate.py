"""How long an evaluation will take, before it starts: from this workspace's finished reports,
else from the answers timed one at a time on Ask and Compare."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.evaluation.evaluate import reports_dir
from core.runtime.settings import Settings, get_settings


def estimate_seconds(questions: int, arms: Sequence[str], max_new_tokens: int,
                     settings: Settings | None = None) -> dict | None:
    """questions × arms × measured seconds per answer, from this workspace's finished reports.

    Seconds per answer = a report's wall time / (its questions × its arms), so batching and
    retrieval are included. Reports with the same answer length are preferred; otherwise the
    figure is scaled by the max-new-tokens ratio (decoding dominates). None: nothing measured yet.
    """
    from core.runtime.model_registry import BUNDLED_NAME

    model = (settings or get_settings()).model_name
    measured = []
    for path in sorted(reports_dir(settings).glob("*.json"), reverse=True)[:20]:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            if (report.get("meta") or {}).get("model", BUNDLED_NAME) != model:
                continue  # another base model's speed says nothing about this one
            seconds, n = report["meta"]["seconds"], int(report["n"])
            n_arms = int(report["meta"].get("answers_per_question") or len(report["arms"]))  # a seed group: more
            tokens = int(report["setup"]["decoding"]["max_new_tokens"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if n and n_arms and seconds:
            measured.append((seconds / (n * n_arms), tokens, report.get("id", path.stem)))
    if not measured:
        return _estimate_from_single_answers(questions, arms, settings)
    same = [m for m in measured if m[1] == max_new_tokens]
    per_answer, tokens, source = (same or measured)[0]  # the newest matching report
    if not same:
        per_answer *= max_new_tokens / tokens
    total = questions * len(arms) * per_answer
    basis = (f"{questions} questions × {len(arms)} arms × {per_answer:.1f} s per answer, measured in report {source}"
             + ("" if same else f" (≤ {tokens} new tokens there, scaled to {max_new_tokens})"))
    return {"seconds": round(total, 1), "per_answer_s": round(per_answer, 2), "basis": basis}


def _estimate_from_single_answers(questions: int, arms: Sequence[str], settings: Settings | None) -> dict | None:
    """No report yet: the answers timed one at a time on Ask and Compare (an upper bound, since an
    evaluation batches questions)."""
    from core.runtime.answer_times import single_answer_latency

    settings = settings or get_settings()
    timed = single_answer_latency(settings.data_dir, settings.model_name)
    if not timed:
        return None
    fallback = sum(t["p50_ms"] for t in timed.values()) / len(timed)
    per_question = sum(timed[a]["p50_ms"] if a in timed else fallback for a in arms) / 1000
    n = sum(t["n"] for t in timed.values())
    basis = (f"{questions} questions × {per_question:.1f} s for the {len(arms)} arms, from {n} answers timed one at a "
             "time on Ask and Compare; an evaluation batches questions, so it is usually faster")
    return {"seconds": round(questions * per_question, 1), "per_answer_s": round(per_question / max(1, len(arms)), 2),
            "basis": basis}
