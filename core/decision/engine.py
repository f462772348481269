"""The recommendation engine: answers (+ an optional evaluation report) -> a record.

Pure functions only: no file or network I/O, no Streamlit. What it believes is data
(core.decision.questions, core.decision.rules); this module only combines it.

How a recommendation is made
1. Answers are checked and normalised (`normalize_answers`); an unanswered question is neutral.
2. Derived factors are computed (labeled-example band, corpus vs context window, RAFT readiness).
3. Each answered factor adds its weights to the four options (the *prior* scores).
4. Gates remove options outright (e.g. citations required -> no pure fine-tune). Gates beat scores.
5. The best allowed option by prior score is the prior choice.
6. If an evaluation report is given, every pairwise difference whose confidence interval excludes
   zero is a *clear* measurement. If an allowed option clearly beats the prior choice, the
   measurement overrides the prior and the record says so. Unclear differences never override.
7. Confidence comes from the score margin, how many questions were answered, gates and evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.decision.answers import AnswerError, factor_values, fired_gates, normalize_answers
from core.decision.evidence import (
    choose_metric,
    describe_comparison,
    hybrid_is_raft,
    read_comparisons,
    report_models,
)
from core.decision.next_steps import next_steps
from core.decision.questions import (
    ARM_TO_OPTION,
    OPTION_LABELS,
    OPTIONS,
    QUESTION_BY_ID,
    QUESTIONS,
    TIE_ORDER,
)
from core.decision.rules import CLOSE_CALL_MARGIN, FACTOR_ORDER, GATES, RULES, Effect
from core.decision.task_evidence import task_evidence


# --------------------------------------------------------------------------------------------
# The recommendation
# --------------------------------------------------------------------------------------------
def _rank(options: list[str], scores: Mapping[str, float]) -> list[str]:
    return sorted(options, key=lambda o: (-scores[o], TIE_ORDER.index(o)))


def confidence_reading(confidence: float) -> str:
    if confidence >= 0.85:
        return "high: the answers and evidence point one way"
    if confidence >= 0.7:
        return "moderate: a clear lean, worth confirming with a measurement"
    if confidence >= 0.6:
        return "low: a lean, not a verdict; measure both on your data"
    return "a toss-up: measure the top options on your own data before deciding"


def runner_up_gap(margin: float | None, overridden: bool = False) -> str:
    """The runner-up's distance in words: prior scores are sums of rule weights, not a percentage."""
    if overridden:
        return "a clear measurement decided, so the prior-score gap does not apply"
    if margin is None:
        return "the gates left no other option"
    return (f"{margin:.1f} prior-score points behind (a score is the sum of your answers' rule weights, "
            f"one strong rule is worth 2-3; under {CLOSE_CALL_MARGIN:g} is a close call)")


