"""Retrieval and the RAG chain: retriever -> prompt -> local generator -> streamed text + sources.

Reusable pieces (the Compare and Evaluate features build on them):
- retrieval itself (search types, settings) lives in core.knowledge.retrieval;
- `rag_messages(question, retrieved, history=())` -> the chat messages the generator receives;
- `answer_rag(kb, question, ...)` -> a `RagStream`: iterate for text pieces, then `.record`;
- `build_rag_chain(...)` -> the LCEL chain itself (`.stream({"question": ...})` yields the
  retrieved chunks first, then answer pieces);
- answers are stored and shown through `core.knowledge.sanitize.sanitize_answer` (no images or links).

"I don't know" is enforced in code: when no chunk reaches `min_score`, the generator is not
called and the answer is a fixed message. Retrieved text is only ever data inside the user
turn; it is never rendered as HTML and never changes what the app does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence

from core.knowledge.retrieval import (
    RetrievalConfig,
    RetrievalError,
    Retrieved,
    kb_retrieval,
    retriever_runnable,
)
from core.knowledge.sanitize import sanitize_answer
from core.runtime.generation import Decoding
from core.runtime.settings import Settings, get_settings

MAX_CONTEXT_CHARS = 700  # per chunk in the prompt: keeps the 135M model's prompt short

# Tuned on demo/qa_test.jsonl with SmolLM2-135M (see README "Knowledge bases"): short system
# instruction, numbered passages with the best one last (closest to the question), then the question.
SYSTEM_PROMPT = "Answer the question only from the context. If the answer is not there, say \"I don't know\"."


def _clean_context(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n{2,}", "\n", text).strip()
    return text[:MAX_CONTEXT_CHARS]


def format_context(retrieved: Sequence[Retrieved]) -> str:
    """Numbered passages, [1] = most relevant, printed last so it sits right before the question."""
    numbered = list(enumerate(retrieved, 1))
    return "\n\n".join(f"[{n}] {_clean_context(r.text)}" for n, r in reversed(numbered))


def rag_messages(question: str, retrieved: Sequence[Retrieved], history: Sequence[dict] = ()) -> list[dict]:
    """The chat messages the generator receives: instruction, earlier turns, context + question.

    The retrieved text is data inside the user turn (numbered passages); the question comes last
    because a 135M model follows what it read most recently.
    """
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for turn in history:
        if turn.get("role") in ("user", "assistant") and isinstance(turn.get("content"), str):
            messages.append({"role": turn["role"], "content": turn["content"]})
    messages.append({"role": "user", "content": f"{format_context(retrieved)}\n\nAccording to the text above: {question.strip()}"})
    return messages


def dont_know_message(kb: str) -> str:
    return f"I don't know — nothing relevant in {kb}."


# ---------------------------------------------------------------- the LCEL chain

_GENERATOR_CLASS = None


def _generator_class():
    global _GENERATOR_CLASS
    if _GENERATOR_CLASS is None:
        from langchain_core.runnables import Runnable

        from core.runtime.generation import ChatRow

        class LocalGenerator(Runnable):
            """The local generator as an LCEL Runnable: chat messages -> streamed text pieces."""

            name = "local_generator"

            def __init__(self, engine, decoding: Decoding | None = None):
                self.engine, self.decoding = engine, decoding or Decoding()
                self.last_stats = None

            def invoke(self, messages, config=None, **kwargs):
                return "".join(self.stream(messages, config))

            def stream(self, messages, config=None, **kwargs):
                stream = self.engine.stream([ChatRow(list(messages))], self.decoding)
                try:
                    for _row, piece in stream:
                        yield piece
                finally:
                    self.last_stats = stream.stats[0]

            def transform(self, input_iter, config=None, **kwargs):
                final = None
                for item in input_iter:
                    final = item if final is None else final + item
                if final is not None:
                    yield from self.stream(final, config)

        _GENERATOR_CLASS = LocalGenerator
    return _GENERATOR_CLASS


def local_generator(engine=None, decoding: Decoding | None = None, settings: Settings | None = None):
    """A Runnable over the generation engine (default: the configured one); `.last_stats` holds
    the last call's stats."""
    if engine is None:
        from core.runtime.engines import get_engine

        engine = get_engine(settings)
    return _generator_class()(engine, decoding)


