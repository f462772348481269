"""Held-out splits and learning-curve shares of task rows: seeded, stratified by label."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.training.tasks import TaskRow


@dataclass(frozen=True)
class Split:
    train: list[TaskRow] = field(default_factory=list)
    held: list[TaskRow] = field(default_factory=list)


def split_rows(rows: list[TaskRow], n_held: int, seed: int = 13) -> Split:
    """A seeded split (stratified by label when there are labels): `n_held` rows held out."""
    import random

    rng = random.Random(seed)
    if n_held <= 0 or len(rows) < 2:
        return Split(list(rows), [])
    by_label: dict[str | None, list[TaskRow]] = {}
    for r in rows:
        by_label.setdefault(r.label, []).append(r)
    held: list[TaskRow] = []
    share = n_held / len(rows)
    for group in by_label.values():
        group = list(group)
        rng.shuffle(group)
        held.extend(group[: round(len(group) * share)])
    held_ids = {r.number for r in held[:n_held]}
    return Split([r for r in rows if r.number not in held_ids], [r for r in rows if r.number in held_ids])


def fraction_rows(rows: list[TaskRow], fraction: float, seed: int = 7) -> list[TaskRow]:
    """A seeded, label-stratified share of the rows (learning curves): nested as the share grows."""
    import random

    if fraction >= 1:
        return list(rows)
    by_label: dict[str | None, list[TaskRow]] = {}
    for r in rows:
        by_label.setdefault(r.label, []).append(r)
    kept: set[int] = set()
    for group in by_label.values():
        group = list(group)
        random.Random(seed).shuffle(group)  # same order at every fraction: smaller shares nest in larger
        kept.update(r.number for r in group[: max(1, round(len(group) * fraction))])
    return [r for r in rows if r.number in kept]
