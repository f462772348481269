"""The retrieval lab: which retrieval setting finds the gold chunks of an eval set, at what cost.

Sweeps search type × k (and, when asked, chunk size / overlap) over an eval set without
generating anything. Per setting: hit@k, MRR, context tokens per question (the prompt's cost,
counted with the generator's tokenizer), retrieval p50 latency, and the paired-bootstrap CI of
hit@k against the knowledge base's current setting (same questions, so the CI is of the
per-question difference).

One retrieval per question, search type and chunking, at the largest k: every smaller k is a
prefix of that ranking (dense and keyword rank once; MMR picks greedily; hybrid fuses a fixed
candidate pool), so k costs nothing extra. Latency is per (search type, chunking).

Another chunking is indexed into a temporary knowledge base (its own collection and keyword
index, marked temporary so no list shows it) from the kept originals, and removed afterwards,
also on cancel or error.

The best setting: the fewest context tokens among the settings whose hit@k is within
`BEST_MARGIN` of the highest (one question in 40), then the higher MRR. More chunks nearly
always find more, but a 135M model reads a long context badly and slowly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from core.evaluation import metrics, retrieval_metrics
from core.evaluation.evalsets import EvalSet
from core.knowledge.documents import ChunkSettings
from core.knowledge.retrieval import (
    SEARCH_TYPES,
    RetrievalConfig,
    kb_retrieval,
    retrieve,
    set_kb_retrieval,
)
from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

DEFAULT_KS = (2, 3, 4, 6)
BEST_MARGIN = 0.025


class LabError(CrossroadsError):
    pass


class LabCancelled(LabError):
    pass


@dataclass(frozen=True)
class LabProgress:
    done: int
    total: int
    elapsed_s: float
    current: str = ""
    to_index: int = 0  # chunk sizes still to index into temporary collections (not in the ETA)

    @property
    def eta_s(self) -> float | None:
        return self.elapsed_s / self.done * (self.total - self.done) if self.done else None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def describe(self) -> str:
        # The ETA extrapolates the retrievals so far; indexing another chunk size is not in it: said so.
        eta = "" if self.eta_s is None else f" · about {self.eta_s:.0f} s more for the retrievals"
        if self.to_index:
            eta += f", plus indexing {self.to_index} more chunk size{'s' if self.to_index > 1 else ''} (not in that figure)"
        return f"{self.done}/{self.total} retrievals · {self.elapsed_s:.0f} s elapsed{eta} · {self.current}"


def _context_tokens(hits, k: int, tokenizer) -> int:
    from core.knowledge.rag import format_context

    text = format_context(hits[:k])
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0


def _temporary_kb(kb: str, chunking: ChunkSettings, settings: Settings, embedder=None) -> str:
    """A temporary knowledge base with `chunking`, indexed from `kb`'s kept originals."""
    from core.knowledge.indexing import ingest
    from core.knowledge.manifest import kb_dir, read_manifest, write_manifest, writer
    from core.knowledge.pipeline import Source
    from core.knowledge.store import create_kb

    manifest = read_manifest(kb, settings)
    name = f"lab-{uuid.uuid4().hex[:12]}"
    with writer(settings):
        created = create_kb(name, chunking, embedder=embedder, settings=settings)
        write_manifest(name, created | {"temporary": True, "lab_of": kb}, settings)
    folder = kb_dir(kb, settings) / "files"
    sources = [Source(e["name"], path=folder / fid) for fid, e in manifest["files"].items()
               if e.get("status") == "complete" and (folder / fid).is_file()]
    ingest(name, sources, embedder=embedder, create=False, settings=settings)
    return name


def _drop(name: str, settings: Settings) -> None:
    from core.knowledge.store import delete_kb

    try:
        delete_kb(name, settings)
    except CrossroadsError:
        pass


