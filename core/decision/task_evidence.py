"""Few-shot (retrieved examples) vs fine-tune for a classification or extraction task.

The published priors on labeled examples (../shared/design/evidence.md: < 10 -> no fine-tune,
10-49 -> few-shot prompting, 50-99 -> a fine-tuning pilot, >= 100 -> fine-tuning viable) are read
here as *hypotheses* about one comparison: the retrieved-examples arm (kNN few-shot from the
training rows) against the fine-tuned arm, on the same base model. A task report that measured
both says whether the user's own data confirmed the hypothesis, overturned it, or could not tell.
Pure code: the report is read as JSON (decision does not import evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.decision.rules import cite

TASKS = ("classification", "extraction")
# The retrieval arm of a task: its id in reports (the first one found is used).
EXAMPLES_ARMS = ("examples",)
# The task metrics a verdict can rest on, best first.
TASK_METRICS = ("accuracy", "macro_f1", "entity_f1", "lenient_f1")
TASK_METRIC_NAMES = {"macro_f1": "macro-F1", "accuracy": "accuracy", "entity_f1": "entity F1 (exact)",
                     "lenient_f1": "entity F1 (partial match)"}


# (upper bound, band, the hypothesis in words, which arm it expects to do at least as well)
PRIORS: tuple[tuple[float, str, str, str | None], ...] = (
    (10, "lt10", "fewer than 10 labeled examples: no fine-tune is possible; prompt with the examples "
                 "(few-shot) instead", "examples"),
    (50, "10_49", "10-49 labeled examples: few-shot prompting with them is the better use; fine-tuning "
                  "gains start around 50-100", "examples"),
    (100, "50_99", "50-99 labeled examples: enough for a fine-tuning pilot; neither side is expected to "
                   "win clearly", None),
    (math.inf, "100_plus", "100 or more labeled examples: fine-tuning is viable and should beat few-shot "
                           "prompting", "ft"),
)
PRIOR_SOURCE = cite("openai_ft", "google", "azure")


def task_of(report: Mapping[str, Any] | None) -> str | None:
    """The report's task kind (classification / extraction), or None for a Q&A report."""
    if not report:
        return None
    task = report.get("task") or (report.get("meta") or {}).get("task")
    if isinstance(task, Mapping):
        task = task.get("kind")
    return task if task in TASKS else None


def examples_arm(report: Mapping[str, Any]) -> str | None:
    arms = report.get("arms") or {}
    return next((a for a in EXAMPLES_ARMS if a in arms), None)


def training_rows(report: Mapping[str, Any]) -> int | None:
    """How many labeled rows the arms learned from (the retrieved-examples pool / the adapter's data)."""
    train = (report.get("setup") or {}).get("train_data") or {}
    value = train.get("rows") if isinstance(train, Mapping) else None
    return int(value) if isinstance(value, int | float) and value > 0 else None


def prior_for(n: int | None) -> dict[str, Any] | None:
    if n is None:
        return None
    for upper, band, text, expects in PRIORS:
        if n < upper:
            return {"band": band, "text": text, "expects": expects}
    return None


def _metric(report: Mapping[str, Any], delta: Mapping[str, Any]) -> str | None:
    stated = report.get("verdict_metric")
    if stated in delta:
        return stated
    return next((m for m in TASK_METRICS if m in delta), None)


def _ft_vs_examples(report: Mapping[str, Any], ex: str) -> dict[str, Any] | None:
    """The ft - examples difference (sign flipped when the report stored examples - ft)."""
    deltas = report.get("deltas") or {}
    for pair, sign in ((f"ft-{ex}", 1.0), (f"{ex}-ft", -1.0)):
        delta = deltas.get(pair)
        if not isinstance(delta, Mapping):
            continue
        metric = _metric(report, delta)
        interval = delta.get(metric) if metric else None
        if isinstance(interval, list | tuple) and len(interval) == 3:
            low, mean, high = (sign * float(x) for x in interval)
            low, high = min(low, high), max(low, high)
            return {"metric": metric, "low": low, "mean": mean, "high": high}
    return None


def task_evidence(answers: Mapping[str, Any], report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The hypothesis for this task and example count, and what the measurement said (JSON-ready).

    None when the task is neither classification nor extraction (by the answers or the report).
    """
    task = task_of(report) or (answers.get("task") if answers.get("task") in TASKS else None)
    if task is None:
        return None
    n = answers.get("labeled_examples")
    n_from = "your answer"
    if n is None and report is not None and task_of(report):
        n, n_from = training_rows(report), "the training rows of your task report"
    prior = prior_for(int(n) if n is not None else None)
    out: dict[str, Any] = {"task": task, "n": n, "n_from": n_from if n is not None else None,
                           "hypothesis": prior["text"] if prior else None, "band": prior and prior["band"],
                           "expects": prior and prior["expects"], "source": PRIOR_SOURCE,
                           "measured": None, "outcome": "not measured"}
    ex = examples_arm(report) if report and task_of(report) == task else None
    measured = _ft_vs_examples(report, ex) if ex else None
    if measured is None:
        out["text"] = _text(out)
        return out
    clear_ft = measured["low"] > 0
    clear_ex = measured["high"] < 0
    measured["winner"] = "ft" if clear_ft else "examples" if clear_ex else None
    out["measured"] = measured
    expects = out["expects"]
    if measured["winner"] is None:
        out["outcome"] = "not settled"
    elif expects is None:
        out["outcome"] = "decided"  # the prior expected no clear winner; the data found one
    else:
        out["outcome"] = "confirmed" if measured["winner"] == expects else "overturned"
    out["text"] = _text(out)
    return out


def _points(x: float) -> str:
    return f"{x * 100:+.0f}"


def _text(ev: Mapping[str, Any]) -> str:
    """The finding in one paragraph."""
    hypothesis = (f"Hypothesis (published priors, {ev['n']} examples from {ev['n_from']}): {ev['hypothesis']}."
                  if ev["hypothesis"] else
                  "Hypothesis: none yet (say how many labeled examples you have, or measure).")
    m = ev.get("measured")
    if not m:
        return (hypothesis + f" Not measured: run an evaluation of the {ev['task']} task with the retrieved-examples "
                "and fine-tuned arms (Evaluate page) to test it on your data.")
    name = TASK_METRIC_NAMES.get(m["metric"], m["metric"])
    ci = f"fine-tuned − retrieved examples = {_points(m['mean'])} points of {name}, 95% CI {_points(m['low'])} to " \
         f"{_points(m['high'])}"
    winner = {"ft": "the fine-tuned model beat few-shot prompting with retrieved examples",
              "examples": "few-shot prompting with retrieved examples beat the fine-tuned model",
              None: "no clear difference between few-shot prompting and the fine-tuned model"}[m["winner"]]
    verdict = {"confirmed": "Your measurement confirmed the hypothesis",
               "overturned": "Your measurement overturned the hypothesis",
               "not settled": "Your measurement could not settle it",
               "decided": "Your measurement decided what the priors left open"}[ev["outcome"]]
    return f"{hypothesis} {verdict}: {winner} ({ci})."
