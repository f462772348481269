"""Evaluating a seed group: every member answers, the fine-tuned arms are reported across seeds.

A seed group (core/training/seeds.py) is N adapters that differ only in seed. `evaluate_group` runs
the arms that need no adapter once and the adapter arms once per member, then merges: an adapter
arm's per-question score is its mean over the seeds, its summary is the mean ± spread (sample sd)
of the members' means, and every comparison involving it gets a hierarchical-bootstrap CI that
resamples seeds, then questions (`hierarchical_ci`). A question-only CI on the seed means would
ignore that another training run could have landed elsewhere; both are stored so a reader sees
how much wider the honest interval is.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from core.evaluation import metrics
from core.evaluation.arms import ADAPTER_ARMS, ArmSetup
from core.evaluation.disagreement import METRIC_WORDS

_BLOCK = 4_000_000  # floats per block of resamples (bounds memory)


def hierarchical_ci(a: np.ndarray, b: np.ndarray, n_resamples: int = 2000, confidence: float = 0.95,
                    seed: int = 0) -> tuple[float, float, float]:
    """CI of mean(a) - mean(b), resampling seeds (rows) then questions (columns): (low, mean, high).

    `a`, `b`: (seeds, questions) arrays; an arm without seeds is one row. When both have several
    rows they are the same adapters (ft and hybrid of one member), so their seeds are drawn together.
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise ValueError("both arms need scores on the same questions")
    joint = a.shape[0] > 1 and b.shape[0] == a.shape[0]
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    rows = max(1, _BLOCK // (n * max(a.shape[0], b.shape[0])))
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, rows):
        r = min(n_resamples, start + rows) - start
        questions = rng.integers(0, n, size=(r, n))
        seeds_a = rng.integers(0, a.shape[0], size=(r, a.shape[0]))
        seeds_b = seeds_a if joint else rng.integers(0, b.shape[0], size=(r, b.shape[0]))
        mean_a = a[seeds_a].mean(axis=1)  # (r, n): per-question mean over the drawn seeds
        mean_b = b[seeds_b].mean(axis=1)
        diff = mean_a - mean_b
        out[start:start + r] = np.take_along_axis(diff, questions, axis=1).mean(axis=1)
    observed = float(a.mean() - b.mean())
    alpha = (1 - confidence) / 2
    low, high = np.quantile(out, [alpha, 1 - alpha])
    return float(min(low, observed)), observed, float(max(high, observed))


def _matrix(reports: Sequence[dict], arm: str, metric: str, n: int) -> np.ndarray:
    return np.array([[q["scores"][arm][metric] for q in r["questions"][:n]] for r in reports], dtype=float)


