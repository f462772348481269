"""Splitting parsed documents into chunks (characters or embedder tokens)."""

from __future__ import annotations

from collections.abc import Sequence

from core.knowledge.documents import ChunkSettings

_tokenizer_cache: dict[str, object] = {}


def _embedder_tokenizer():
    from core.runtime.models import embedder_name, load_embedder

    key = embedder_name()
    if key not in _tokenizer_cache:
        _tokenizer_cache[key] = load_embedder()._client.tokenizer
    return _tokenizer_cache[key]


def make_splitter(chunking: ChunkSettings, tokenizer=None):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if chunking.unit == "tokens":
        return RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            tokenizer or _embedder_tokenizer(), chunk_size=chunking.size,
            chunk_overlap=chunking.overlap, add_start_index=True)
    return RecursiveCharacterTextSplitter(chunk_size=chunking.size, chunk_overlap=chunking.overlap,
                                          add_start_index=True)


def split_documents(docs: Sequence, chunking: ChunkSettings, tokenizer=None) -> list:
    """Chunks in document order; metadata gains `chunk` (index within the file) and `start_index`."""
    chunks = [c for c in make_splitter(chunking, tokenizer).split_documents(list(docs)) if c.page_content.strip()]
    for index, chunk in enumerate(chunks):
        chunk.metadata["chunk"] = index
    return chunks


def preview_split(text: str, chunking: ChunkSettings, tokenizer=None) -> list[str]:
    """How a sample text splits with these settings (for the live preview)."""
    return [c for c in make_splitter(chunking, tokenizer).split_text(text) if c.strip()]
