"""How well a freshly trained adapter reproduces a few of its own training answers.

A run that cannot reproduce what it was trained on was too short (or its learning rate too low);
one that reproduces them but does no better on new questions shows what fine-tuning can and cannot
do. Stored in the adapter's meta.json as `train_recall` and shown on the page and in the CLI JSON,
so "fine-tuning doesn't work" and "this run was too short" can be told apart.

This runs inside the training worker on the live PEFT model, before it is published: there is no
served adapter to ask yet, so it decodes greedily with `model.generate` (the same chat template
and prompt format as inference, core/training/chat_format.py).
"""

from __future__ import annotations

import random

RECALL_ROWS = 8
EXAMPLES_KEPT = 4


def normalize(text: str) -> str:
    return " ".join(text.lower().strip().rstrip(".").split())


def recalled(answer: str, target: str, is_label: bool) -> bool:
    """A label is recalled when the answer starts with it; an answer when it contains the target."""
    answer, target = normalize(answer), normalize(target)
    return answer.startswith(target) if is_label else bool(target) and target in answer


def measure_train_recall(model, tokenizer, rows, labels=(), seed: int = 42, n: int = RECALL_ROWS) -> dict:
    """{rows, recalled, share, examples}: greedy answers to up to `n` seeded training rows."""
    import torch

    from core.runtime.generation import chat_text
    from core.training.chat_format import chat_messages

    picked = sorted(random.Random(seed).sample(list(rows), min(n, len(rows))), key=lambda r: r.number)
    if not picked:
        return {"rows": 0, "recalled": 0, "share": None, "examples": []}
    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        texts = [chat_text(tokenizer, chat_messages(r, labels))
                 for r in picked]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        longest = max(len(tokenizer(r.target, add_special_tokens=False)["input_ids"]) for r in picked)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=min(96, longest + 8), do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None)
        answers = [tokenizer.decode(row, skip_special_tokens=True).strip() for row in out[:, enc["input_ids"].shape[1]:]]
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    is_label = bool(labels)
    hits = [recalled(a, r.target, is_label) for a, r in zip(answers, picked, strict=True)]
    examples = [{"row": r.number, "prompt": r.prompt[:200], "target": r.target[:200], "answer": a[:200], "recalled": h}
                for r, a, h in zip(picked, answers, hits, strict=True)][:EXAMPLES_KEPT]
    return {"rows": len(picked), "recalled": sum(hits), "share": round(sum(hits) / len(picked), 3),
            "examples": examples}
