"""Build the task demo files from their hand-written sources (demo/sources/tasks/).

    .venv/bin/python demo/make_task_demo.py

reviews.txt: `label|sentence` lines (product reviews: positive / neutral / negative) ->
    reviews_train.csv, reviews_test.csv (text,label; a seeded split stratified by label)
tickets.txt: support-ticket sentences with entities marked inline as [words](TYPE) (PRODUCT,
    DATE, ORDER_ID) -> tickets_entities_train.jsonl, tickets_entities_test.jsonl
    ({"text", "entities": [{"text", "type"}]}; a seeded split)
Everything is invented (the products are Brindlemoor's, see README.md).
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources" / "tasks"
TEST_SHARE = 0.25
MARK = re.compile(r"\[([^\]]+)\]\(([A-Z_]+)\)")


def split(items: list, seed: int, key=lambda x: None) -> tuple[list, list]:
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    train, test = [], []
    for name in sorted(groups, key=str):
        group = groups[name]
        random.Random(f"{seed}-{name}").shuffle(group)
        n_test = round(len(group) * TEST_SHARE)
        test += group[:n_test]
        train += group[n_test:]
    random.Random(seed).shuffle(train)
    random.Random(seed + 1).shuffle(test)
    return train, test


def reviews() -> None:
    rows = [line.split("|", 1) for line in (SOURCES / "reviews.txt").read_text(encoding="utf-8").splitlines() if line]
    train, test = split([(text.strip(), label.strip()) for label, text in rows], 27, key=lambda r: r[1])
    for name, part in (("reviews_train.csv", train), ("reviews_test.csv", test)):
        with (HERE / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(part)


def parse_ticket(line: str) -> dict:
    entities = [{"text": m.group(1), "type": m.group(2)} for m in MARK.finditer(line)]
    return {"text": MARK.sub(lambda m: m.group(1), line), "entities": entities}


def tickets() -> None:
    lines = [ln for ln in (SOURCES / "tickets.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    train, test = split([parse_ticket(ln) for ln in lines], 27)
    for name, part in (("tickets_entities_train.jsonl", train), ("tickets_entities_test.jsonl", test)):
        (HERE / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")


if __name__ == "__main__":
    reviews()
    tickets()
