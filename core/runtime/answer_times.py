"""Single-answer latencies: every answer timed on Ask or Compare, kept in the workspace.

An evaluation's latencies are measured in batches, often on a busy machine; what a user waits
for one question is what Ask and Compare measure. Each of their answers appends one line to
DATA_DIR/timings/answers.jsonl (the newest `KEEP` are kept), with the machine's load at that
moment. The Evaluate page estimates a run's time from them when no report exists yet, and the
wizard's cost projection prefers them to a report's batched figures (and says which it used).
"""

from __future__ import annotations

import json
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path

from core.runtime.settings import Settings, get_settings

KEEP = 500  # lines kept: enough for a p50 per arm, small enough to read on every page run


def log_path(data_dir: Path) -> Path:
    return Path(data_dir) / "timings" / "answers.jsonl"


def record_answers(where: str, records: dict[str, dict], max_new_tokens: int | None,
                   settings: Settings | None = None) -> None:
    """Append one line per arm's answer (`records`: arm -> ArmAnswer.record() or a RAG record).

    Answers that waited for the model to load or were not generated are skipped: they time
    something else. Never raises: a timing log must not break the answer it timed."""
    settings = settings or get_settings()
    try:
        load = round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        load = None
    lines = []
    for arm, r in records.items():
        if r.get("load_ms") or r.get("answered_without_generation") or r.get("generated") is False:
            continue
        if not isinstance(r.get("total_ms"), int | float):
            continue
        lines.append({"when": datetime.now(UTC).isoformat(timespec="seconds"), "where": where, "arm": arm,
                      "total_ms": round(float(r["total_ms"]), 1), "tokens": r.get("tokens"),
                      "max_new_tokens": max_new_tokens, "engine": r.get("engine"), "model": settings.model_name,
                      "cores": os.cpu_count(), "load_1min": load})
    if not lines:
        return
    path = log_path(settings.data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        kept = (old + [json.dumps(line) for line in lines])[-KEEP:]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(kept) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def read_answers(data_dir: Path) -> list[dict]:
    try:
        text = log_path(data_dir).read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("total_ms"), int | float) and row.get("arm"):
            out.append(row)
    return out


def single_answer_latency(data_dir: Path, model: str | None = None) -> dict[str, dict]:
    """Per arm: {"p50_ms", "p95_ms", "n", "loaded", "basis"} over the timed single answers (empty: none
    timed); with `model`, only that base model's answers (lines from before models were named are the
    bundled model's)."""
    from core.runtime.model_registry import BUNDLED_NAME

    by_arm: dict[str, list[dict]] = {}
    for row in read_answers(data_dir):
        if model is not None and (row.get("model") or BUNDLED_NAME) != model:
            continue
        by_arm.setdefault(row["arm"], []).append(row)
    out = {}
    for arm, rows in by_arm.items():
        loaded = sum(1 for r in rows if r.get("cores") and isinstance(r.get("load_1min"), int | float)
                     and r["load_1min"] > r["cores"])
        where = sorted({str(r.get("where")) for r in rows})
        ordered = sorted(r["total_ms"] for r in rows)
        out[arm] = {"p50_ms": round(statistics.median(ordered), 1), "n": len(rows),
                    "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
                    "loaded": loaded,
                    "basis": f"p50 of {len(rows)} single answer(s) timed on {' and '.join(where)}"
                             + (f", {loaded} of them under load" if loaded else "")}
    return out