def build_rag_chain(kb: str, config: RetrievalConfig | None = None, *, engine=None,
                    decoding: Decoding | None = None, embedder=None, settings: Settings | None = None,
                    timings: dict | None = None, generator=None):
    """retriever -> prompt -> local generator -> text, with the retrieved chunks travelling along.

    Input: {"question": str, "history": [messages]}. Streamed output: a chunk with `retrieved`
    first, then `answer` pieces. With nothing relevant retrieved the generator is not called.
    """
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.runnables import RunnableBranch, RunnableLambda, RunnablePassthrough

    if generator is None:
        generator = local_generator(engine, decoding, settings)
    config = config or kb_retrieval(kb, settings)
    retriever = retriever_runnable(kb, config, embedder=embedder, settings=settings, timings=timings)
    prompt = RunnableLambda(lambda x: rag_messages(x["question"], x["retrieved"], x.get("history") or ()),
                            name="rag_prompt")
    answer = RunnableBranch(
        (lambda x: not x["retrieved"], RunnableLambda(lambda x: dont_know_message(kb), name="dont_know")),
        prompt | generator | StrOutputParser(),
    )
    return (RunnablePassthrough.assign(retrieved=(lambda x: x["question"]) | retriever)
            | RunnablePassthrough.assign(answer=answer))


class RagStream:
    """Iterate for the answer's text pieces; afterwards `record` holds answer, sources and timings."""

    def __init__(self, kb: str, question: str, config: RetrievalConfig, history: Sequence[dict],
                 decoding: Decoding, settings: Settings | None, embedder=None, engine=None):
        self.kb, self.question, self.history = kb, question, list(history)
        self.timings: dict = {}
        self._generator = local_generator(engine, decoding, settings)
        self._chain = build_rag_chain(kb, config, generator=self._generator, embedder=embedder,
                                      settings=settings, timings=self.timings)
        self.retrieved: list[Retrieved] = []
        self.text = ""
        self.record: dict | None = None

    def __iter__(self) -> Iterator[str]:
        start = time.perf_counter()
        first_ms = None
        for chunk in self._chain.stream({"question": self.question, "history": self.history}):
            if "retrieved" in chunk:
                self.retrieved = chunk["retrieved"]
            piece = chunk.get("answer")
            if piece:
                if first_ms is None:
                    first_ms = (time.perf_counter() - start) * 1000
                self.text += piece
                yield piece
        total_ms = (time.perf_counter() - start) * 1000
        stats = self._generator.last_stats if self.retrieved else None
        tokens = stats.answer_tokens if stats else 0
        gen_s = (stats.total_ms / 1000) if stats else 0
        self.record = {
            "answer": sanitize_answer(self.text).strip(),
            "sources": [r.as_source() for r in self.retrieved],
            "retrieval_ms": round(self.timings.get("retrieval_ms", 0.0), 1),
            "first_token_ms": round(first_ms, 1) if first_ms is not None else None,
            "total_ms": round(total_ms, 1),
            "tokens": tokens,
            "tokens_per_s": round(tokens / gen_s, 2) if gen_s > 0 else 0.0,
            "generated": stats is not None,
            "engine": self._generator.engine.name,
            "quantization": self._generator.engine.quantization,
            "fidelity": self._generator.engine.describe()["fidelity"]["label"],
        }


def answer_rag(kb: str, question: str, *, history: Sequence[dict] = (), decoding: Decoding | None = None,
               settings: Settings | None = None, embedder=None, engine=None,
               config: RetrievalConfig | None = None, **overrides) -> RagStream:
    """Stream a RAG answer with `config` (default: the knowledge base's own setting; keyword
    arguments such as `k=` override single fields). Timings: first_token_ms and total_ms count
    from the call (retrieval included)."""
    from dataclasses import replace

    settings = settings or get_settings()
    if not (question or "").strip():
        raise RetrievalError("The question is empty.", hint="Type a question.")
    config = replace(config or kb_retrieval(kb, settings), **overrides)
    return RagStream(kb, question, config, history, decoding or Decoding(), settings, embedder, engine)


def ask_rag(kb: str, question: str, **kwargs) -> dict:
    """The whole answer at once: the final record of `answer_rag`."""
    stream = answer_rag(kb, question, **kwargs)
    for _ in stream:
        pass
    return stream.record
