"""A small search index over labeled training rows: the pool of the "retrieved examples" arm.

    index = example_index(train_rows)                   # built once per set of rows (in memory)
    demos = index.search(text, k=4, exclude_text=text)  # the k most similar rows, never `text` itself

Hybrid search like the knowledge bases' (core.knowledge.retrieval): BM25 (bm25s) and the
configured embedder (cosine over normalised vectors), fused by reciprocal rank with the same
constant. Rows whose text equals the query's (case and spacing ignored) are never returned, so a
test row that also sits in the training file cannot be its own demonstration. The index lives in
memory, keyed by the SHA-256 of the rows (a few hundred short texts embed in seconds).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from core.knowledge.retrieval import RRF_K

_CACHE: OrderedDict[tuple, ExampleIndex] = OrderedDict()
_CACHE_SIZE = 8
_lock = threading.Lock()


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def rows_key(rows: Sequence) -> str:
    digest = hashlib.sha256()
    for r in rows:
        digest.update(f"{r.number}\t{r.text}\t{r.target}\n".encode())
    return digest.hexdigest()


class ExampleIndex:
    def __init__(self, rows: Sequence, embedder):
        import numpy as np

        self.rows = list(rows)
        self._norms = [_norm(r.text) for r in self.rows]
        self._embedder = embedder
        texts = [r.text for r in self.rows]
        self._vectors = np.asarray(embedder.embed_documents(texts), dtype=np.float32) if texts else None
        self._bm25 = None
        if texts:
            import bm25s

            self._bm25 = bm25s.BM25()
            self._bm25.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def __len__(self) -> int:
        return len(self.rows)

    def _keyword_ranking(self, text: str) -> list[int]:
        import bm25s

        tokens = bm25s.tokenize([text], stopwords="en", show_progress=False, return_ids=False)
        if not tokens or not tokens[0]:
            return []
        docs, scores = self._bm25.retrieve(tokens, k=len(self.rows), show_progress=False)
        return [int(d) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def _dense_ranking(self, text: str) -> list[int]:
        import numpy as np

        query = np.asarray(self._embedder.embed_query(text), dtype=np.float32)
        return [int(i) for i in np.argsort(-(self._vectors @ query), kind="stable")]

    def search(self, text: str, k: int, exclude_text: str | None = None, weight: float = 0.5) -> list:
        """The k most similar rows, most similar first (`weight`: the keyword side's share of the fusion)."""
        if not self.rows or k <= 0:
            return []
        excluded = _norm(exclude_text if exclude_text is not None else text)
        scores: dict[int, float] = {}
        try:
            keyword = self._keyword_ranking(text)
        except (ValueError, IndexError):  # a query bm25s cannot tokenise into known words
            keyword = []
        for rank, i in enumerate(keyword, start=1):
            scores[i] = scores.get(i, 0.0) + weight / (RRF_K + rank)
        for rank, i in enumerate(self._dense_ranking(text), start=1):
            scores[i] = scores.get(i, 0.0) + (1.0 - weight) / (RRF_K + rank)
        ranked = sorted(scores, key=lambda i: (-scores[i], i))
        return [self.rows[i] for i in ranked if self._norms[i] != excluded][:k]


def example_index(rows: Sequence, settings=None, embedder=None) -> ExampleIndex:
    """The index of these rows (cached in memory by their hash and the embedder)."""
    from core.runtime import models
    from core.runtime.settings import get_settings

    settings = settings or get_settings()
    embedder = embedder or models.load_embedder(settings)
    key = (rows_key(rows), id(embedder))
    with _lock:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    index = ExampleIndex(rows, embedder)
    with _lock:
        _CACHE[key] = index
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return index