def merge(first: dict, members: Sequence[dict], names: Sequence[str], metric_names: Sequence[str],
          pairs: Sequence[tuple[str, str]]) -> dict:
    """One report from the first run (every arm) and one per member (its adapter arms)."""
    n = min(r["n"] for r in [first, *members])
    report = {**first, "n": n, "questions": [dict(q) for q in first["questions"][:n]]}
    adapter_arms = [a for a in first["arms"] if a in ADAPTER_ARMS]
    seeds = {}
    for arm in adapter_arms:
        per = {name: {m: r["arms"][arm].get(m) for m in metric_names} for name, r in zip(names, members, strict=True)}
        spread = {m: statistics.stdev([p[m] for p in per.values()]) if len(per) > 1 else 0.0 for m in metric_names}
        summary = dict(first["arms"][arm])
        for m in metric_names:
            summary[m] = metrics.mean(p[m] for p in per.values())
        summary["answer_tokens_mean"] = metrics.mean(r["arms"][arm].get("answer_tokens_mean") for r in members)
        summary["seeds"], summary["seed_sd"] = per, spread
        zero = np.zeros((1, n))  # the arm's own CI (the chart's error bars) resamples seeds too
        summary["ci"] = {m: list(hierarchical_ci(_matrix(members, arm, m, n), zero)) for m in metric_names}
        report["arms"] = {**report["arms"], arm: summary}
        seeds[arm] = {"members": list(names), "mean": {m: summary[m] for m in metric_names}, "sd": spread}
        for i, q in enumerate(report["questions"]):
            scores = [r["questions"][i]["scores"][arm] for r in members]
            q["scores"] = {**q["scores"], arm: {m: metrics.mean(s[m] for s in scores) for m in metric_names}}
            q["seed_answers"] = {**q.get("seed_answers", {}),
                                 arm: {name: r["questions"][i]["answers"][arm] for name, r in zip(names, members, strict=True)}}
    deltas, question_only = {}, {}
    for a, b in pairs:
        if a not in report["arms"] or b not in report["arms"]:
            continue
        deltas[f"{a}-{b}"], question_only[f"{a}-{b}"] = {}, {}
        for m in metric_names:
            ma = _matrix(members if a in adapter_arms else [first], a, m, n)
            mb = _matrix(members if b in adapter_arms else [first], b, m, n)
            deltas[f"{a}-{b}"][m] = list(hierarchical_ci(ma, mb))
            question_only[f"{a}-{b}"][m] = list(metrics.paired_bootstrap_ci(ma.mean(0).tolist(), mb.mean(0).tolist()))
    report["deltas"] = deltas
    report["seeds"] = {"group": names, "arms": seeds, "deltas_questions_only": question_only,
                       "ci": "hierarchical bootstrap: seeds, then questions; 2000 resamples, 95%"}
    report["meta"] = {**first.get("meta", {}), "ci": "paired bootstrap, 2000 resamples, 95% (seeds resampled too "
                                                      "for the fine-tuned arms)"}
    return report


def evaluate_group(eval_set, setup: ArmSetup, group: dict, *, run: Callable, on_progress=None, should_stop=None,
                   **kwargs) -> dict:
    """`run(eval_set, setup, **kw)` is core.evaluation.evaluate.evaluate (passed in: it imports this module)."""
    from core.evaluation import planning
    from core.evaluation.evaluate import (
        DELTA_PAIRS,
        LABEL_METRICS,
        QA_METRICS,
        EvaluationStopped,
        Progress,
    )
    from core.evaluation.verdict import build_verdict

    members = list(group["members"])
    adapter_arms = tuple(a for a in setup.arms if a in ADAPTER_ARMS)
    runs = [replace(setup, adapter=members[0])] + [replace(setup, arms=adapter_arms, adapter=m) for m in members[1:]]
    total = len(eval_set) * len(runs)
    reports = []
    size = len(eval_set)
    for i, member_setup in enumerate(runs):
        def progress(p, offset=i * size) -> None:  # one bar over every member's run
            if on_progress:
                on_progress(Progress(offset + p.done, total, p.elapsed_s))

        try:
            reports.append(run(eval_set, member_setup, on_progress=progress, should_stop=should_stop, **kwargs))
        except EvaluationStopped:
            if not reports:
                raise  # nothing answered at all: nothing to report
            break
        if reports[-1]["partial"]:
            break
    first = reports[0]
    if len(reports) < len(runs) or not adapter_arms:  # stopped before every seed answered: one seed, said so
        first["seeds"] = {"group": members, "note": "stopped before every seed answered: the fine-tuned arms "
                                                    f"are {members[0]} alone"}
        first["partial"], first["complete"] = True, False  # never preselected as the group's result
        for key in ("verdict", "verdict_metric"):
            first.pop(key, None)
        return build_verdict(first) | first
    metric_names = LABEL_METRICS if eval_set.kind == "label" else QA_METRICS
    merged = merge(first, reports, members, metric_names, (*DELTA_PAIRS, ("hybrid", "ft")))
    merged["setup"] = {**merged.get("setup", {}), "adapter": group["name"], "seed_group": members}
    merged["meta"] = {**merged["meta"], "adapter": group["name"],
                      "seconds": round(sum(r["meta"]["seconds"] for r in reports), 2),
                      "answers_per_question": sum(len(r["arms"]) for r in reports)}  # for the next estimate
    merged["complete"] = all(r["complete"] for r in reports)
    merged["partial"] = not merged["complete"]
    for key in ("verdict", "verdict_metric"):
        merged.pop(key, None)
    verdict = build_verdict(merged)
    merged["power"] = {**merged.get("power", {}), "observed": planning.after_run(merged, verdict["verdict_metric"])}
    return verdict | merged


