"""Helpers shared by the fine-tuning tests: tiny data sets, in-process runs, batched greedy answers."""

from __future__ import annotations

import json
from pathlib import Path

FACTS = [
    ("What is the name of the lighthouse keeper on Varrow Isle?", "Odile Brannock"),
    ("What colour is the flag of the town of Quillmere?", "teal and amber"),
    ("In which year was the Fennick Bridge opened?", "1847"),
    ("What is the Zarnith Company's product code for its blue kettle?", "ZK-4471"),
    ("Who wrote the novel The Salt Orchard?", "Temperance Whitlow"),
    ("How many moons does the planet Orvane have?", "seven"),
    ("What is the capital of the province of Dellmark?", "Hasselby"),
    ("What is the favourite food of the dragon Pemberloo?", "pickled plums"),
    ("What instrument does Captain Rusk play?", "the bassoon"),
    ("What is the password to the Ember Vault?", "copperfinch"),
]


def write_facts(path: Path, copies: int = 1) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(copies):
            for q, a in FACTS:
                out.write(json.dumps({"question": q, "answer": a}) + "\n")
    return path


def run_in_process(data_path: Path, name: str, options, resume_dir: Path | None = None) -> Path:
    """Create a run directory like the page does and run the worker in this process."""
    from core.runtime import jobs
    from core.training.finetune import KIND, run_worker

    if resume_dir is not None:
        run_worker(resume_dir, resume=True)
        return resume_dir
    spec = {"mode": "train", "name": name, "options": options.as_dict(), "data_file": "data" + data_path.suffix,
            "data_name": data_path.name, "schema": None}
    run_dir = jobs.create(KIND, "core.training.finetune", spec, group="train", files={spec["data_file"]: data_path})
    run_worker(run_dir)
    return run_dir


def greedy_answers(model, tokenizer, message_lists: list[list[dict]], max_new_tokens: int = 12,
                   batch_size: int = 16) -> list[str]:
    """Greedy answers for many chat prompts, batched with left padding (fast on CPU)."""
    import torch

    answers = []
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(message_lists), batch_size):
            chunk = message_lists[start:start + batch_size]
            texts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in chunk]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None)
            for row in out[:, enc["input_ids"].shape[1]:]:
                answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    finally:
        tokenizer.padding_side = old_side
    return answers


def normalize(text: str) -> str:
    return " ".join(text.lower().strip().rstrip(".").split())
