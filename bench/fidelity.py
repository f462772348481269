"""Fidelity: does each engine answer like the fp32 reference (hf)? On >= 200 RAG prompts of real
passages (the demo documents, through the product's own retrieval — the top 2 chunks, to keep the fp32
reference affordable on 2 cores — and its RAG prompt), with gold
answers: the demo's 111 Q&A pairs plus fill-in-the-blank questions made by the project's own
cloze generator. Greedy decoding, 64 new tokens, the same prompts for every engine.

Per engine: the share of greedy answers identical to hf fp32, `contains` and token F1 against
the golds, and their paired difference vs hf with a paired-bootstrap 95% CI. Faithful = >= 80%
identical and both CIs within +/-3 points (core.runtime.engines.fidelity). Results:
bench/results/fidelity.json (read by reports, Compare and `core info`). Not a timing bench: the
machine's load does not change the answers.

    python -m bench.fidelity [--engines ct2,ct2-int8] [--cloze 90] [--k 2] [--max-new-tokens 64] [--limit N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def build_prompts(settings, cloze: int, k: int) -> list[dict]:
    """`{"messages", "golds", "kind"}` per prompt: the demo Q&A pairs, then cloze questions, each
    with the chunks the demo knowledge base retrieves for it (the RAG arm's prompt)."""
    from core.evaluation.evalset_files import load_eval_file
    from core.knowledge.cloze import kb_cloze_items
    from core.knowledge.demo import load_demo_workspace
    from core.knowledge.rag import rag_messages
    from core.knowledge.retrieval import kb_retrieval, retrieve

    load_demo_workspace(settings=settings)
    config = replace(kb_retrieval("demo", settings), k=k)
    pairs = []
    for name in ("qa_test.jsonl", "qa_train.jsonl"):
        eval_set = load_eval_file(ROOT / "demo" / name)
        pairs += [(item.question, list(item.golds), "qa") for item in eval_set.items]
    pairs += [(item.question, [item.answer], "cloze") for item in kb_cloze_items("demo", n=cloze, settings=settings)]
    prompts = []
    for question, golds, kind in pairs:
        hits = retrieve("demo", question, config, settings=settings)
        prompts.append({"messages": rag_messages(question, hits), "golds": golds, "kind": kind})
    return prompts


def answer_all(engine, prompts: list[dict], decoding, batch: int) -> list[str]:
    """Every prompt's greedy answer; rows of similar length batched together (hf pads them).
    Kept under data/ keyed by the prompts and decoding, so an interrupted run resumes."""
    from core.runtime.generation import ChatRow

    key = hashlib.sha256(json.dumps([[p["messages"] for p in prompts], repr(decoding)]).encode()).hexdigest()[:12]
    cache = ROOT / "data" / "bench-fidelity" / f"{engine.name}-{engine.quantization}-{key}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    order = sorted(range(len(prompts)), key=lambda i: len(engine.prompt_ids(prompts[i]["messages"])))
    texts = [""] * len(prompts)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        answers, _ = engine.generate([ChatRow(prompts[i]["messages"]) for i in chunk], decoding)
        for i, text in zip(chunk, answers, strict=True):
            texts[i] = text
        print(f"  {engine.name}: {start + len(chunk)}/{len(order)}", file=sys.stderr, flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(texts))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="ct2,ct2-int8", help="candidates measured against hf fp32")
    parser.add_argument("--cloze", type=int, default=90, help="cloze questions added to the 111 Q&A pairs")
    parser.add_argument("--k", type=int, default=2, help="retrieved chunks in each prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--limit", type=int, default=0, help="first N prompts only (a quick look; not >= 200)")
    parser.add_argument("--models", type=Path, default=ROOT / "data" / "models",
                        help="converted-models folder to reuse (default: this checkout's data/models)")
    args = parser.parse_args()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        cache = args.models.resolve()
        cache.mkdir(parents=True, exist_ok=True)
        os.symlink(cache, data_dir / "models")  # converted models kept between runs
        os.environ["CROSSROADS_DATA_DIR"] = str(data_dir)
        from core.evaluation.fidelity import compare
        from core.runtime.engines import close_engines, get_engine
        from core.runtime.generation import Decoding
        from core.runtime.settings import get_settings

        settings = get_settings()
        decoding = Decoding(max_new_tokens=args.max_new_tokens)
        prompts = build_prompts(settings, args.cloze, args.k)
        if args.limit:
            prompts = prompts[: args.limit]
        golds = [p["golds"] for p in prompts]
        texts, seconds = {}, {}
        for name in ["hf", *args.engines.split(",")]:
            engine = get_engine(replace(settings, engine=name))
            start = time.perf_counter()
            texts[name] = answer_all(engine, prompts, decoding, args.batch)
            seconds[name] = round(time.perf_counter() - start, 1)
            print(f"{name}: {len(prompts)} answers in {seconds[name]} s", flush=True)
        close_engines()

    engines = {name: {**compare(texts["hf"], texts[name], golds), "quantization": quant, "seconds": seconds[name]}
               for name, quant in (("ct2", "float32"), ("ct2-int8", "int8")) if name in texts}
    kinds = {kind: sum(p["kind"] == kind for p in prompts) for kind in ("qa", "cloze")}
    result = {
        "benchmark": "fidelity: each engine's greedy answers vs hf fp32 on RAG prompts of the demo documents",
        "generator": settings.generator, "prompts": len(prompts), "prompt_kinds": kinds,
        "max_new_tokens": args.max_new_tokens, "retrieved_chunks_per_prompt": args.k, "reference": {"engine": "hf", "quantization": "fp32",
                                                             "seconds": seconds["hf"]},
        "definition": "faithful: >= 200 prompts, >= 80% identical greedy answers, paired 95% CI of contains "
                      "and of F1 within +/-3 points of hf fp32",
        "machine": {"cpus": len(os.sched_getaffinity(0)), "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
        "engines": engines,
        # a few answers side by side, to read what a difference looks like
        "examples": [{"question": p["messages"][-1]["content"].rsplit("According to the text above: ", 1)[-1],
                      "golds": p["golds"], **{name: texts[name][i] for name in texts}}
                     for i, p in enumerate(prompts[:: max(1, len(prompts) // 6)][:6])],
    }
    if not args.limit:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fidelity.json").write_text(json.dumps(result, indent=2))
    print("| engine | identical to hf | contains (hf -> engine) | diff, points [95% CI] | F1 (hf -> engine) "
          "| diff, points [95% CI] | faithful |")
    print("|---|---|---|---|---|---|---|")
    for name, r in engines.items():
        c, f = r["contains_diff"], r["f1_diff"]
        print(f"| {name} ({r['quantization']}) | {r['identical']:.0%} | {r['contains']['reference']:.3f} -> "
              f"{r['contains']['engine']:.3f} | {c['mean']:+.1f} [{c['low']:+.1f}, {c['high']:+.1f}] | "
              f"{r['f1']['reference']:.3f} -> {r['f1']['engine']:.3f} | {f['mean']:+.1f} [{f['low']:+.1f}, "
              f"{f['high']:+.1f}] | {'yes' if r['faithful'] else 'no'} |")


if __name__ == "__main__":
    main()
