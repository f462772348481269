"""Four-arm answer on the hf engine: our batched arms vs each arm one after another with plain
`model.generate` (bench/engine.py compares the engines).

Both sides get the same questions, prompts, adapter and greedy decoding, in the same process
and run. Also: tokens/s of our streamed generator path vs plain `generate` on one prompt.
Results: bench/results/arms.json (and a Markdown table on stdout).

    python -m bench.arms [--questions 4] [--max-new-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def make_adapter(data_dir: Path, name: str) -> Path:
    """A real LoRA adapter (random weights, so its answers differ from the base model's)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from core.runtime.models import generator_path

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(generator_path()),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    target = data_dir / "adapters" / name
    model.save_pretrained(target)
    from core.runtime.settings import get_settings

    (target / "meta.json").write_text(json.dumps({"name": name, "base_model": get_settings().generator,
                                                  "data": {"kind": "qa"}}))
    return target


def plain_four_arms(peft_model, tokenizer, engine, question: str, decoding) -> float:
    """Baseline: each arm separately, its own retrieval, one plain generate() each."""
    import torch

    from core.runtime.generation import chat_input_ids

    start = time.perf_counter()
    for arm in engine.setup.arms:
        prepared = engine.prepare(question)[arm]  # retrieval per retrieval arm, as a naive app would
        ids = torch.tensor([chat_input_ids(tokenizer, prepared.messages)])
        kwargs = decoding.generate_kwargs()
        with torch.inference_mode():
            if arm in ("ft", "hybrid"):
                peft_model.base_model.set_adapter(engine.setup.adapter)
                try:
                    peft_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                        pad_token_id=tokenizer.pad_token_id, **kwargs)
                finally:
                    peft_model.base_model.set_adapter([])
            else:
                peft_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                    pad_token_id=tokenizer.pad_token_id, **kwargs)
    return time.perf_counter() - start


def ours_four_arms(engine, question: str) -> float:
    start = time.perf_counter()
    engine.answer(question)
    return time.perf_counter() - start


def single_stream_ratio(model, tokenizer, messages, decoding, repeats: int) -> dict:
    import torch

    from core.runtime.engines import get_engine
    from core.runtime.generation import ChatRow, chat_input_ids

    ours, plain = [], []
    for _ in range(repeats):
        stream = get_engine().stream([ChatRow(messages)], decoding)
        for _piece in stream:
            pass
        ours.append(stream.stats[0].answer_tokens / (stream.stats[0].total_ms / 1000))
        ids = torch.tensor([chat_input_ids(tokenizer, messages)])
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 pad_token_id=tokenizer.pad_token_id, **decoding.generate_kwargs())
        plain.append((out.shape[1] - ids.shape[1]) / (time.perf_counter() - start))
    return {"ours_tokens_per_s": statistics.median(ours), "plain_tokens_per_s": statistics.median(plain),
            "ratio": statistics.median(ours) / statistics.median(plain)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        cache = ROOT / "data" / "models"
        data_dir.mkdir()
        if cache.is_dir():  # reuse this checkout's converted model when there is one
            os.symlink(cache, data_dir / "models")
        os.environ["CROSSROADS_DATA_DIR"] = str(data_dir)
        os.environ["CROSSROADS_ENGINE"] = "hf"  # this benchmark is about batching on the hf engine
        from core.evaluation.arms import Arms, ArmSetup
        from core.evaluation.evalset_files import load_eval_file
        from core.knowledge.demo import load_demo_workspace
        from core.runtime.generation import Decoding

        load_demo_workspace()
        make_adapter(data_dir, "bench")
        decoding = Decoding(max_new_tokens=args.max_new_tokens)
        engine = Arms(ArmSetup(kb="demo", adapter="bench", decoding=decoding))
        questions = load_eval_file(ROOT / "demo" / "qa_test.jsonl").questions[: args.questions]
        ours_four_arms(engine, questions[0])  # warm-up both paths once
        plain_four_arms(engine.engine.model, engine.tokenizer, engine, questions[0], decoding)
        ours, plain = [], []
        for question in questions:  # interleaved, so both sides see the same machine state
            plain.append(plain_four_arms(engine.engine.model, engine.tokenizer, engine, question, decoding))
            ours.append(ours_four_arms(engine, question))
        single = single_stream_ratio(engine.engine.model, engine.tokenizer,
                                     [{"role": "user", "content": questions[0]}], decoding, repeats=3)

    result = {
        "benchmark": "four-arm answer (base, rag, ft, hybrid) for one question",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "device": "cpu"},
        "questions": len(questions), "max_new_tokens": args.max_new_tokens,
        "plain_sequential_s": {"median": statistics.median(plain), "all": plain},
        "ours_batched_s": {"median": statistics.median(ours), "all": ours},
        "speedup": statistics.median(plain) / statistics.median(ours),
        "single_prompt_generation": single,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "arms.json").write_text(json.dumps(result, indent=2))
    print("| measure | plain `generate`, arms one after another | ours (batched arms) | ratio |")
    print("|---|---|---|---|")
    print(f"| four-arm answer, median of {len(questions)} questions | {result['plain_sequential_s']['median']:.1f} s "
          f"| {result['ours_batched_s']['median']:.1f} s | {result['speedup']:.2f}x faster |")
    print(f"| one prompt, generation tokens/s | {single['plain_tokens_per_s']:.1f} | {single['ours_tokens_per_s']:.1f} "
          f"| {single['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
