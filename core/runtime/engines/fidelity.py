"""An engine's measured fidelity to the fp32 reference (hf), read from
`bench/results/fidelity.json` (written by `python -m bench.fidelity`): the one place reports,
Compare, `core info` and every answer's engine record get it from.

Faithful (issue 23): on >= 200 prompts of real passages, >= 80% of greedy answers identical to
the reference, and the paired-difference 95% CI of `contains` and of F1 within +/-3 points.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from core.runtime.settings import BUNDLED_GENERATOR

RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "fidelity.json"
MIN_PROMPTS = 200
MIN_IDENTICAL = 0.80
MARGIN_POINTS = 3.0
APPROXIMATE = {"ct2-int8"}  # offered as "fast, approximate": never the default


def is_faithful(identical: float, contains_ci: tuple[float, float], f1_ci: tuple[float, float], prompts: int) -> bool:
    """The definition above; CIs in points (percentage points of the metric's 0-1 scale)."""
    within = all(-MARGIN_POINTS <= bound <= MARGIN_POINTS for bound in (*contains_ci, *f1_ci))
    return prompts >= MIN_PROMPTS and identical >= MIN_IDENTICAL and within


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _results(path: Path) -> dict:
    try:
        return _load(str(path), path.stat().st_mtime)
    except OSError:
        return {}


def engine_fidelity(engine: str, generator: str, path: Path = RESULTS) -> dict:
    """`{"measured", "faithful", "identical", "contains_diff", "f1_diff", "prompts", "label"}` for
    this engine on this generator; "not measured" when the results hold none for them."""
    if engine == "hf":
        return {"measured": True, "reference": True, "faithful": True,
                "label": "the fp32 reference (fidelity is measured against it)"}
    data = _results(path)
    entry = (data.get("engines") or {}).get(engine) if data.get("generator") == generator else None
    prefix = "fast, approximate; " if engine in APPROXIMATE else ""
    if not isinstance(entry, dict):
        return {"measured": False, "faithful": None, "label": f"{prefix}fidelity not measured"}
    identical = float(entry["identical"])
    contains, f1 = entry["contains_diff"], entry["f1_diff"]
    verdict = "faithful" if entry.get("faithful") else "not faithful"
    label = (f"{prefix}{verdict} to hf fp32: {identical:.0%} of greedy answers identical; contains "
             f"{contains['mean']:+.1f} pts [{contains['low']:+.1f}, {contains['high']:+.1f}], F1 "
             f"{f1['mean']:+.1f} pts [{f1['low']:+.1f}, {f1['high']:+.1f}] on {entry['prompts']} prompts")
    return {"measured": True, "faithful": bool(entry.get("faithful")), "identical": identical,
            "contains_diff": contains, "f1_diff": f1, "prompts": entry["prompts"], "label": label}


SPEED_RESULTS = RESULTS.with_name("engine.json")


def engine_speed(engine: str, generator: str, path: Path = SPEED_RESULTS) -> dict:
    """The engine's measured speed against hf fp32 (bench/results/engine.json, `python -m
    bench.engine`), shown next to its fidelity; "not measured" when that run has no figures or
    measured another model (the bench runs the bundled one unless its file names another)."""
    if engine == "hf":
        return {"measured": True, "label": "the speed reference (1x)"}
    data = _results(path)
    if data.get("generator", BUNDLED_GENERATOR) != generator:
        return {"measured": False, "label": "speed not measured for this model"}
    ratios = (data.get("vs_hf") or {}).get(engine)
    if not isinstance(ratios, dict):
        return {"measured": False, "label": "speed not measured"}
    label = (f"{ratios['single_stream']:.1f}x hf fp32 on one stream, {ratios['four_arm_answer']:.1f}x on a "
             f"four-arm answer, {ratios['evaluation']:.1f}x on an evaluation")
    return {"measured": True, **ratios, "label": label}


def engine_caption(engine: str, quantization: str, generator: str) -> str:
    """One line for pages and reports: the engine, its measured fidelity, its measured speed."""
    return (f"Engine {engine} ({quantization}): {engine_fidelity(engine, generator)['label']}; "
            f"{engine_speed(engine, generator)['label']}.")
