"""Cost and latency projection, from measured numbers only; a corpus's size from its manifest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.decision.answers import normalize_answers
from core.decision.evidence import arm_labels
from core.decision.rules import CHARS_PER_TOKEN, UPDATES_PER_MONTH


# --------------------------------------------------------------------------------------------
# Corpus size from a knowledge-base manifest
# --------------------------------------------------------------------------------------------
def corpus_tokens_from_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Estimate a knowledge base's size in tokens from its manifest (core/knowledge/store.py format):
    the documents' own text, not their chunks (overlapping chunks repeat text).

    Only files whose status is "complete" (or that have no status) count. Per file, in order:
    "tokens"; "chars" / 4 (the parsed text's length, recorded at indexing); else from its chunks
    with the overlap taken off: size + (count - 1) x (size - overlap), with the chunk settings
    from the file's "chunking", else the manifest's "chunking" (or "settings"); an upper bound
    (the last chunk is short). Returns {"tokens": int|None, "chunks": int, "method": str}.
    """
    files = manifest.get("files") or []
    if isinstance(files, Mapping):
        files = list(files.values())
    files = [f for f in files if isinstance(f, Mapping) and f.get("status", "complete") == "complete"]
    default = manifest.get("chunking") or manifest.get("settings") or manifest

    def chunk_count(f: Mapping[str, Any]) -> int:
        c = f.get("chunks", f.get("chunk_ids", 0))
        return len(c) if isinstance(c, list | tuple) else int(c or 0)

    chunks = sum(chunk_count(f) for f in files)
    tokens, methods = 0.0, set()
    for f in files:
        if isinstance(f.get("tokens"), int | float):
            tokens += f["tokens"]
            methods.add("tokens")
        elif isinstance(f.get("chars"), int | float):
            tokens += f["chars"] / CHARS_PER_TOKEN
            methods.add("chars")
        elif count := chunk_count(f):
            ch = f.get("chunking") or default
            size = ch.get("size", ch.get("chunk_size"))
            if not isinstance(size, int | float) or size <= 0:
                return {"tokens": None, "chunks": chunks, "method": "the manifest has no chunk size"}
            overlap = ch.get("overlap", ch.get("chunk_overlap", 0))
            overlap = overlap if isinstance(overlap, int | float) and 0 <= overlap < size else 0
            text = size + (count - 1) * (size - overlap)
            tokens += text / (1 if ch.get("unit", ch.get("chunk_unit", "chars")) == "tokens" else CHARS_PER_TOKEN)
            methods.add("chunks")
    if not methods:
        return {"tokens": None, "chunks": 0, "method": "the knowledge base has no indexed chunks"}
    parts = {"tokens": "per-file token counts",
             "chars": f"the documents' characters / {CHARS_PER_TOKEN} characters per token",
             "chunks": "chunks x chunk size, overlap taken off (upper bound estimate)"}
    return {"tokens": int(tokens), "chunks": chunks,
            "method": " + ".join(parts[m] for m in ("tokens", "chars", "chunks") if m in methods)}


# --------------------------------------------------------------------------------------------
# Cost and latency projection (from measured numbers only)
# --------------------------------------------------------------------------------------------
def _report_latency_label(report: Mapping[str, Any] | None) -> str:
    """How the report's latencies were measured: its own reading (written with it by core.runtime/machine.py)
    or else what its batch size says."""
    machine = (report or {}).get("machine")
    if isinstance(machine, Mapping) and isinstance(machine.get("latency_label"), str):
        return machine["latency_label"]
    batch = ((report or {}).get("meta") or {}).get("batch_size")
    return "conditions not recorded" + (f"; batched ({batch} questions generated together)"
                                        if isinstance(batch, int) and batch > 1 else "")


def projection(
    answers: Mapping[str, Any],
    report: Mapping[str, Any] | None = None,
    *,
    train_seconds: float | None = None,
    reindex_seconds: float | None = None,
    single: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Per-arm latency / prompt tokens and update cost, from measured numbers only.

    Latency per arm: the single answers timed on Ask / Compare (`single`, from
    the answer-times log of core/runtime) when that arm has any, as a user waits for one question; else the
    report's, labelled with how it was measured (batched, under load). Each row says which
    (`latency_from`). Anything not measured is reported as "not measured yet" with the action
    that measures it.
    """
    single = single or {}
    report_conditions = _report_latency_label(report)
    a, _ = normalize_answers(answers)
    qpd = a.get("queries_per_day")
    arms_out = []
    missing: list[str] = []
    arms = (report or {}).get("arms") or {}
    labels = arm_labels(report)
    for arm in ("base", "rag", "ft", "hybrid"):
        m = arms.get(arm)
        if not isinstance(m, Mapping):
            if arm not in single:
                continue
            m = {}  # timed on Ask / Compare, not in the report
        p50, p95 = m.get("latency_p50_ms"), m.get("latency_p95_ms")
        latency_from = f"evaluation report, {report_conditions}"
        if isinstance((one := single.get(arm) or {}).get("p50_ms"), int | float):
            p50, p95, latency_from = one["p50_ms"], one.get("p95_ms"), str(one.get("basis") or "single answers")
        tokens = m.get("prompt_tokens_mean")
        row = {
            "arm": arm, "label": labels[arm],
            "latency_p50_ms": p50, "latency_p95_ms": p95, "latency_from": latency_from,
            "report_latency_p50_ms": m.get("latency_p50_ms"),
            "tokens_per_s": m.get("tokens_per_s"),
            "prompt_tokens_per_query": tokens,
            "serving_seconds_per_day": (
                round(qpd * p50 / 1000, 1) if qpd is not None and isinstance(p50, int | float) else None
            ),
            "prompt_tokens_per_day": (
                round(qpd * tokens) if qpd is not None and isinstance(tokens, int | float) else None
            ),
        }
        arms_out.append(row)
    if not arms_out:
        missing.append("Per-query latency: not measured yet — run an evaluation on the Evaluate "
                       "page and select its report here.")
    elif not any(r["prompt_tokens_per_query"] is not None for r in arms_out):
        missing.append("Prompt tokens per query: not in this report — re-run the evaluation with "
                       "the current version to record them.")
    if qpd is None:
        missing.append("Daily totals: enter your expected queries per day in the wizard.")

    meta = (report or {}).get("meta") or {}
    if train_seconds is None and isinstance(meta.get("train_seconds"), int | float):
        train_seconds = meta["train_seconds"]
    if reindex_seconds is None and isinstance(meta.get("reindex_seconds"), int | float):
        reindex_seconds = meta["reindex_seconds"]
    volatility = a.get("volatility")
    per_month = UPDATES_PER_MONTH.get(volatility) if volatility else None
    if train_seconds is None:
        missing.append("Retraining time: not measured yet — train an adapter on the Fine-tune page.")
    if reindex_seconds is None:
        missing.append("Re-index time: not measured yet — ingest your documents on the Knowledge page.")
    if per_month is None:
        missing.append("Monthly update cost: answer how often your facts change.")
    updates = {
        "updates_per_month": None if per_month is None else round(per_month, 2),
        "reindex_seconds": reindex_seconds,
        "train_seconds": train_seconds,
        "reindex_seconds_per_month": (
            round(per_month * reindex_seconds, 1)
            if per_month is not None and reindex_seconds is not None else None
        ),
        "train_seconds_per_month": (
            round(per_month * train_seconds, 1)
            if per_month is not None and train_seconds is not None else None
        ),
    }
    return {"queries_per_day": qpd, "arms": arms_out, "updates": updates, "missing": missing,
            "report_latency_conditions": report_conditions if arms_out else None}


