"""Blind review: a person grades every answer of a report, unlabelled and shuffled.

Automatic answer metrics disagree with each other (core/evaluation/disagreement.py) and with
people; on the user's own data the user's grades are the ground truth. The answers of all arms are
shown one at a time, question by question in a shuffled order, each question's answers shuffled
too, with no arm name: correct / partly / wrong (1 / ½ / 0). Each grade is written into the report
file at once, so a review survives a reload and resumes at the first ungraded answer. When every
answer is graded, the grades become the metric "human" with the same paired-bootstrap CIs, the
verdict is rebuilt on it (and says so), and the agreement of each automatic metric with the grades
is stored: it tells the user which metric to trust on their data.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime

from core.evaluation import metrics
from core.evaluation.verdict import build_verdict

GRADES = {"correct": 1.0, "partly": 0.5, "wrong": 0.0}
AUTOMATIC = ("contains", "contains_concise", "exact_match", "f1")
PAIRS = (("rag", "base"), ("ft", "base"), ("hybrid", "base"), ("rag", "ft"), ("hybrid", "rag"), ("hybrid", "ft"))


def _seed(report: dict) -> int:
    return int(hashlib.sha256(str(report.get("id", "")).encode()).hexdigest()[:8], 16)


def order(report: dict) -> list[tuple[int, str]]:
    """(question index, arm) in review order: questions shuffled, each question's answers shuffled."""
    rng = random.Random(_seed(report))
    questions = list(range(len(report.get("questions") or [])))
    rng.shuffle(questions)
    out = []
    for i in questions:
        arms = sorted(report["questions"][i].get("answers") or {})
        rng.shuffle(arms)
        out += [(i, arm) for arm in arms]
    return out


def key(i: int, arm: str) -> str:
    return f"{i}:{arm}"


def state(report: dict) -> dict:
    """{"total", "graded", "next": (i, arm) or None, "position": index of next within its question, ...}."""
    grades = (report.get("review") or {}).get("grades") or {}
    items = order(report)
    pending = [(n, item) for n, item in enumerate(items) if key(*item) not in grades]
    nxt = pending[0] if pending else None
    within = None
    if nxt:
        same = [it for it in items if it[0] == nxt[1][0]]
        within = (same.index(nxt[1]) + 1, len(same))
    return {"total": len(items), "graded": len(items) - len(pending), "next": nxt[1] if nxt else None,
            "within": within, "complete": not pending and bool(items)}


def grade(report: dict, i: int, arm: str, value: str) -> dict:
    """Record one grade (and, once every answer is graded, the human metric); returns the report."""
    if value not in GRADES:
        raise ValueError(f"grade must be one of {', '.join(GRADES)}")
    if arm not in (report["questions"][i].get("answers") or {}):
        raise ValueError(f"question {i} has no answer of {arm}")
    review = report.setdefault("review", {"started": datetime.now(UTC).isoformat(timespec="seconds"), "grades": {}})
    review["grades"][key(i, arm)] = value
    if state(report)["complete"]:
        review["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        apply(report)
    return report


def apply(report: dict) -> None:
    """The grades as the metric "human": per answer, per arm, paired CIs, agreement; verdict rebuilt."""
    grades = report["review"]["grades"]
    arms = list(report.get("arms") or {})
    for i, q in enumerate(report["questions"]):
        for arm in q.get("answers") or {}:
            q["scores"][arm]["human"] = GRADES[grades[key(i, arm)]]
    for arm in arms:
        values = [q["scores"][arm]["human"] for q in report["questions"] if arm in q["scores"]]
        report["arms"][arm]["human"] = metrics.mean(values)
        report["arms"][arm].setdefault("ci", {})["human"] = list(metrics.bootstrap_ci(values))
    for a, b in PAIRS:
        if a in arms and b in arms:
            pair = [(q["scores"][a]["human"], q["scores"][b]["human"]) for q in report["questions"]
                    if a in q["scores"] and b in q["scores"]]
            report.setdefault("deltas", {}).setdefault(f"{a}-{b}", {})["human"] = list(
                metrics.paired_bootstrap_ci([x for x, _ in pair], [y for _, y in pair]))
    report["review"]["agreement"] = agreement(report)
    for k in ("verdict", "verdict_metric"):
        report.pop(k, None)
    verdict = build_verdict(report)
    report["verdict"], report["verdict_metric"] = verdict["verdict"], verdict["verdict_metric"]


def agreement(report: dict) -> dict:
    """Per automatic metric: the share of answers on which it agrees with the grades.

    A metric's score counts as "right" at 0.5 or more (F1 included); a "partly" grade agrees half
    with either reading, so agreement = mean(1 - |grade - right|).
    """
    # A seed group's fine-tuned arms score the mean over seeds but show the first seed's answer:
    # the grade and the score would not be about the same text, so those arms are left out here.
    seeded = {arm for arm, v in (report.get("arms") or {}).items() if (v or {}).get("seeds")}
    out = {}
    for m in AUTOMATIC:
        pairs = [(s["human"], float(s[m] >= 0.5)) for q in report["questions"] for arm, s in q["scores"].items()
                 if arm not in seeded and "human" in s and s.get(m) is not None]
        if pairs:
            out[m] = {"agreement": sum(1 - abs(h - a) for h, a in pairs) / len(pairs), "n": len(pairs)}
    return out


def best_agreeing(report: dict) -> tuple[str, float] | None:
    found = ((report.get("review") or {}).get("agreement") or {})
    if not found:
        return None
    m = max(found, key=lambda k: (found[k]["agreement"], k == "contains_concise"))
    return m, found[m]["agreement"]


def record(report_id: str, i: int, arm: str, value: str, settings=None) -> dict:
    """Grade one answer of a saved report and save it at once (a reload resumes after it)."""
    from core.evaluation.evaluate import load_report, save_report

    report = grade(load_report(report_id, settings), i, arm, value)
    save_report(report, settings)
    return report