def seed_lines(report: dict, title: Callable[[str], str]) -> list[str]:
    """Each fine-tuned arm as mean ± spread across seeds, per metric, and how much the CIs widened."""
    seeds = report.get("seeds") or {}
    lines = []
    for arm, info in (seeds.get("arms") or {}).items():
        parts = [f"{METRIC_WORDS.get(m, m)} {info['mean'][m]:.2f} ± {info['sd'][m]:.2f}" for m in info["mean"]
                 if info["mean"][m] is not None and m in ("contains", "contains_concise", "f1", "exact_match", "accuracy")]
        per = (report["arms"][arm].get("seeds") or {})
        lines.append(f"{title(arm)}: mean ± sd across {len(info['members'])} seeds: {', '.join(parts)} "
                     f"(members {', '.join(per)}).")
    for pair, by_metric in (seeds.get("deltas_questions_only") or {}).items():
        a, b = pair.split("-", 1)
        if not (set((a, b)) & set(seeds.get("arms") or {})):
            continue
        for m, q_ci in by_metric.items():
            h_ci = (report.get("deltas") or {}).get(pair, {}).get(m)
            if h_ci and m == report.get("verdict_metric"):
                lines.append(f"{title(a)} − {title(b)} on {METRIC_WORDS.get(m, m)}: 95% CI with seeds resampled "
                             f"[{h_ci[0]:+.2f}, {h_ci[2]:+.2f}], questions only [{q_ci[0]:+.2f}, {q_ci[2]:+.2f}].")
    return lines


def verdict_sentence(report: dict, metric: str, names: dict) -> str:
    """How big the seed noise was, and which differences did not survive it (the verdict's last words)."""
    seeds = report.get("seeds") or {}
    if seeds.get("note"):
        return f"Seed group {', '.join(seeds.get('group') or [])}: {seeds['note']}."
    arms = seeds.get("arms") or {}
    if not arms:
        return ""
    spread = "; ".join(f"{names[a]}: {info['mean'][metric] * 100:.0f}% ± {info['sd'][metric] * 100:.0f} points"
                       for a, info in arms.items() if info["mean"].get(metric) is not None)
    k = len(next(iter(arms.values()))["members"])
    text = (f"The fine-tuned arms are the mean of {k} training seeds ({spread} across seeds); their "
            "intervals resample seeds as well as questions.")
    lost = []
    for pair, by_metric in (seeds.get("deltas_questions_only") or {}).items():
        q_ci, h_ci = by_metric.get(metric), ((report.get("deltas") or {}).get(pair) or {}).get(metric)
        if not q_ci or not h_ci:
            continue
        clear_q, clear_h = q_ci[0] > 0 or q_ci[2] < 0, h_ci[0] > 0 or h_ci[2] < 0
        if clear_q and not clear_h:
            a, b = pair.split("-", 1)
            lost.append(f"{names[a]} vs {names[b]} ({h_ci[1] * 100:+.0f} points) is clear on these questions "
                        f"alone (95% CI {q_ci[0] * 100:+.0f} to {q_ci[2] * 100:+.0f}) but not once seeds are "
                        f"resampled ({h_ci[0] * 100:+.0f} to {h_ci[2] * 100:+.0f})")
    if lost:
        text += " Within the seed noise: " + "; ".join(lost) + "."
    return text
