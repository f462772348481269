"""The machine a latency was measured on: cores, load, and the other jobs of this data directory.

A latency is only comparable with another measured in the same conditions. An evaluation
generates several questions at once (batched) and may share the CPU with a training run or an
ingestion: its per-answer latency then says little about one user asking one question. Every
report keeps the conditions next to its latencies, and `latency_conditions` turns them into the
label shown wherever those latencies appear (report, wizard evidence, cost projection).
"""

from __future__ import annotations

import os

from core.runtime.settings import Settings


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # not available on this platform
        return None


def snapshot(settings: Settings | None = None, *, exclude_job: str | None = None) -> dict:
    """Cores, load average (1, 5, 15 min) and the other running jobs of this data directory now."""
    from core.runtime import jobs

    try:
        running = [{"id": j.id, "kind": j.kind} for j in jobs.list_jobs(settings=settings)
                   if j.active and j.id != exclude_job]
    except (OSError, ValueError):
        running = []
    return {"cores": os.cpu_count(), "load_avg": _load(), "other_jobs": running}


def conditions(before: dict, after: dict, batch_size: int) -> dict:
    """What a report records about its machine: the two snapshots and how answers were generated."""
    record = {"cores": before.get("cores"), "load_before": before.get("load_avg"), "load_after": after.get("load_avg"),
              "other_jobs_before": before.get("other_jobs") or [], "other_jobs_after": after.get("other_jobs") or [],
              "batch_size": batch_size}
    # The reading is stored too: the wizard (core.decision, pure) shows it without recomputing it.
    measured = latency_conditions(record)
    return record | {"batched": measured["batched"], "loaded": measured["loaded"], "latency_label": measured["label"]}


def latency_conditions(machine: dict | None, batch_size: int | None = None) -> dict:
    """{"batched", "loaded", "label"}: how a report's latencies were measured, in words.

    Loaded: the 1-minute load average before or after exceeded the cores (other work shared the CPU).
    """
    machine = machine if isinstance(machine, dict) else {}
    batch = machine.get("batch_size", batch_size)
    batched = isinstance(batch, int) and batch > 1
    cores = machine.get("cores")
    loads = [lv[0] for lv in (machine.get("load_before"), machine.get("load_after"))
             if isinstance(lv, list | tuple) and lv]
    loaded = bool(cores) and any(load > cores for load in loads)
    others = {j.get("kind") for j in (machine.get("other_jobs_before") or []) + (machine.get("other_jobs_after") or [])
              if isinstance(j, dict)}
    parts = []
    if batched:
        parts.append(f"batched ({batch} questions generated together)")
    if loaded:
        parts.append(f"under load (load average {max(loads):.1f} on {cores} cores)")
    if others - {None}:
        parts.append("while other jobs ran (" + ", ".join(sorted(str(k) for k in others if k)) + ")")
    if not machine:
        label = "conditions not recorded" + (f"; batched ({batch} questions generated together)" if batched else "")
    elif parts:
        label = "; ".join(parts)
    else:
        label = f"one at a time on an idle machine ({cores} cores)" if cores else "one at a time"
    return {"batched": batched, "loaded": loaded, "label": label}


def describe_machine(machine: dict | None) -> str:
    """Cores, load before and after, other jobs: one line for a report."""
    if not isinstance(machine, dict) or not machine:
        return "machine not recorded (report made before machines were recorded)"

    def load(lv) -> str:
        return "/".join(f"{x:.1f}" for x in lv) if isinstance(lv, list | tuple) else "?"

    others = sorted({f"{j.get('kind')} {j.get('id')}" for j in
                     (machine.get("other_jobs_before") or []) + (machine.get("other_jobs_after") or [])
                     if isinstance(j, dict)})
    return (f"{machine.get('cores')} cores · load average (1/5/15 min) {load(machine.get('load_before'))} before, "
            f"{load(machine.get('load_after'))} after · other jobs in this data directory: "
            + (", ".join(others) if others else "none"))
