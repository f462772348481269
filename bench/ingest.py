"""Ingestion, retrieval and RAG latency, measured in one run on the same files.

(a) raw embedding throughput: the embedder alone on the very chunk texts our pipeline makes
    (chunks/s; splitting done beforehand, not timed);
(b) our full pipeline: `core.knowledge.store.ingest` (content checks + parse in the limited worker +
    split + embed + Chroma writes + manifest bookkeeping) on the same files, into a fresh
    knowledge base; ratio b/a (goal >= 0.9). a and b alternate (a, b, a, b) and the medians
    are compared, so a load change on the machine hits both sides.
Retrieval latency p50/p95 (`core.knowledge.retrieval.retrieve`: query embedding + Chroma query) at 1k and 20k
chunks: the real chunks plus perturbed copies of their vectors (embedding 20k chunks would take
~10 minutes on a laptop CPU; the index does not care where vectors come from).
End-to-end RAG answer latency (first token, total) on demo questions.

    python -m bench.ingest [--copies 6] [--queries 60] [--questions 5]
Results: bench/results/ingest.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MODEL_CACHE = Path(os.environ.get("CROSSROADS_TEST_MODEL_CACHE", ROOT / ".venv" / "crossroads-test-models"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def make_corpus(folder: Path, copies: int) -> list[Path]:
    """`copies` variants of every demo document (a distinct first line, so distinct content hashes)."""
    from core.knowledge.demo import demo_sources

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for c in range(copies):
        for src in demo_sources():
            target = folder / f"c{c}_{src.name}"
            if src.suffix in (".pdf", ".docx"):
                data = src.read_bytes() + (b"\n%% copy %d\n" % c if src.suffix == ".pdf" else b"")
                if src.suffix == ".docx":
                    import io
                    import zipfile

                    buf = io.BytesIO()
                    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
                        for info in zin.infolist():
                            zout.writestr(info.filename, zin.read(info.filename))
                        zout.writestr(f"docProps/copy{c}.xml", f"<copy>{c}</copy>")
                    data = buf.getvalue()
                target.write_bytes(data)
            else:
                text = src.read_text(encoding="utf-8")
                if src.suffix == ".csv":  # one extra row keeps the header first
                    text = text.rstrip("\n") + "\n" + f"copy-{c}" + "," * text.splitlines()[0].count(",") + "\n"
                else:
                    text = f"Copy {c}.\n" + text
                target.write_text(text, encoding="utf-8")
            out.append(target)
    return out


def chunk_texts(files: list[Path]) -> list[str]:
    """The exact chunk texts our pipeline would embed (same checks, loaders, splitter)."""
    from core.knowledge.documents import ChunkSettings, check_file
    from core.knowledge.parsing import parse_isolated
    from core.knowledge.splitting import split_documents

    texts = []
    for path in files:
        check = check_file(path)
        texts.extend(c.page_content for c in split_documents(parse_isolated(path, check), ChunkSettings()))
    return texts


def link_models(data_dir: Path) -> None:
    from core.runtime import models
    from core.runtime.settings import Settings

    cache = Settings(data_dir=MODEL_CACHE)
    if not models.generator_is_converted(cache):
        models.convert_bundled_generator(cache)
    shutil.copytree(MODEL_CACHE / "models", data_dir / "models", copy_function=os.link,
                    ignore=shutil.ignore_patterns("*.lock", "*.tmp"), dirs_exist_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="copies of the demo documents to ingest")
    parser.add_argument("--queries", type=int, default=60, help="retrieval queries per index size")
    parser.add_argument("--questions", type=int, default=5, help="RAG answers to time")
    parser.add_argument("--sizes", default="1000,20000", help="index sizes for retrieval latency")
    parser.add_argument("--csv-rows", type=int, default=5000, help="rows of the large CSV (0: skip it)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    os.environ["CROSSROADS_DATA_DIR"] = str(tmp / "data")
    from core.knowledge import demo as KD
    from core.knowledge import indexing as KI
    from core.knowledge import rag, retrieval
    from core.knowledge import store as KS
    from core.runtime.models import embedder_name, load_embedder
    from core.runtime.settings import get_settings, reset_settings

    reset_settings()
    try:
        files = make_corpus(tmp / "corpus", args.copies)
        embedder = load_embedder()
        embedder.embed_documents(["warm up the embedder"] * 8)
        texts = chunk_texts(files)  # also warms the parser worker, as in a running app
        KI.ingest("warmup", [files[0]])

        raw, pipe, chunks_seen = [], [], []
        for rep in range(2):
            start = time.perf_counter()
            embedder.embed_documents(texts)
            raw.append(len(texts) / (time.perf_counter() - start))
            report = KI.ingest(f"bench{rep}", files)
            assert report.ok, report.as_dict()
            pipe.append(report.chunks_total / report.seconds)
            chunks_seen.append(report.chunks_total)
            print(f"rep {rep}: raw {raw[-1]:.1f} chunks/s, pipeline {pipe[-1]:.1f} chunks/s", flush=True)
        assert chunks_seen[0] == len(texts), (chunks_seen, len(texts))
        raw_med, pipe_med = statistics.median(raw), statistics.median(pipe)
        large = large_csv(tmp, args.csv_rows, embedder) if args.csv_rows else None

        # retrieval latency at several index sizes
        import numpy as np

        vs, _ = KS.open_store("bench0")
        base = vs.get(include=["embeddings", "documents", "metadatas"])
        vectors = np.asarray(base["embeddings"], dtype=np.float32)
        rng = np.random.default_rng(0)
        questions = [json.loads(line)["question"] for line in (ROOT / "demo" / "qa_test.jsonl").read_text().splitlines()]
        latency = {}
        for size in [int(s) for s in args.sizes.split(",")]:
            kb = f"size{size}"
            KS.create_kb(kb)
            store, _ = KS.open_store(kb)
            col = store._collection
            batch = min(5000, KS.chroma_client().get_max_batch_size())
            for start in range(0, size, batch):
                n = min(batch, size - start)
                idx = np.arange(start, start + n) % len(vectors)
                noisy = vectors[idx] + rng.normal(0, 0.02, (n, vectors.shape[1])).astype(np.float32) * (idx != np.arange(start, start + n))[:, None]
                noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
                col.add(ids=[f"s{start + i}" for i in range(n)], embeddings=noisy.tolist(),
                        documents=[base["documents"][i] for i in idx], metadatas=[base["metadatas"][i] for i in idx])
            assert col.count() == size
            for q in questions[:5]:  # warm
                retrieval.retrieve(kb, q, k=3, search_type="dense")
            times, store_times = [], []
            for i in range(args.queries):
                q = questions[i % len(questions)]
                t0 = time.perf_counter()
                retrieval.retrieve(kb, q, k=3, search_type="dense")
                times.append((time.perf_counter() - t0) * 1000)
                qv = embedder.embed_query(q)
                t1 = time.perf_counter()
                col.query(query_embeddings=[qv], n_results=3)
                store_times.append((time.perf_counter() - t1) * 1000)
            latency[str(size)] = {"p50_ms": round(percentile(times, 0.5), 1), "p95_ms": round(percentile(times, 0.95), 1),
                                    "store_only_p50_ms": round(percentile(store_times, 0.5), 1),
                                    "store_only_p95_ms": round(percentile(store_times, 0.95), 1)}
            print(f"retrieval at {size}: {latency[str(size)]}", flush=True)

        # end-to-end RAG answers on the demo knowledge base
        link_models(get_settings().data_dir)
        KD.load_demo_workspace()
        first, total, tps = [], [], []
        from core.runtime.models import load_generator

        load_generator()
        rag.ask_rag("demo", questions[0], decoding=rag.Decoding(max_new_tokens=8))  # warm
        for q in questions[1:1 + args.questions]:
            record = rag.ask_rag("demo", q)
            first.append(record["first_token_ms"])
            total.append(record["total_ms"])
            tps.append(record["tokens_per_s"])
        result = {
            "benchmark": "ingest",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
            "embedder": embedder_name(),
            "files": len(files), "chunks": len(texts), "chunking": "400/120 chars",
            "raw_embed_chunks_per_s": [round(x, 1) for x in raw],
            "pipeline_chunks_per_s": [round(x, 1) for x in pipe],
            "raw_median": round(raw_med, 1), "pipeline_median": round(pipe_med, 1),
            "ratio_pipeline_over_raw": round(pipe_med / raw_med, 3),
            "large_csv": large,
            "retrieval_latency": latency,
            "rag": {"questions": len(first), "first_token_ms_p50": round(statistics.median(first), 0),
                    "total_ms_p50": round(statistics.median(total), 0),
                    "tokens_per_s_p50": round(statistics.median(tps), 1)},
        }
    finally:
        from core.knowledge.parsing import shutdown_parsers

        shutdown_parsers()
        KS.reset_clients()
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


def large_csv(tmp: Path, rows: int, embedder) -> dict:
    """A large CSV (one chunk per row): raw embedding vs the pipeline vs the background job."""
    from core.knowledge import indexing as KI
    from core.knowledge import ingest_job as IJ
    from core.runtime import jobs

    path = tmp / "orders.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("order,station,region,status,note\n")
        for i in range(rows):
            out.write(f"O-{i:06d},SK-{i % 700:04d},region {i % 17},{('open', 'shipped', 'returned')[i % 3]},"
                      f"serviced in week {i % 52 + 1} with battery at {60 + i % 40} percent\n")
    texts = chunk_texts([path])
    start = time.perf_counter()
    embedder.embed_documents(texts)
    raw = len(texts) / (time.perf_counter() - start)
    report = KI.ingest("csv-sync", [path])
    sync = report.chunks_total / report.seconds
    start = time.perf_counter()
    job = jobs.wait(IJ.start_ingest("csv-job", [(path.name, path)]).id, timeout=3600)
    assert job.state == "completed", job.status
    background = job.status["result"]["chunks_total"] / (time.perf_counter() - start)  # process start included
    out = {"rows": rows, "bytes": path.stat().st_size, "chunks": len(texts), "raw_embed_chunks_per_s": round(raw, 1),
           "pipeline_chunks_per_s": round(sync, 1), "job_chunks_per_s": round(background, 1),
           "pipeline_over_raw": round(sync / raw, 3), "job_over_raw": round(background / raw, 3)}
    print(f"large CSV: {out}", flush=True)
    return out


def markdown(r: dict) -> str:
    rows = [
        "| measure | value |", "|---|---|",
        f"| raw embedding (embedder alone), chunks/s | {r['raw_median']} |",
        f"| our ingestion pipeline (parse + split + embed + store), chunks/s | {r['pipeline_median']} |",
        f"| ratio pipeline / raw (goal >= 0.9) | {r['ratio_pipeline_over_raw']} |",
    ]
    if r.get("large_csv"):
        c = r["large_csv"]
        rows.append(f"| large CSV ({c['rows']:,} rows, {c['chunks']:,} chunks): raw / pipeline / background job, chunks/s | "
                    f"{c['raw_embed_chunks_per_s']} / {c['pipeline_chunks_per_s']} / {c['job_chunks_per_s']} "
                    f"({c['pipeline_over_raw']}× / {c['job_over_raw']}×) |")
    for size, v in r["retrieval_latency"].items():
        rows.append(f"| retrieval at {int(size):,} chunks, p50 / p95 ms | {v['p50_ms']} / {v['p95_ms']} |")
    rows.append(f"| RAG answer: first token / total, ms (p50 of {r['rag']['questions']}) | "
                f"{r['rag']['first_token_ms_p50']:.0f} / {r['rag']['total_ms_p50']:.0f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
