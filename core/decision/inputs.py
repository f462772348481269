"""File reading for the recommendation wizard (the engine in core/decision/ stays pure).

Reads answers files, evaluation reports (data/reports/<id>.json), adapter meta.json
(training time) and knowledge-base manifests (chunk counts, ingestion time).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from core.decision.answers import AnswerError, normalize_answers
from core.decision.evidence import report_models
from core.decision.projection import corpus_tokens_from_manifest
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings
from core.training.adapters import list_adapters


class RecommendInputError(CrossroadsError):
    """An answers file or an evaluation report cannot be used."""


def _read_json(path: Path, what: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecommendInputError(f"{what} not found: {path}", "Check the path.") from None
    except OSError as exc:
        raise RecommendInputError(f"Cannot read {what} {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecommendInputError(
            f"{what} {path} is not valid JSON (line {exc.lineno}: {exc.msg}).",
            "Fix the file or export it again.",
        ) from None


def load_answers(path: str | Path) -> dict[str, Any]:
    data = _read_json(Path(path), "Answers file")
    try:
        normalize_answers(data)
    except AnswerError as exc:
        raise RecommendInputError(
            f"Answers file {path}: {exc}", "See the README section 'Recommendation wizard'."
        ) from None
    return data


def validate_report(report: Any, where: str = "report") -> dict[str, Any]:
    if not isinstance(report, dict) or not isinstance(report.get("arms"), dict):
        raise RecommendInputError(
            f"{where} is not an evaluation report (no 'arms').",
            "Use a report written by the Evaluate page or `python -m core evaluate`.",
        )
    deltas = report.get("deltas") or {}
    if not isinstance(deltas, dict):
        raise RecommendInputError(f"{where}: 'deltas' must be an object.")
    for pair, metrics in deltas.items():
        if not isinstance(metrics, dict):
            raise RecommendInputError(f"{where}: deltas[{pair!r}] must be an object.")
        for metric, interval in metrics.items():
            ok = (
                isinstance(interval, list)
                and len(interval) == 3
                and all(isinstance(x, int | float) for x in interval)
            )
            if not ok:
                raise RecommendInputError(
                    f"{where}: deltas[{pair!r}][{metric!r}] must be [low, mean, high]."
                )
    return report


def reports_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "reports"


def resolve_report(ref: str | Path, data_dir: Path | None = None) -> tuple[str, dict[str, Any]]:
    """A path to a report, or a report id under data/reports/ -> (id, report)."""
    path = Path(ref)
    if not path.exists() and data_dir is not None:
        candidate = reports_dir(data_dir) / f"{ref}.json"
        if candidate.exists():
            path = candidate
    report = validate_report(_read_json(path, "Evaluation report"), str(path))
    adapter = (report.get("meta") or {}).get("adapter")
    if data_dir is not None and adapter and "adapter_mode" not in report:  # written before reports named it
        mode = (_read_dict(Path(data_dir) / "adapters" / str(adapter) / "meta.json") or {}).get("mode")
        if mode:
            report["adapter_mode"] = mode
    return path.stem, report


def is_partial(report: dict[str, Any]) -> bool:
    """A cancelled evaluation's report: it holds only the questions answered before the stop."""
    return bool(report.get("partial") or report.get("complete") is False)


def _created_ts(created: Any, fallback: float) -> float:
    try:
        return datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback


def list_reports(data_dir: Path) -> list[dict[str, Any]]:
    """Evaluation reports under data/reports/, newest first (by their `created` time, else the
    file's); unreadable ones are flagged (ok=False), cancelled ones marked partial."""
    out = []
    folder = reports_dir(data_dir)
    if not folder.is_dir():
        return out
    for path in folder.glob("*.json"):
        entry: dict[str, Any] = {"id": path.stem, "path": str(path), "mtime": path.stat().st_mtime}
        try:
            report = validate_report(_read_json(path, "Evaluation report"), path.name)
            meta = report.get("meta") or {}
            created = report.get("created") or meta.get("created")
            entry.update(
                ok=True, n=report.get("n"), kb=meta.get("kb"), adapter=meta.get("adapter"),
                created=created, arms=sorted(report.get("arms") or {}), partial=is_partial(report),
                verdict=report.get("verdict"),
                task=report.get("task") if report.get("task") in ("classification", "extraction") else None,
            )
            entry["when"] = _created_ts(created, entry["mtime"]) if created else entry["mtime"]
        except RecommendInputError as exc:
            entry.update(ok=False, error=exc.message)
        out.append(entry)
    out.sort(key=lambda e: e.get("when", e["mtime"]), reverse=True)
    return out


def latest_finished_report(reports: list[dict[str, Any]], task: str | None = None) -> str | None:
    """The id of the newest readable report of a run that finished (never a partial one); for a
    classification / extraction task, the newest report of that task first (its few-shot vs
    fine-tune measurement is the evidence the wizard reads)."""
    finished = [r for r in reports if r.get("ok") and not r.get("partial")]
    same_task = [r for r in finished if task and r.get("task") == task]
    return next((r["id"] for r in same_task or finished), None)


