"""Engines: ct2 (CTranslate2 float32, the CPU default), ct2-int8 (fast, approximate) vs hf
(transformers fp32, the reference, at its best thread setting), on the demo workspace, same prompts, greedy decoding, in one process and run. hf runs each part with its
best torch thread count, measured first: one stream with the single stream's best, the four-arm
answers and the evaluation with the best for a four-arm answer.

Measured for each engine: one stream (tokens/s and first-token time, streamed through the engine
interface vs the same engine called without streaming), a four-arm Compare answer (base, rag, ft,
hybrid), and a four-arm evaluation of the demo eval set. Results: bench/results/engine.json and a
Markdown table on stdout, with each engine's fidelity from bench/results/fidelity.json (`python
-m bench.fidelity`). Run it on an idle machine; the load average is recorded with it.

    python -m bench.engine [--questions 4] [--eval-questions 40] [--max-new-tokens 96] [--repeats 3] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def raw_tokens_per_s(engine, prompt: list[int], decoding) -> float:
    """The same engine without our streaming path: one plain call, no callback, no thread."""
    start = time.perf_counter()
    if engine.name == "hf":
        import torch

        ids = torch.tensor([prompt])
        with torch.inference_mode():
            out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                        pad_token_id=engine.tokenizer.pad_token_id, **decoding.generate_kwargs())
        tokens = int(out.shape[1] - ids.shape[1])
    else:
        options = engine._decode_options(decoding)
        result = engine._generators[None].generate_batch([engine.tokenizer.convert_ids_to_tokens(prompt)], **options)
        tokens = len(result[0].sequences_ids[0])
    return tokens / (time.perf_counter() - start)


def single_stream(engine, messages, decoding, repeats: int) -> dict:
    from core.runtime.generation import ChatRow

    prompt = engine.prompt_ids(messages)
    streamed, raw, first = [], [], []
    for _ in range(repeats):  # interleaved, so both see the same machine state
        stream = engine.stream([ChatRow(messages)], decoding)
        for _piece in stream:
            pass
        stats = stream.stats[0]
        streamed.append(stats.tokens_per_s)
        first.append(stats.first_token_ms)
        raw.append(raw_tokens_per_s(engine, prompt, decoding))
    return {"streamed_tokens_per_s": statistics.median(streamed), "plain_tokens_per_s": statistics.median(raw),
            "streamed_vs_plain": statistics.median(streamed) / statistics.median(raw),
            "first_token_ms": statistics.median(first), "answer_tokens": stats.answer_tokens}


def best_hf_threads(settings, messages, decoding) -> dict:
    """hf's best torch thread count on this machine (the comparison is against hf at its best)."""
    import torch

    from core.runtime.engines import get_engine

    engine = get_engine(settings)
    prompt = engine.prompt_ids(messages)
    cores = len(os.sched_getaffinity(0))
    speeds = {}
    for threads in sorted({1, cores}):
        torch.set_num_threads(threads)
        raw_tokens_per_s(engine, prompt, decoding)  # warm
        speeds[threads] = statistics.median(raw_tokens_per_s(engine, prompt, decoding) for _ in range(2))
    best = max(speeds, key=speeds.get)
    torch.set_num_threads(best)
    return {"best": best, "tokens_per_s_by_threads": speeds}


def best_hf_batched_threads(arms, question: str) -> dict:
    """hf's best torch thread count for batched work (a four-arm answer), which can differ from
    the single stream's: the four-arm answers and the evaluation run with it."""
    import torch

    cores = len(os.sched_getaffinity(0))
    seconds = {}
    for threads in sorted({1, cores}):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        arms.answer(question)
        seconds[threads] = time.perf_counter() - start
    best = min(seconds, key=seconds.get)
    torch.set_num_threads(best)
    return {"best": best, "four_arm_answer_s_by_threads": seconds}


