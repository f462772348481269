"""Held-out eval sets: the rows of an adapter's training file that its run kept out of training."""

from __future__ import annotations

from core.evaluation.evalsets import EvalSet
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

__all__ = ["heldout_set"]


def heldout_set(adapter: str, settings: Settings | None = None) -> EvalSet:
    """The rows an adapter never saw: its training file's seeded held-out split."""
    from core.runtime.jobs import read_json
    from core.training import datasets as ds
    from core.training.adapters import get_adapter
    from core.training.schema import Schema

    settings = settings or get_settings()
    meta = get_adapter(adapter, settings).meta
    data, split = meta.get("data") or {}, meta.get("split") or {}
    run_dir = settings.path("runs", str(meta.get("run_id")))
    spec = read_json(run_dir / "spec.json", {}) or {}
    held = set(split.get("eval_row_numbers") or [])
    if not held or not spec.get("data_file") or not (run_dir / spec["data_file"]).is_file():
        raise CrossroadsError(f"The held-out rows of {adapter!r} are not available.",
                              hint="Its training run (under data/runs) was deleted or kept no eval split; upload "
                                   "an eval file instead.")
    schema = Schema.of(data["kind"], data["mapping"]) if data.get("mapping") else None
    rows = [r for r in ds.load_labeled(run_dir / spec["data_file"], name=data.get("name"), schema=schema).rows
            if r.number in held]
    name = f"{data.get('name', adapter)} (held-out, {len(rows)} rows)"
    if data.get("kind") == "classification":
        return EvalSet.from_labels(name, [(r.prompt, r.label) for r in rows], labels=data.get("labels"))
    return EvalSet.from_pairs(name, [(r.prompt, r.target) for r in rows])
