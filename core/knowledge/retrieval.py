"""Retrieval: the search types, their settings, and a knowledge base's own setting.

Search types (`RetrievalConfig.search_type`):
- `dense`: the k chunks closest to the question's embedding (cosine, Chroma's HNSW index);
- `mmr`: close but diverse (maximal marginal relevance over `fetch_k` dense candidates);
- `keyword`: BM25 over the chunk texts (`bm25s`, core.knowledge.keyword_index);
- `hybrid`: reciprocal-rank fusion of the keyword and the dense ranking (`fetch_k` candidates
  each): score = w / (60 + keyword rank) + (1 - w) / (60 + dense rank), w = `keyword_weight`.

Whatever ranks them, every returned chunk's `score` is its cosine similarity to the question,
so `min_score` (the "I don't know" gate) means the same for every search type.

A knowledge base keeps its retrieval setting in its manifest (`retrieval`); the retrieval lab
stores the best one there and Compare, Evaluate and Ask start from it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace

from core.runtime.errors import CrossroadsError
from core.runtime.limits import check_question
from core.runtime.settings import Settings, get_settings

SEARCH_TYPES = ("hybrid", "dense", "mmr", "keyword")
DEFAULT_SEARCH_TYPE = "hybrid"  # demo test set, k=4, gold = chunk holding the answer: hit@k 0.925 vs 0.900 dense, MRR 0.823 vs 0.796
DEFAULT_K = 4  # demo test set: contains 0.45 at k=4 vs 0.33 at k=3 (n=40, dense ranking)
DEFAULT_MIN_SCORE = 0.3
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009)


class RetrievalError(CrossroadsError):
    pass


@dataclass(frozen=True)
class RetrievalConfig:
    """How chunks are retrieved for an answer."""

    k: int = field(default=DEFAULT_K, metadata={"help": "How many chunks go into the prompt."})
    search_type: str = field(default=DEFAULT_SEARCH_TYPE, metadata={
        "help": "hybrid: keyword and meaning rankings fused; dense: the k closest by meaning; "
                "mmr: close but diverse; keyword: BM25 word match."})
    min_score: float | None = field(default=DEFAULT_MIN_SCORE, metadata={
        "help": "Relevance (cosine similarity, 0–1) a chunk needs to be used; below it the answer is \"I don't know\"."})
    fetch_k: int = field(default=20, metadata={"help": "Candidates MMR and hybrid choose from."})
    lambda_mult: float = field(default=0.5, metadata={"help": "MMR: 1 = pure relevance, 0 = pure diversity."})
    keyword_weight: float = field(default=0.5, metadata={
        "help": "Hybrid: weight of the keyword ranking in the fusion (0 = dense only, 1 = keyword only)."})

    def __post_init__(self):
        if self.search_type not in SEARCH_TYPES:
            raise RetrievalError(f"Unknown search type {self.search_type!r}.", hint=f"Use one of {', '.join(SEARCH_TYPES)}.")
        if not 1 <= self.k <= 50:
            raise RetrievalError(f"k must be between 1 and 50, got {self.k}.")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise RetrievalError(f"min_score must be between 0 and 1, got {self.min_score}.")
        if not 0.0 <= self.keyword_weight <= 1.0 or not 0.0 <= self.lambda_mult <= 1.0:
            raise RetrievalError("keyword_weight and lambda_mult must be between 0 and 1.")
        if not 1 <= self.fetch_k <= 500:
            raise RetrievalError(f"fetch_k must be between 1 and 500, got {self.fetch_k}.")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> RetrievalConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def describe(self) -> str:
        text = f"{self.search_type}, k={self.k}"
        if self.search_type == "hybrid":
            text += f", keyword weight {self.keyword_weight:g}"
        if self.search_type == "mmr":
            text += f", λ {self.lambda_mult:g}"
        if self.search_type in ("hybrid", "mmr"):
            text += f", {self.fetch_k} candidates"
        return text


@dataclass(frozen=True)
class Retrieved:
    """One retrieved chunk: text, where it came from, and its relevance score (cosine, 0–1)."""

    text: str
    source: str
    chunk: int
    score: float
    page: int | None = None
    row: int | None = None
    file_id: str | None = None
    id: str | None = None

    @property
    def location(self) -> str:
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        parts.append(f"chunk {self.chunk}")
        return ", ".join(parts)

    def as_source(self) -> dict:
        """The citation record (CLI JSON, reports)."""
        return {"file": self.source, "page": self.page, "row": self.row, "chunk": self.chunk,
                "score": round(self.score, 4), "text": self.text, "id": self.id}


def _from_hit(doc_text: str, meta: dict | None, score: float, id_: str | None = None) -> Retrieved:
    meta = meta or {}
    return Retrieved(text=doc_text or "", source=str(meta.get("source", "?")), chunk=int(meta.get("chunk", 0)),
                     score=float(score), page=meta.get("page"), row=meta.get("row"),
                     file_id=meta.get("file_id"), id=id_)


def _fuse(keyword_ids: list[str], dense_ids: list[str], weight: float) -> list[str]:
    scores: dict[str, float] = {}
    for rank, cid in enumerate(keyword_ids, 1):
        scores[cid] = scores.get(cid, 0.0) + weight / (RRF_K + rank)
    for rank, cid in enumerate(dense_ids, 1):
        scores[cid] = scores.get(cid, 0.0) + (1.0 - weight) / (RRF_K + rank)
    dense_rank = {cid: r for r, cid in enumerate(dense_ids)}
    return sorted(scores, key=lambda cid: (-scores[cid], dense_rank.get(cid, len(dense_ids))))


def _by_ids(collection, ids: list[str], query_vec) -> list[Retrieved]:
    """The chunks of `ids` in that order, each scored by cosine similarity to the query."""
    import numpy as np

    if not ids:
        return []
    got = collection.get(ids=ids, include=["documents", "metadatas", "embeddings"])
    q = np.asarray(query_vec, dtype=np.float32)
    q = q / (np.linalg.norm(q) or 1.0)
    rows = {}
    for cid, doc, meta, emb in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True):
        e = np.asarray(emb, dtype=np.float32)
        rows[cid] = _from_hit(doc, meta, float(q @ (e / (np.linalg.norm(e) or 1.0))), cid)
    return [rows[cid] for cid in ids if cid in rows]


def retrieve(kb: str, question: str, config: RetrievalConfig | None = None, *, embedder=None,
             settings: Settings | None = None, **overrides) -> list[Retrieved]:
    """Ranked chunks for a question (see the module doc); scores are cosine similarities.

    `config` defaults to RetrievalConfig() without a score filter; keyword arguments
    (`k=`, `search_type=`, `min_score=`, ...) override single fields.
    """
    import numpy as np
    from langchain_chroma.vectorstores import maximal_marginal_relevance

    from core.knowledge import keyword_index
    from core.knowledge.store import open_store

    settings = settings or get_settings()
    cfg = replace(config or RetrievalConfig(min_score=None), **overrides)  # validates
    question = (question or "").strip()
    if not question:
        raise RetrievalError("The question is empty.", hint="Type a question.")
    check_question(question, settings)  # before embedding: a 10 MB line costs nothing
    vs, manifest = open_store(kb, embedder=embedder, settings=settings)
    collection = vs._collection
    count = collection.count()
    if count == 0:
        return []
    query_vec = vs.embeddings.embed_query(question)
    pool = min(count, max(cfg.k, cfg.fetch_k))
    if cfg.search_type in ("dense", "mmr"):
        mmr = cfg.search_type == "mmr"
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if mmr else [])
        res = collection.query(query_embeddings=[query_vec], n_results=pool if mmr else min(count, cfg.k),
                               include=include)
        ids, docs, metas, dists = res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
        hits = [_from_hit(d, m, 1.0 - float(dist), i) for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)]
        if mmr and hits:
            order = maximal_marginal_relevance(np.array(query_vec, dtype=np.float32), list(res["embeddings"][0]),
                                               k=min(cfg.k, len(hits)), lambda_mult=cfg.lambda_mult)
            hits = [hits[i] for i in order]
    else:
        keyword_ids = [cid for cid, _ in keyword_index.search(kb, question, pool, vs, manifest, settings)]
        if cfg.search_type == "keyword":
            order = keyword_ids
        else:
            dense = collection.query(query_embeddings=[query_vec], n_results=pool, include=[])
            order = _fuse(keyword_ids, dense["ids"][0], cfg.keyword_weight)
        hits = _by_ids(collection, order[:cfg.k], query_vec)
    hits = hits[:cfg.k]
    if cfg.min_score is not None:
        hits = [h for h in hits if h.score >= cfg.min_score]
    return hits


def retriever_runnable(kb: str, config: RetrievalConfig | None = None, *, embedder=None,
                       settings: Settings | None = None, timings: dict | None = None):
    """The retriever as an LCEL Runnable: question -> list[Retrieved] (records its time in `timings`)."""
    from langchain_core.runnables import RunnableLambda

    config = config or RetrievalConfig()

    def _run(question: str) -> list[Retrieved]:
        start = time.perf_counter()
        try:
            return retrieve(kb, question, config, embedder=embedder, settings=settings)
        finally:
            if timings is not None:
                timings["retrieval_ms"] = (time.perf_counter() - start) * 1000

    return RunnableLambda(_run, name="retriever")


# ---------------------------------------------------------------- a knowledge base's own setting

def kb_retrieval(kb: str, settings: Settings | None = None) -> RetrievalConfig:
    """The knowledge base's stored retrieval setting (RetrievalConfig() when it has none)."""
    from core.knowledge.manifest import read_manifest

    stored = read_manifest(kb, settings).get("retrieval")
    try:
        return RetrievalConfig.from_dict(stored if isinstance(stored, dict) else None)
    except (RetrievalError, TypeError):
        return RetrievalConfig()  # a hand-edited setting that no longer validates: the defaults


def set_kb_retrieval(kb: str, config: RetrievalConfig, settings: Settings | None = None,
                     note: str | None = None) -> None:
    """Store a retrieval setting with the knowledge base (the lab's "apply")."""
    from core.knowledge.manifest import now_iso, read_manifest, write_manifest, writer

    settings = settings or get_settings()
    with writer(settings):
        manifest = read_manifest(kb, settings)
        manifest["retrieval"] = config.as_dict() | {"set": now_iso(), **({"note": note} if note else {})}
        write_manifest(kb, manifest, settings)


def retrieval_record(config: RetrievalConfig, kb: str | None, settings: Settings | None = None) -> dict:
    """The full retrieval setting for reports and the CLI: search, k, weights and the kb's chunking."""
    record = config.as_dict()
    if kb:
        from core.knowledge.manifest import KnowledgeError, read_manifest

        try:
            record["chunking"] = read_manifest(kb, settings).get("chunking")
        except KnowledgeError:
            record["chunking"] = None
    return record
