"""Eval sets through the arms -> a report with metrics, paired-bootstrap CIs and per-question rows.

Run in-process (`evaluate(...)`, the CLI) or as a background job
(`python -m core.evaluation.evaluate --run-dir D`, started by `start_evaluation`): the job reports
progress per batch, honours the STOP file between batches, and saves the report under
data/reports/<id>.json.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.evaluation import metrics, planning, retrieval_metrics
from core.evaluation.arms import ADAPTER_ARMS, RETRIEVAL_ARMS, ArmAnswer, Arms, ArmSetup
from core.evaluation.concise import contains_concise
from core.evaluation.evalset_files import load_eval_file
from core.evaluation.evalsets import EvalItem, EvalSet
from core.evaluation.verdict import build_verdict
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

QA_METRICS = ("exact_match", "f1", "contains", "contains_concise", "rougeL")
LABEL_METRICS = ("accuracy",)
DELTA_PAIRS = (("rag", "base"), ("ft", "base"), ("hybrid", "base"), ("rag", "ft"), ("hybrid", "rag"))


class ReportNotFound(CrossroadsError):
    pass


class EvaluationStopped(CrossroadsError):
    """Cancelled before a single question was answered: there is nothing to report."""


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        return self.elapsed_s / self.done * (self.total - self.done) if self.done else None


# ------------------------------------------------------------------------------------ scoring


def _score(item: EvalItem, answer: ArmAnswer, labels: Sequence[str], k: int) -> tuple[dict, str | None]:
    """Scores of one arm on one item, and its failure label (retrieval arms, wrong answers)."""
    if item.kind == "label":
        predicted = metrics.map_label(answer.answer, labels)
        scores = {"accuracy": float(predicted is not None and predicted == item.label), "predicted": predicted}
        correct = scores["accuracy"] == 1.0
    else:
        scores = metrics.score_answer(answer.answer, item.golds)
        scores["contains_concise"] = contains_concise(answer.answer, item.golds)
        correct = scores["contains"] == 1.0
    failure = None
    if answer.arm in RETRIEVAL_ARMS:
        scores["groundedness"] = metrics.groundedness_proxy(answer.answer, [s.text for s in answer.sources])
        golds = () if item.kind == "label" else item.golds  # a label is not text to find in a chunk
        rule = retrieval_metrics.gold_rule(item.source, item.chunk_id, golds)
        if rule:
            retrieved = [{"source": s.source, "chunk_id": s.id, "text": s.text} for s in answer.sources]
            rank, _ = retrieval_metrics.gold_rank(retrieved[:k], item.source, item.chunk_id, golds)
            scores["hit_at_k"], scores["rr"], scores["gold_rule"] = float(rank is not None), 1.0 / rank if rank else 0.0, rule
            failure = retrieval_metrics.failure_kind(correct, scores["hit_at_k"])
    return scores, failure


def _summary(arm: str, rows: list[dict], kind: str, labels: Sequence[str], adapter_meta: dict) -> dict:
    scores = [r["scores"][arm] for r in rows]
    records = [r["records"][arm] for r in rows]
    out: dict = {}
    names = LABEL_METRICS if kind == "label" else QA_METRICS
    for name in names:
        out[name] = metrics.mean(s[name] for s in scores)
    if kind == "label":
        out["macro_f1"] = metrics.macro_f1([s["predicted"] for s in scores], [r["gold"][0] for r in rows], labels)
    for name, key in (("hit_at_k", "hit_at_k"), ("mrr", "rr"), ("groundedness_proxy", "groundedness")):
        values = [s[key] for s in scores if key in s]
        if values:
            out[name] = metrics.mean(values)
    if rules := sorted({s["gold_rule"] for s in scores if "gold_rule" in s}):
        out["gold_rule"] = " + ".join(rules)  # which rule found the gold chunks (retrieval_metrics)
    latencies = [rec["total_ms"] for rec in records]
    out["latency_p50_ms"] = metrics.p50(latencies)
    out["latency_p95_ms"] = metrics.p95(latencies)
    generated = [rec for rec in records if rec["tokens"]]
    gen_seconds = sum(rec["generation_ms"] for rec in generated) / 1000
    out["tokens_per_s"] = sum(rec["tokens"] for rec in generated) / gen_seconds if gen_seconds else 0.0
    out["prompt_tokens_mean"] = metrics.mean(rec["prompt_tokens"] for rec in records)
    out["answer_tokens_mean"] = metrics.mean(rec["tokens"] for rec in records)
    out["ci"] = {name: list(metrics.bootstrap_ci([s[name] for s in scores])) for name in names}
    if arm in ADAPTER_ARMS:
        out["train_seconds"] = adapter_meta.get("duration_s")
        out["trainable_params"] = adapter_meta.get("trainable_params")
    return out


def _deltas(arms: Sequence[str], rows: list[dict], kind: str) -> dict:
    names = LABEL_METRICS if kind == "label" else QA_METRICS
    deltas = {}
    for a, b in DELTA_PAIRS:
        if a in arms and b in arms:
            deltas[f"{a}-{b}"] = {
                name: list(metrics.paired_bootstrap_ci([r["scores"][a][name] for r in rows],
                                                       [r["scores"][b][name] for r in rows]))
                for name in names
            }
    return deltas


# ------------------------------------------------------------------------------------ running


def evaluate(eval_set: EvalSet, setup: ArmSetup, *, settings: Settings | None = None, batch_size: int = 4,
             on_progress: Callable[[Progress], None] | None = None,
             should_stop: Callable[[], bool] | None = None, engine: Arms | None = None,
             job_id: str | None = None) -> dict:
    """Run every item through every chosen arm and build the report (not saved).

    `should_stop` is checked before each batch and at every decode step inside it, so a cancel
    takes effect within one generation step; the batch it interrupted is discarded (its answers
    were cut short) and the report holds the questions answered in full, marked ``partial``.
    """
    from core.runtime import machine

    settings = settings or get_settings()
    planned = planning.before_run(len(eval_set), eval_set.kind, settings)  # before this run's report exists
    engine = engine or Arms(setup, settings)
    labels = tuple(eval_set.labels or ()) if eval_set.kind == "label" else ()
    before = machine.snapshot(settings, exclude_job=job_id)  # the conditions the latencies were measured in
    start = time.perf_counter()
    rows: list[dict] = []
    stop = should_stop or (lambda: False)
    stopped = False
    for first in range(0, len(eval_set), batch_size):
        if stop():
            stopped = True
            break
        items = [eval_set[i] for i in range(first, min(first + batch_size, len(eval_set)))]
        cut = False

        def stop_in_batch() -> bool:  # called at every decode step of this batch
            nonlocal cut
            cut = cut or stop()
            return cut

        answered = engine.answer_many([i.question for i in items], labels, should_stop=stop_in_batch)
        if cut:  # generation was cut short: these answers are incomplete, keep only whole rows
            stopped = True
            break
        for item, answers in zip(items, answered, strict=True):
            rows.append(_question_row(item, answers, labels, setup.retrieval.k))
        if on_progress:
            on_progress(Progress(len(rows), len(eval_set), time.perf_counter() - start))
    if not rows:
        raise EvaluationStopped("The evaluation was stopped before any question was answered.",
                                hint="Nothing was saved; start it again and let at least one batch finish.")
    arms = list(setup.arms)
    kb_info = _kb_info(setup.kb, settings) if setup.kb else None  # for the re-index vs retrain projection
    complete = not stopped and len(rows) == len(eval_set)
    report = {
        "id": _report_id(),
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "n": len(rows),
        "complete": complete,
        "partial": not complete,  # readers (Recommend's report picker) skip partial reports
        "kind": eval_set.kind,
        "eval_set": {"name": eval_set.name, "size": len(eval_set), "labels": list(labels)},
        "setup": setup.describe(),
        "engine": engine.engine.describe(),  # which engine and quantization produced every answer
        "arms": {arm: _summary(arm, rows, eval_set.kind, labels, engine.adapter_meta) | {"title": engine.title(arm)}
                 for arm in arms},
        "deltas": _deltas(arms, rows, eval_set.kind),
        # The batch as generated: a 3-question set with batch size 4 ran 3 at a time.
        "machine": machine.conditions(before, machine.snapshot(settings, exclude_job=job_id),
                                      min(batch_size, len(eval_set))),
        "questions": [{k: v for k, v in r.items() if k != "records"} | {"figures": r["records"]} for r in rows],
        "meta": {
            "kb": setup.kb, "adapter": setup.adapter, "device": settings.resolved_device,
            "adapter_mode": engine.adapter_mode,  # raft or closed_book: "Hybrid (RAFT)" is titled from it
            "generator": settings.generator, "model": settings.model_name, "seconds": round(time.perf_counter() - start, 2),
            "train_seconds": engine.adapter_meta.get("duration_s"),
            "trainable_params": engine.adapter_meta.get("trainable_params"),
            **({"kb_chunks": kb_info["chunks"], "reindex_seconds": kb_info["seconds"]} if kb_info else {}),
            "batch_size": batch_size,
            "ci": "paired bootstrap, 2000 resamples, 95%",
        },
    }
    verdict = build_verdict(report)
    report["power"] = {"before_run": planned, "observed": planning.after_run(report, verdict["verdict_metric"])}
    return verdict | report


def evaluate_any(eval_set: EvalSet, setup: ArmSetup, **kwargs) -> dict:
    """`evaluate`, or every member of a seed group when `setup.adapter` names one (core/evaluation/seeds.py)."""
    from core.training.seeds import read_group

    group = read_group(setup.adapter, kwargs.get("settings"))
    if group is None:
        return evaluate(eval_set, setup, **kwargs)
    from core.evaluation.seeds import evaluate_group

    return evaluate_group(eval_set, setup, group, run=evaluate, **kwargs)


def _question_row(item: EvalItem, answers: dict[str, ArmAnswer], labels: Sequence[str], k: int) -> dict:
    row = {"question": item.question, "gold": list(item.golds), "source": item.source,
           "answers": {}, "scores": {}, "failure": {}, "records": {}}
    for arm, answer in answers.items():
        scores, failure = _score(item, answer, labels, k)
        row["answers"][arm] = answer.answer
        row["scores"][arm] = scores
        row["records"][arm] = answer.record()  # the chunks in full: the per-question drill-down shows them
        if arm in RETRIEVAL_ARMS:
            row["failure"][arm] = failure
    return row


def _kb_info(kb: str, settings: Settings) -> dict | None:
    from core.knowledge.manifest import read_manifest

    try:
        manifest = read_manifest(kb, settings)
    except CrossroadsError:
        return None
    files = (manifest.get("files") or {}).values() if isinstance(manifest.get("files"), dict) else manifest.get("files") or []
    chunks = sum(int(f.get("chunks") or 0) for f in files)
    seconds = [f.get("seconds") for f in files if isinstance(f.get("seconds"), int | float)]
    return {"chunks": chunks, "seconds": round(sum(seconds), 2) if seconds else None}


def _report_id() -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


# ------------------------------------------------------------------------------------ reports


def reports_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).path("reports")


def save_report(report: dict, settings: Settings | None = None, path: Path | None = None) -> Path:
    from core.runtime.jobs import write_json_atomic

    target = path or reports_dir(settings) / f"{report['id']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(target, report)
    return target


def list_reports(settings: Settings | None = None) -> list[dict]:
    """Saved reports, newest first, as short summaries (unreadable files are skipped)."""
    folder = reports_dir(settings)
    out = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            out.append({"id": path.stem, "created": report.get("created"), "n": report.get("n"),
                        "partial": bool(report.get("partial") or report.get("complete") is False),
                        "eval_set": (report.get("eval_set") or {}).get("name"), "arms": list(report.get("arms", {})),
                        "kb": report.get("meta", {}).get("kb"), "adapter": report.get("meta", {}).get("adapter"),
                        "review": _review_state(report)})
        except (OSError, ValueError, AttributeError):
            continue
    return out


def _review_state(report: dict) -> str | None:
    review = report.get("review") or {}
    return "finished" if review.get("finished") else "started" if review.get("grades") else None


def load_report(report_id: str, settings: Settings | None = None) -> dict:
    path = reports_dir(settings) / f"{Path(report_id).name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportNotFound(f"No report {report_id!r}.", hint="Run an evaluation first.") from None
    except ValueError:
        raise ReportNotFound(f"Report {report_id!r} is not valid JSON.") from None


def delete_report(report_id: str, settings: Settings | None = None) -> None:
    (reports_dir(settings) / f"{Path(report_id).name}.json").unlink(missing_ok=True)


# ------------------------------------------------------------------------------------ jobs

EVALSET_FILE = "evalset.jsonl"


def start_evaluation(eval_set: EvalSet, setup: ArmSetup, *, batch_size: int = 4, settings: Settings | None = None):
    """Start the evaluation as a background job (one evaluation at a time per data directory)."""
    import tempfile

    from core.runtime import jobs

    spec = {"setup": setup.describe(), "batch_size": batch_size, "eval_set": {"name": eval_set.name,
            "kind": eval_set.kind, "labels": list(eval_set.labels or ())}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / EVALSET_FILE
        path.write_text(eval_set.to_jsonl(), encoding="utf-8")
        return jobs.start("evaluate", "core.evaluation.evaluate", spec, group="evaluate", settings=settings,
                          files={EVALSET_FILE: path})


def setup_from_dict(spec: dict) -> ArmSetup:
    from core.knowledge.retrieval import RetrievalConfig
    from core.runtime.generation import Decoding

    return ArmSetup(arms=tuple(spec["arms"]), kb=spec.get("kb"), adapter=spec.get("adapter"),
                    retrieval=RetrievalConfig.from_dict(spec.get("retrieval")), decoding=Decoding(**spec.get("decoding", {})))


def _worker(run_dir: Path) -> None:
    from core.runtime.jobrun import JobRun

    with JobRun(run_dir) as run:
        spec = run.spec
        info = spec["eval_set"]
        eval_set = load_eval_file(run_dir / EVALSET_FILE)
        eval_set = EvalSet(info["name"], eval_set.items, info["kind"], tuple(info["labels"]) or eval_set.labels)
        setup = setup_from_dict(spec["setup"])
        run.update(total_steps=len(eval_set), message="Loading the model…")

        def progress(p: Progress) -> None:
            run.progress(step=p.done, total=p.total, elapsed_s=round(p.elapsed_s, 1))
            run.update(step=p.done, message=f"{p.done}/{p.total} questions")

        try:
            report = evaluate_any(eval_set, setup, batch_size=int(spec.get("batch_size", 4)), on_progress=progress,
                              should_stop=run.stop_requested, job_id=run_dir.name)
        except EvaluationStopped:
            run.finish("cancelled", message="Cancelled before any question was answered: no report.")
            return
        save_report(report)
        state = "completed" if report["complete"] else "cancelled"
        run.finish(state, result={"report": report["id"], "n": report["n"], "partial": report["partial"]})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Crossroads evaluation worker")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="accepted for the job protocol; starts over")
    _worker(parser.parse_args().run_dir)