def list_kbs(data_dir: Path) -> list[str]:
    folder = Path(data_dir) / "kb"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "manifest.json").is_file())


def read_manifest(data_dir: Path, kb: str) -> dict[str, Any] | None:
    path = Path(data_dir) / "kb" / kb / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = _read_json(path, "Knowledge-base manifest")
    except RecommendInputError:
        return None
    return data if isinstance(data, dict) else None


def kb_corpus_tokens(data_dir: Path, kb: str) -> dict[str, Any]:
    manifest = read_manifest(data_dir, kb)
    if manifest is None:
        return {"tokens": None, "chunks": 0, "method": f"knowledge base {kb!r} has no manifest"}
    return corpus_tokens_from_manifest(manifest)


def _manifest_seconds(manifest: dict[str, Any]) -> float | None:
    if isinstance(manifest.get("seconds"), int | float):
        return float(manifest["seconds"])
    files = manifest.get("files") or []
    if isinstance(files, dict):
        files = list(files.values())
    secs = [f.get("seconds") for f in files if isinstance(f, dict)]
    if secs and all(isinstance(s, int | float) for s in secs):
        return float(sum(secs))
    return None


def _read_dict(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def evidence_model(report: dict[str, Any] | None) -> str:
    """The base model the wizard's measurements are about: the report's, else the active one (the
    single-answer latencies of the projection are then that model's only)."""
    from core.runtime.settings import get_settings

    models = report_models(report)
    return models[0] if models else get_settings().model_name


def trained_adapters(data_dir: Path) -> list[dict[str, Any]]:
    """Complete adapters in the workspace (core.training.adapters), newest first: name, mode,
    duration_s and the base model they were trained on."""
    out = []
    for record in list_adapters(Settings().with_data_dir(data_dir)):
        duration = record.meta.get("duration_s")
        out.append({"name": record.name, "mode": record.meta.get("mode") or "closed_book", "base": record.base_name,
                    "duration_s": float(duration) if isinstance(duration, int | float) else None})
    return out


def workspace_assets(data_dir: Path) -> dict[str, Any]:
    """What exists already (the engine's next steps do not ask for it again)."""
    finished = [r for r in list_reports(data_dir) if r.get("ok") and not r.get("partial")]
    return {"kbs": list_kbs(data_dir),
            "adapters": [{"name": a["name"], "mode": a["mode"]} for a in trained_adapters(data_dir)],
            "reports": len(finished)}


def _adapter_seconds(data_dir: Path, name: str) -> float | None:
    meta = _read_dict(Path(data_dir) / "adapters" / name / "meta.json") or {}
    value = meta.get("duration_s")
    return float(value) if isinstance(value, int | float) else None


def _kb_seconds(data_dir: Path, kb: str) -> float | None:
    manifest = read_manifest(data_dir, kb)
    return _manifest_seconds(manifest) if manifest else None


def measured_update_times(data_dir: Path, report: dict[str, Any] | None) -> dict[str, Any]:
    """Re-index and retraining times measured on this machine, with where each came from.

    Order: the report's meta (train_seconds / reindex_seconds), then the report's adapter's
    meta.json (duration_s) and knowledge base's manifest (seconds), then, with no report or
    none of those, the newest adapter that recorded its training time and the knowledge base
    indexed most recently. Missing -> None (never guessed).
    """
    meta = (report or {}).get("meta") or {}
    out: dict[str, Any] = {"train_seconds": None, "train_from": None,
                           "reindex_seconds": None, "reindex_from": None}
    if isinstance(meta.get("train_seconds"), int | float):
        out.update(train_seconds=float(meta["train_seconds"]), train_from="evaluation report")
    elif meta.get("adapter") and (secs := _adapter_seconds(data_dir, str(meta["adapter"]))) is not None:
        out.update(train_seconds=secs, train_from=f"adapter {meta['adapter']} meta.json")
    else:
        # never another base model's training time beside this report's measurements
        models = report_models(report)
        timed = [a for a in trained_adapters(data_dir) if a["duration_s"] is not None
                 and (not models or a["base"] in models)]
        if timed:
            out.update(train_seconds=timed[0]["duration_s"],
                       train_from=f"adapter {timed[0]['name']} meta.json (your newest adapter)")
    if isinstance(meta.get("reindex_seconds"), int | float):
        out.update(reindex_seconds=float(meta["reindex_seconds"]), reindex_from="evaluation report")
    elif meta.get("kb") and (secs := _kb_seconds(data_dir, str(meta["kb"]))) is not None:
        out.update(reindex_seconds=secs, reindex_from=f"knowledge base {meta['kb']} manifest")
    else:
        folder = Path(data_dir) / "kb"
        by_age = sorted(list_kbs(data_dir), key=lambda kb: (folder / kb / "manifest.json").stat().st_mtime,
                        reverse=True)
        for kb in by_age:
            if (secs := _kb_seconds(data_dir, kb)) is not None:
                out.update(reindex_seconds=secs,
                           reindex_from=f"knowledge base {kb} manifest (indexed most recently)")
                break
    return out
