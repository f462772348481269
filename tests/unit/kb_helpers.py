"""Shared helpers for the knowledge-base tests: an isolated data dir and a tiny fake embedder."""

from __future__ import annotations

import hashlib
import math
import re

from langchain_core.embeddings import Embeddings


class FakeEmbeddings(Embeddings):
    """Deterministic bag-of-words hashing embedder (64-d, normalized): fast and offline."""

    name = "fake-bow-64"
    dimension = 64

    def _vec(self, text: str) -> list[float]:
        vec = [0.0] * self.dimension
        for word in re.findall(r"\w+", text.lower()):
            h = int(hashlib.md5(word.encode()).hexdigest(), 16)
            vec[h % self.dimension] += 1.0 if (h >> 8) % 2 else -1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts):
        return [self._vec(t) for t in texts]

    def embed_query(self, text):
        return self._vec(text)


def use_data_dir(monkeypatch, path, **env):
    """Point settings (and the cached Chroma clients) at a fresh data dir."""
    from core.knowledge import store as KS
    from core.runtime.settings import reset_settings

    monkeypatch.setenv("CROSSROADS_DATA_DIR", str(path))
    for key in ("CROSSROADS_CHROMA_HOST", "CROSSROADS_CHROMA_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    KS.reset_clients()
    return path
