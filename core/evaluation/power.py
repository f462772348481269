"""How many questions are enough: the smallest paired difference an evaluation can detect.

Two arms answer the same questions, so what matters is the spread of the per-question paired
differences d = score_a - score_b. With n questions, a two-sided test at level alpha has the
wanted power against a true mean difference of

    MDE = (z_{1 - alpha/2} + z_{power}) * sd(d) / sqrt(n)

(the normal approximation the paired bootstrap also relies on), and a difference delta needs
n = ((z_{1 - alpha/2} + z_{power}) * sd(d) / delta)^2 questions. Before anything is measured the
spread is assumed: for a 0/1 metric, d is +-1 on the questions where the arms disagree and 0
elsewhere, so sd(d) = sqrt(q - delta^2) with q the share of discordant questions; two arms that
are each right half the time, independently, disagree on q = 0.5 of the questions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.80
TARGET = 0.10  # the difference whose sample size every report states ("10 points")
EQUIVALENCE = 0.05  # "within +-5 points" only when the whole CI lies inside this margin
# With zero spread (identical scores on every question) the CI is [0, 0] at any n; the rule of three
# (95% upper bound 3/n on the share that differs) needs n > 3 / 0.05 = 60 for the +-5 point claim.
ZERO_SPREAD_N = round(3 / EQUIVALENCE)
ASSUMED_DISCORDANCE = 0.5  # two 50%-right arms answering independently disagree on half the questions


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    """z_{1-alpha/2} + z_{power} (2.80 for alpha 0.05, power 0.8)."""
    return NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)


def mde(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Smallest true mean difference detected with the given power (None without questions)."""
    if n < 1:
        return None
    return z_sum(alpha, power) * sd / math.sqrt(n)


def n_needed(sd: float, effect: float = TARGET, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Questions needed to detect `effect` (None when the effect is 0)."""
    if effect == 0:
        return None
    return max(2, math.ceil((z_sum(alpha, power) * sd / abs(effect)) ** 2))


def assumed_sd(discordance: float = ASSUMED_DISCORDANCE) -> float:
    """sd of paired 0/1 differences with no true difference and this share of discordant questions."""
    return math.sqrt(discordance)


def paired_sd(a: Sequence, b: Sequence) -> float | None:
    """Sample sd of the per-question differences (pairs with a missing score dropped)."""
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return statistics.stdev(diffs) if len(diffs) >= 2 else None


def plan(n: int, sd: float | None = None, basis: str | None = None) -> dict:
    """What `n` questions can show: {"n", "sd", "basis", "mde", "n_for_10_points", ...}."""
    if sd is None:
        sd, basis = assumed_sd(), (f"assumed: a 0/1 metric where the arms disagree on "
                                   f"{ASSUMED_DISCORDANCE:.0%} of the questions")
    return {"n": n, "sd": round(sd, 4), "basis": basis, "alpha": ALPHA, "power": POWER,
            "mde": None if n < 1 else round(mde(sd, n), 4), "n_for_10_points": n_needed(sd, TARGET)}


def observed(report: dict, metric: str, pairs: Sequence[tuple[str, str]]) -> dict:
    """Per compared pair: the measured sd of the paired differences, the MDE and the n for 10 points."""
    rows = [q.get("scores") or {} for q in report.get("questions") or []]
    out = {}
    for a, b in pairs:
        both = [(r[a].get(metric), r[b].get(metric)) for r in rows if a in r and b in r]
        sd = paired_sd([x for x, _ in both], [y for _, y in both]) if both else None
        if sd is not None:
            out[f"{a}-{b}"] = plan(len(both), sd, f"measured on this report's {len(both)} questions")
    return out


def widest_sd(report: dict, metric: str, pairs: Sequence[tuple[str, str]]) -> float | None:
    """The largest measured paired sd of a report (the conservative one to plan with)."""
    sds = [p["sd"] for p in observed(report, metric, pairs).values()]
    return max(sds) if sds else None


def settle_sentence(interval: Sequence[float], sd: float | None, n: int, points_word: str = "points") -> str:
    """After a run without a clear winner: what would settle it, or that it is settled as equivalent."""
    low, diff, high = interval
    if -EQUIVALENCE < low and high < EQUIVALENCE:
        if sd or n > ZERO_SPREAD_N:
            return f"the two are equivalent within ±{EQUIVALENCE * 100:.0f} {points_word} (the whole CI lies inside)"
        # Every question scored the same on both: the bootstrap CI is [0, 0] whatever n is. With no
        # difference in n questions, up to 3/n of a larger set may differ (the rule of three, 95%).
        return (f"both scored the same on every one of {n} questions, too few to call them equivalent: up to "
                f"{300 / max(n, 1):.0f}% of further questions could differ (rule of three); more than "
                f"{ZERO_SPREAD_N} questions with no difference would show equivalence within "
                f"±{EQUIVALENCE * 100:.0f} {points_word}")
    if sd is None or sd == 0:
        return ""
    measured = abs(diff) >= 0.01
    size = abs(diff) if measured else TARGET
    what = (f"a true difference of {size * 100:.0f} {points_word} (the size measured)" if measured
            else f"a difference of {TARGET * 100:.0f} {points_word}")
    return (f"about {n_needed(sd, size)} questions would detect {what} with 80% power; with {n} the smallest "
            f"detectable difference is {mde(sd, n) * 100:.0f} {points_word}")