def measure(name: str, settings, questions, eval_set, decoding, repeats: int, batch_size: int) -> dict:
    from core.evaluation.arms import Arms, ArmSetup
    from core.evaluation.evaluate import evaluate

    out: dict = {}
    start = time.perf_counter()
    arms = Arms(ArmSetup(kb="demo", adapter="bench", decoding=decoding), settings)
    arms.warm_up()
    out["load_s"] = time.perf_counter() - start
    engine = arms.engine
    out["engine"] = engine.describe()
    if name == "hf":
        out["threads"] = best_hf_threads(settings, [{"role": "user", "content": questions[0]}], decoding)
        out["engine"] = engine.describe()
    out["single_stream"] = single_stream(engine, [{"role": "user", "content": questions[0]}], decoding, repeats)
    if name == "hf":
        out["batched_threads"] = best_hf_batched_threads(arms, questions[-1])
        out["engine"] = engine.describe()
    four = []
    for question in questions:
        start = time.perf_counter()
        arms.answer(question)
        four.append(time.perf_counter() - start)
    out["four_arm_answer_s"] = {"median": statistics.median(four), "all": four}
    start = time.perf_counter()
    report = evaluate(eval_set, arms.setup, settings=settings, batch_size=batch_size, engine=arms)
    out["evaluation"] = {"seconds": time.perf_counter() - start, "questions": report["n"],
                         "contains": {arm: v.get("contains") for arm, v in report["arms"].items()},
                         "per_question_contains": {arm: [q["scores"][arm].get("contains") for q in report["questions"]]
                                                   for arm in report["arms"]}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=4, help="four-arm answers timed (median)")
    parser.add_argument("--eval-questions", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3, help="single-stream runs (median)")
    parser.add_argument("--batch-size", type=int, default=8, help="evaluation: questions generated together")
    parser.add_argument("--engines", default="hf,ct2,ct2-int8")
    parser.add_argument("--models", type=Path, default=ROOT / "data" / "models",
                        help="converted-models folder to reuse (default: this checkout's data/models)")
    args = parser.parse_args()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        cache = args.models.resolve()
        data_dir.mkdir()
        cache.mkdir(parents=True, exist_ok=True)
        os.symlink(cache, data_dir / "models")  # converted models kept between runs
        os.environ["CROSSROADS_DATA_DIR"] = str(data_dir)
        from bench.arms import make_adapter
        from core.evaluation.evalset_files import load_eval_file
        from core.evaluation.evalsets import EvalSet
        from core.knowledge.demo import load_demo_workspace
        from core.runtime.engines import close_engines
        from core.runtime.generation import Decoding
        from core.runtime.settings import get_settings

        load_demo_workspace()
        make_adapter(data_dir, "bench")
        decoding = Decoding(max_new_tokens=args.max_new_tokens)
        full = load_eval_file(ROOT / "demo" / "qa_test.jsonl")
        eval_set = EvalSet(full.name, full.items[: args.eval_questions], full.kind, full.labels)
        questions = full.questions[: args.questions]
        results = {}
        for name in args.engines.split(","):
            results[name] = measure(name, replace(get_settings(), engine=name), questions, eval_set, decoding,
                                    args.repeats, args.batch_size)
        close_engines()

    result = {
        "benchmark": "engines: ct2 float32 and ct2 int8 vs hf fp32 on the demo workspace (greedy decoding)",
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(), "device": "cpu",
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "generator": get_settings().generator,  # the model measured: other models' speed is "not measured"
        "max_new_tokens": args.max_new_tokens, "questions": len(questions), "eval_questions": len(eval_set),
        "engines": results,
    }
    if "hf" in results:
        hf = results["hf"]
        result["vs_hf"] = {name: {  # read by core.runtime.engines.fidelity.engine_speed
            "single_stream": r["single_stream"]["streamed_tokens_per_s"] / hf["single_stream"]["streamed_tokens_per_s"],
            "four_arm_answer": hf["four_arm_answer_s"]["median"] / r["four_arm_answer_s"]["median"],
            "evaluation": hf["evaluation"]["seconds"] / r["evaluation"]["seconds"],
        } for name, r in results.items() if name != "hf"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(result, indent=2))

    print(f"load average before {load_before[0]:.2f}, after {result['machine']['load_average_after'][0]:.2f}")
    print("| measure | " + " | ".join(f"{n} ({r['engine']['quantization']})" for n, r in results.items()) + " |")
    print("|---|" + "---|" * len(results))
    from core.runtime.engines.fidelity import engine_fidelity
    from core.runtime.settings import BUNDLED_GENERATOR

    def fidelity(name):
        f = engine_fidelity(name, BUNDLED_GENERATOR)
        if name == "hf" or not f["measured"]:
            return "reference" if name == "hf" else "not measured"
        return f"{f['identical']:.0%} identical, {'faithful' if f['faithful'] else 'not faithful'}"

    rows = [
        ("fidelity to hf fp32 (bench/fidelity.py)", lambda r: fidelity(r["name"])),
        ("one stream, tokens/s (streamed)", lambda r: f"{r['single_stream']['streamed_tokens_per_s']:.1f}"),
        ("one stream, tokens/s (no streaming)", lambda r: f"{r['single_stream']['plain_tokens_per_s']:.1f}"),
        ("streamed / not streamed", lambda r: f"{r['single_stream']['streamed_vs_plain']:.2f}x"),
        ("first token", lambda r: f"{r['single_stream']['first_token_ms']:.0f} ms"),
        (f"four-arm answer, median of {len(questions)}", lambda r: f"{r['four_arm_answer_s']['median']:.2f} s"),
        (f"four-arm evaluation, {len(eval_set)} questions", lambda r: f"{r['evaluation']['seconds']:.1f} s"),
    ]
    for name, r in results.items():
        r["name"] = name
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results.values()) + " |")
    if "hf" in results:
        hf = results["hf"]
        print(f"hf torch threads: {hf['threads']['best']} for one stream, {hf['batched_threads']['best']} for batched work")
    for name, ratios in result.get("vs_hf", {}).items():
        print(f"{name} vs hf: one stream {ratios['single_stream']:.2f}x, four-arm answer {ratios['four_arm_answer']:.2f}x, "
              f"evaluation {ratios['evaluation']:.2f}x")


if __name__ == "__main__":
    main()