def run_lab(kb: str, eval_set: EvalSet, *, search_types: Sequence[str] = SEARCH_TYPES, ks: Sequence[int] = DEFAULT_KS,
            chunk_sizes: Sequence[int] = (), chunk_overlap: int | None = None, gold: str = "labels",
            progress: Callable[[LabProgress], None] | None = None, should_stop: Callable[[], bool] | None = None,
            embedder=None, tokenizer=None, settings: Settings | None = None) -> dict:
    """Sweep the settings over the eval set; the result (JSON-ready) marks the best and the current.

    `gold`: "labels" uses each item's source / chunk id when it has one (else its answer text);
    "answer" ignores them, so a chunk is gold only when it holds a gold answer.
    """
    from core.knowledge.manifest import read_manifest

    settings = settings or get_settings()
    if gold not in ("labels", "answer"):
        raise LabError(f"Unknown gold rule {gold!r}.", hint="Use 'labels' or 'answer'.")
    items = [it for it in eval_set.items if it.kind != "label"]
    if gold == "answer":
        items = [replace(it, source=None, chunk_id=None) for it in items]
    if not items:
        raise LabError("The retrieval lab needs questions with answers (a label set has no text to find).",
                       hint="Use a Q&A eval file, the demo set or fill-in-the-blank questions.")
    unknown = [t for t in search_types if t not in SEARCH_TYPES]
    if unknown or not search_types:
        raise LabError(f"Unknown search type(s): {', '.join(unknown) or '(none)'}.", hint=f"Use {', '.join(SEARCH_TYPES)}.")
    if not ks or any(not 1 <= int(k) <= 50 for k in ks):
        raise LabError("Every k must be between 1 and 50.")
    if tokenizer is None:
        from core.runtime.models import load_tokenizer

        tokenizer = load_tokenizer(settings)
    current = kb_retrieval(kb, settings)
    base_chunking = ChunkSettings.from_dict(read_manifest(kb, settings).get("chunking"))
    ks = sorted({int(k) for k in ks} | {current.k})
    types = list(dict.fromkeys([*search_types, current.search_type]))
    chunkings = [base_chunking] + [
        c for c in (ChunkSettings(int(size), int(chunk_overlap) if chunk_overlap is not None else round(int(size) * base_chunking.overlap / base_chunking.size),
                                  base_chunking.unit) for size in chunk_sizes)
        if c.as_dict() != base_chunking.as_dict()]
    total = len(chunkings) * len(types) * len(items)
    start, done = time.perf_counter(), 0
    rows: list[dict] = []
    temporary: list[str] = []
    try:
        for n, chunking in enumerate(chunkings):
            to_index = len(chunkings) - n - 1  # other chunk sizes indexed after this one
            target = kb
            if chunking is not base_chunking:
                if progress:
                    progress(LabProgress(done, total, time.perf_counter() - start,
                                         f"indexing chunks of {chunking.size}/{chunking.overlap}", to_index))
                target = _temporary_kb(kb, chunking, settings, embedder)
                temporary.append(target)
            for search_type in types:
                config = replace(current, search_type=search_type, k=max(ks))
                ranked, latencies = [], []
                for item in items:
                    if should_stop and should_stop():
                        raise LabCancelled("The retrieval lab was cancelled.")
                    began = time.perf_counter()
                    ranked.append(retrieve(target, item.question, config, embedder=embedder, settings=settings))
                    latencies.append((time.perf_counter() - began) * 1000)
                    done += 1
                    if progress and (done % 5 == 0 or done == total):
                        progress(LabProgress(done, total, time.perf_counter() - start,
                                             f"{search_type}, chunks {chunking.size}/{chunking.overlap}", to_index))
                for k in ks:
                    rows.append(_row(search_type, k, config, chunking, items, ranked, latencies, tokenizer,
                                     is_current=(chunking is base_chunking and search_type == current.search_type
                                                 and k == current.k)))
    finally:
        for name in temporary:
            _drop(name, settings)
    result = _result(kb, eval_set, rows, current, base_chunking, time.perf_counter() - start)
    return result | {"gold": gold}


def _row(search_type, k, config, chunking, items, ranked, latencies, tokenizer, is_current) -> dict:
    hits, rrs, rules = [], [], set()
    for item, got in zip(items, ranked, strict=True):
        rank, rule = retrieval_metrics.gold_rank(
            [{"source": h.source, "chunk_id": h.id, "text": h.text} for h in got[:k]],
            item.source, item.chunk_id, item.golds)
        hits.append(float(rank is not None))
        rrs.append(1.0 / rank if rank else 0.0)
        rules.add(rule)
    setting = replace(config, k=k).as_dict() | {"chunking": chunking.as_dict()}
    return {"setting": setting, "label": _label(search_type, k, chunking),
            "hit_at_k": metrics.mean(hits), "mrr": metrics.mean(rrs),
            "context_tokens": metrics.mean(_context_tokens(got, k, tokenizer) for got in ranked),
            "retrieval_p50_ms": metrics.p50(latencies), "gold_rule": " + ".join(sorted(rules)),
            "current": is_current, "_hits": hits}


def _label(search_type: str, k: int, chunking: ChunkSettings) -> str:
    return f"{search_type} · k={k} · {chunking.size}/{chunking.overlap}"


def _result(kb: str, eval_set: EvalSet, rows: list[dict], current: RetrievalConfig, chunking: ChunkSettings,
            seconds: float) -> dict:
    baseline = next(r for r in rows if r["current"])
    for row in rows:
        low, diff, high = metrics.paired_bootstrap_ci(row["_hits"], baseline["_hits"])
        row["hit_at_k_vs_current"] = {"diff": diff, "low": low, "high": high}
    top = max(r["hit_at_k"] for r in rows)
    near = [r for r in rows if r["hit_at_k"] >= top - BEST_MARGIN - 1e-9]
    best = min(near, key=lambda r: (r["context_tokens"], -r["mrr"], r["setting"]["k"]))
    for row in rows:
        row["best"] = row is best
        del row["_hits"]
    return {"kb": kb, "eval_set": {"name": eval_set.name, "size": len(eval_set)},
            "current": current.as_dict() | {"chunking": chunking.as_dict()},
            "best": best, "settings": rows, "n_settings": len(rows), "seconds": round(seconds, 2),
            "rule": f"best = fewest context tokens among hit@k within {BEST_MARGIN:g} of the top, then MRR",
            "ci": "paired bootstrap of hit@k vs the current setting, 2000 resamples, 95%"}


def apply_best(kb: str, result: dict, *, settings: Settings | None = None, embedder=None) -> RetrievalConfig:
    """Store the lab's best setting as the knowledge base's own (rebuilding when its chunking differs)."""
    from core.knowledge.indexing import rebuild
    from core.knowledge.manifest import read_manifest

    settings = settings or get_settings()
    setting = dict(result["best"]["setting"])
    chunking = ChunkSettings.from_dict(setting.pop("chunking", None))
    if chunking.as_dict() != ChunkSettings.from_dict(read_manifest(kb, settings).get("chunking")).as_dict():
        rebuild(kb, chunking, embedder=embedder, settings=settings)
    config = RetrievalConfig.from_dict(setting)
    set_kb_retrieval(kb, config, settings, note=f"retrieval lab on {result['eval_set']['name']}: "
                                                 f"hit@k {result['best']['hit_at_k']:.3f}")
    return config