def recommend(
    answers: Mapping[str, Any],
    evidence: Mapping[str, Any] | None = None,
    *,
    evidence_id: str | None = None,
    assets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Answers (+ an optional evaluation report) -> the recommendation record (JSON-ready).

    `assets` is what the workspace already holds ({"kbs": [...], "adapters": [{"name", "mode"}],
    "reports": count}): next steps do not ask for what exists.
    """
    a, notes = normalize_answers(answers)
    has_evidence = bool(evidence and evidence.get("deltas"))
    models = report_models(evidence)
    if len(models) > 1:  # one recommendation is about one base model: never weigh two together
        has_evidence = False
        notes.append(f"The evaluation report mixes answers of {len(models)} base models ({', '.join(models)}), so its "
                     "measurements were not used: evaluate each model on its own and read each report separately.")
    factors = factor_values(a)

    # 1. prior scores
    scores = {o: 0.0 for o in OPTIONS}
    applied: list[tuple[str, str, Effect]] = []
    for factor in FACTOR_ORDER:
        value = factors.get(factor)
        effect = RULES[factor].get(value) if value is not None else None
        if effect is None:
            continue
        applied.append((factor, value, effect))
        for option, w in effect.weights:
            scores[option] += w

    # 2. gates
    fired = fired_gates(a, has_evidence)
    blocked: dict[str, list[str]] = {}
    for gid in fired:
        for o in GATES[gid].blocks:
            blocked.setdefault(o, []).append(gid)
    allowed = [o for o in OPTIONS if o not in blocked]  # "rag" is never blocked
    ranking = _rank(allowed, scores)
    prior_choice = ranking[0]
    unblocked_top = _rank(list(OPTIONS), scores)[0]

    # 3. evidence
    metric, metric_why = choose_metric(evidence, a.get("task")) if has_evidence else (None, None)
    comparisons = read_comparisons(evidence, metric) if metric else []
    n = evidence.get("n") if evidence else None
    # Two arms of one option (a task's base and retrieved-examples arms are both prompting) say
    # nothing about which option wins.
    clear = [c for c in comparisons if c["clear"] and ARM_TO_OPTION[c["a"]] != ARM_TO_OPTION[c["b"]]]
    net_wins = {o: 0 for o in OPTIONS}
    for c in clear:
        net_wins[ARM_TO_OPTION[c["winner"]]] += 1
        net_wins[ARM_TO_OPTION[c["loser"]]] -= 1

    def beaten_by(o: str) -> list[dict[str, Any]]:
        return [
            c for c in clear
            if ARM_TO_OPTION[c["loser"]] == o and ARM_TO_OPTION[c["winner"]] in allowed
        ]

    choice = prior_choice
    overrides: list[dict[str, Any]] = []
    if beaten_by(prior_choice):
        candidates = [o for o in allowed if not beaten_by(o)]
        if candidates:
            choice = sorted(
                candidates, key=lambda o: (-net_wins[o], -scores[o], TIE_ORDER.index(o))
            )[0]
            against = beaten_by(prior_choice)
            overrides.append({
                "prior_choice": prior_choice,
                "choice": choice,
                "text": (
                    f"Your answers pointed to {OPTION_LABELS[prior_choice]}, but the measurement "
                    f"is clear: {describe_comparison(against[0], n).removeprefix('Measured: ')}"
                ),
                "source": "your evaluation report" + (f" {evidence_id}" if evidence_id else ""),
            })

    # 4. reasons (top first)
    ev_source = "your evaluation report" + (f" {evidence_id}" if evidence_id else "")
    reasons: list[dict[str, Any]] = []
    for c in comparisons:
        involved = {ARM_TO_OPTION[c["a"]], ARM_TO_OPTION[c["b"]]}
        if choice not in involved and not overrides:
            continue
        support = 0.0  # a comparison not involving the choice neither supports nor opposes it
        if c in clear and ARM_TO_OPTION[c["winner"]] == choice:
            support = 100.0
        elif c in clear and ARM_TO_OPTION[c["loser"]] == choice:
            support = -100.0
        reasons.append({
            "factor": "measured", "answer": c["pair"], "text": describe_comparison(c, n), "source": ev_source,
            "supports": support, "kind": "evidence",
        })
    for factor, value, effect in applied:
        w = effect.weight(choice)
        others = [effect.weight(o) for o in OPTIONS if o != choice]
        reasons.append({
            "factor": factor, "answer": value, "text": effect.text, "source": effect.source,
            "supports": w, "separation": w - max(others), "kind": "prior",
            "weights": dict(effect.weights),
        })
    order = {f: i for i, f in enumerate(FACTOR_ORDER)}
    reasons.sort(key=lambda r: (
        -r["supports"], -r.get("separation", 0), order.get(r["factor"], -1),
    ))
    for r in reasons:
        r["direction"] = "for" if r["supports"] > 0 else "against" if r["supports"] < 0 else "neutral"

    # 5. confidence
    others = [o for o in allowed if o != choice]
    margin = scores[choice] - max(scores[o] for o in others) if others else math.inf
    answered = sum(1 for q in QUESTIONS if q.id in a and q.id != "queries_per_day")
    coverage = answered / (len(QUESTIONS) - 1)
    if math.isinf(margin):
        conf = 0.85
    else:
        raw = 0.5 + 0.45 * (1 - math.exp(-max(margin, 0.0) / 3))
        conf = 0.5 + (raw - 0.5) * (0.5 + 0.5 * coverage)
    measured_clear_for_choice = [
        c for c in clear if ARM_TO_OPTION[c["winner"]] == choice
    ]
    if overrides:
        conf = max(conf, 0.8)
    elif measured_clear_for_choice and not beaten_by(choice):
        conf = max(conf, 0.9)
    conf = round(min(conf, 0.97), 2)
    close_call = bool(not math.isinf(margin) and margin < CLOSE_CALL_MARGIN and not overrides
                      and not measured_clear_for_choice)

    # RAFT: the answers say retrieval is noisy with 100+ Q&A pairs, or the measured hybrid arm
    # (trained for retrieval) is what won.
    raft_measured = has_evidence and hybrid_is_raft(evidence)
    variant = None
    if choice == "hybrid" and (factors.get("raft") == "ready" or (raft_measured and measured_clear_for_choice)):
        variant = "raft"
    if evidence and (evidence.get("partial") or evidence.get("complete") is False):
        notes.append(f"The evaluation report is partial (a cancelled run, {n} questions): its intervals are "
                     "wider than a full run's.")

    gates = [
        {"id": g, "text": GATES[g].text, "source": GATES[g].source, "blocks": list(GATES[g].blocks)}
        for g in fired
    ]
    if unblocked_top != prior_choice:
        notes.append(
            f"The scores alone favoured {OPTION_LABELS[unblocked_top]}, but a gate ruled it out."
        )

    return {
        "choice": choice,
        "choice_label": OPTION_LABELS[choice] + (" with RAFT-style training" if variant else ""),
        "variant": variant,
        "confidence": conf,
        "confidence_reading": (
            "moderate: a clear measurement decided against what your answers suggested"
            if overrides else confidence_reading(conf)
        ),
        "close_call": close_call,
        # After an override the runner-up is what the answers alone chose.
        "runner_up": prior_choice if overrides else (_rank(others, scores)[0] if others else None),
        "margin": None if overrides or math.isinf(margin) else round(margin, 2),
        "runner_up_gap": runner_up_gap(None if overrides or math.isinf(margin) else margin, bool(overrides)),
        "scores": {o: round(scores[o], 2) for o in OPTIONS},
        "allowed": allowed,
        "blocked": blocked,
        "prior_choice": prior_choice,
        "reasons": reasons,
        "gates": gates,
        "overrides": overrides,
        "evidence": {
            "used": has_evidence,
            "id": evidence_id,
            "metric": metric,
            "metric_why": metric_why,
            "raft_hybrid": raft_measured,
            "n": n,
            "model": models[0] if len(models) == 1 else None,  # the base model the measurements are about
            "models": models,
            "comparisons": comparisons,
            "net_clear_wins": net_wins if has_evidence else {},
        },
        # classification / extraction: the published priors as a hypothesis, and what was measured
        "task_evidence": task_evidence(a, evidence),
        "answers": a,
        "factors": factors,
        "answered": answered,
        "coverage": round(coverage, 2),
        "notes": notes,
        "next_steps": next_steps(choice, a, variant=variant, has_evidence=has_evidence, assets=assets,
                                 no_baseline="no_baseline" in fired),
    }


def what_if(
    answers: Mapping[str, Any], question_id: str, value: Any,
    evidence: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Change one answer and re-run: {"before", "after", "flipped"}."""
    if question_id not in QUESTION_BY_ID:
        raise AnswerError(f"unknown question id {question_id!r}")
    before = recommend(answers, evidence)
    changed = dict(answers)
    changed[question_id] = value
    after = recommend(changed, evidence)
    return {
        "question": question_id, "value": value,
        "before": before["choice"], "after": after["choice"],
        "flipped": before["choice"] != after["choice"],
        "record": after,
    }


def flips(answers: Mapping[str, Any], evidence: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every single-answer change (choice questions) that would flip the recommendation."""
    base = recommend(answers, evidence)["choice"]
    out = []
    for q in QUESTIONS:
        if q.kind != "choice":
            continue
        for value, label in q.options:
            if answers.get(q.id) == value:
                continue
            changed = dict(answers)
            changed[q.id] = value
            new = recommend(changed, evidence)["choice"]
            if new != base:
                out.append({"question": q.id, "prompt": q.prompt, "value": value, "label": label,
                            "from": answers.get(q.id), "choice": new})
    return out


