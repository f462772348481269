"""Parsing a checked file with LangChain loaders, in a worker process with limits.

The worker runs under a memory limit (RLIMIT_AS) and a wall-clock timeout, so a hostile file
can cost at most one worker, never the app; it watches its parent and exits when the parent is
gone (a kill -9 of the app must not leave parsers behind).
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from pathlib import Path

from core.knowledge.documents import DEFAULT_LIMITS, DocumentError, FileCheck, Limits


def _html_loader_class():
    from langchain_community.document_loaders import BSHTMLLoader
    from langchain_core.documents import Document

    class CleanHTMLLoader(BSHTMLLoader):
        """BSHTMLLoader without script/style text, with line breaks between blocks."""

        def lazy_load(self):
            from bs4 import BeautifulSoup

            with open(self.file_path, encoding=self.open_encoding) as handle:
                soup = BeautifulSoup(handle, **self.bs_kwargs)
            for tag in soup(["script", "style", "noscript", "template", "iframe", "object"]):
                tag.decompose()
            title = soup.title.get_text(strip=True) if soup.title else ""
            text = re.sub(r"\n\s*\n+", "\n\n", soup.get_text("\n"))
            yield Document(page_content=text.strip(), metadata={"source": str(self.file_path), "title": title})

    return CleanHTMLLoader


def _count_csv_rows(path: str, encoding: str, limits: Limits, name: str) -> int:
    import csv

    rows = 0
    try:
        with open(path, encoding=encoding, newline="") as handle:
            for _ in csv.reader(handle):
                rows += 1
                if rows > limits.max_csv_rows + 1:
                    raise DocumentError(f"{name}: more than {limits.max_csv_rows:,} rows.",
                                        hint="Split the CSV into smaller files or keep the rows you need.")
    except csv.Error as exc:
        raise DocumentError(f"{name}: CSV row {rows + 1} cannot be read ({exc}).",
                            hint="Fields are limited to 131,072 characters; check the quoting of that row.") from exc
    return rows


def parse_file(path: str | Path, check: FileCheck, limits: Limits = DEFAULT_LIMITS) -> list:
    """LangChain Documents of one checked file (call through `parse_isolated` for limits)."""
    from langchain_community.document_loaders import (
        CSVLoader,
        Docx2txtLoader,
        PyPDFLoader,
        TextLoader,
    )

    path, name, kind = str(path), check.name, check.kind
    try:
        if kind == "pdf":
            import logging

            logging.getLogger("pypdf").setLevel(logging.ERROR)
            docs = PyPDFLoader(path, password="" if _pdf_needs_empty_password(path) else None).load()
            for doc in docs:
                doc.metadata = {"page": int(doc.metadata.get("page", 0)) + 1}
            if not any(d.page_content.strip() for d in docs):
                raise DocumentError(f"{name}: the PDF has no extractable text (scanned images only?).",
                                    hint="Run OCR on it first (e.g. ocrmypdf) or upload the text version.")
        elif kind == "docx":
            docs = Docx2txtLoader(path).load()
            for doc in docs:
                doc.metadata = {}
        elif kind == "html":
            docs = _html_loader_class()(path, open_encoding=check.encoding,
                                        bs_kwargs={"features": "html.parser"}).load()
            for doc in docs:
                doc.metadata = {"title": doc.metadata.get("title") or ""}
        elif kind == "csv":
            _count_csv_rows(path, check.encoding or "utf-8", limits, name)
            docs = CSVLoader(path, encoding=check.encoding or "utf-8").load()
            for doc in docs:
                doc.metadata = {"row": int(doc.metadata.get("row", 0)) + 1}
        else:
            docs = TextLoader(path, encoding=check.encoding or "utf-8").load()
            for doc in docs:
                doc.metadata = {}
    except DocumentError:
        raise
    except MemoryError as exc:
        raise DocumentError(f"{name}: parsing needed more than {limits.parse_memory_mb} MB of memory; it was stopped.",
                            hint="Split the document into smaller files.") from exc
    except Exception as exc:  # noqa: BLE001 - any parser failure becomes the file's own error
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DocumentError(f"{name}: the {kind.upper()} file could not be read ({detail}).",
                            hint="Open it in its usual application, save it again and re-upload.") from exc
    docs = [d for d in docs if d.page_content and d.page_content.strip()]
    if not docs:
        raise DocumentError(f"{name}: no text found in the file.", hint="Upload a document that contains text.")
    total = sum(len(d.page_content) for d in docs)
    if total > limits.max_chars:
        raise DocumentError(f"{name}: {total:,} characters of text is over the {limits.max_chars:,} limit.",
                            hint="Split the document into smaller files.")
    return docs


def _pdf_needs_empty_password(path: str) -> bool:
    from pypdf import PdfReader

    try:
        return bool(PdfReader(path).is_encrypted)
    except Exception:  # noqa: BLE001
        return False


def _limit_worker(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _exit_with_parent()


def _exit_with_parent() -> None:
    """Exit as soon as the parent process is gone, however it died.

    A spawned child holds the read end of a pipe whose write end only the parent holds
    (`parent_process().sentinel`); it becomes readable when the parent dies, kill -9 included.
    PR_SET_PDEATHSIG would fire when the *thread* that started the worker ends, and Streamlit
    runs each script run on a short-lived thread, so the pipe is the right signal here.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _parse_in_worker(path: str, check: FileCheck, limits: Limits):
    docs = parse_file(path, check, limits)
    return [(d.page_content, d.metadata) for d in docs]


class ParseJob:
    """A parse submitted to the pool. An upload submits every file up front; when one file's
    timeout or crash kills the worker, the parses queued behind it are cancelled with it. Those
    are parsed again on the fresh worker: a kill costs only the file that caused it."""

    def __init__(self, pool: ParserPool, args: tuple):
        self._pool, self._args = pool, args
        self._generation, self._future = pool._submit(*args)

    def cancel(self) -> bool:
        """An ingestion cancelled by the user: this parse need not run (False if it already started)."""
        return self._future.cancel()

    def result(self, timeout: float | None = None):
        from concurrent.futures import CancelledError
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._future.result(timeout=timeout)
        except (CancelledError, BrokenProcessPool):
            if self._generation == self._pool.generation:
                raise  # this parse broke the worker itself
        # the worker was killed for another file while this one waited: parse it again
        self._generation, self._future = self._pool._submit(*self._args)
        return self._future.result(timeout=timeout)


class ParserPool:
    """One reusable worker process for parsing; killed and replaced after a timeout or crash."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self._executor = None
        self._lock = threading.Lock()
        self.generation = 0  # how many times the worker was killed: tells a ParseJob why it was cancelled

    def _get(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_limit_worker, initargs=(self.memory_mb,))
            return self._executor

    def submit(self, path: str, check: FileCheck, limits: Limits) -> ParseJob:
        return ParseJob(self, (path, check, limits))

    def _submit(self, path: str, check: FileCheck, limits: Limits):
        """(generation, future) of a parse on the current worker (a fresh one if it was shut down)."""
        from concurrent.futures.process import BrokenProcessPool

        for attempt in range(2):
            generation = self.generation
            try:
                return generation, self._get().submit(_parse_in_worker, path, check, limits)
            except (RuntimeError, BrokenProcessPool):  # shut down or broken underneath us
                if attempt:
                    raise
                self.kill()
        raise AssertionError("unreachable")

    def kill(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            self.generation += 1
        if executor is None:
            return
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            try:
                process.kill()
            except Exception:  # noqa: BLE001
                pass
        executor.shutdown(wait=False, cancel_futures=True)


_pools: dict[int, ParserPool] = {}
_pools_lock = threading.Lock()


def shutdown_parsers() -> None:
    """Stop the parser worker processes (at exit; tests)."""
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        pool.kill()


atexit.register(shutdown_parsers)


def parser_pool(limits: Limits = DEFAULT_LIMITS) -> ParserPool:
    with _pools_lock:
        if limits.parse_memory_mb not in _pools:
            _pools[limits.parse_memory_mb] = ParserPool(limits.parse_memory_mb)
        return _pools[limits.parse_memory_mb]


def collect_parsed(future, check: FileCheck, limits: Limits = DEFAULT_LIMITS) -> list:
    """Wait for a parse submitted to the pool; turn timeouts and crashes into DocumentError."""
    from concurrent.futures import TimeoutError as FutureTimeout
    from concurrent.futures.process import BrokenProcessPool

    from langchain_core.documents import Document

    try:
        pairs = future.result(timeout=limits.parse_timeout_s)
    except FutureTimeout as exc:
        parser_pool(limits).kill()
        raise DocumentError(f"{check.name}: parsing took longer than {limits.parse_timeout_s:g} s and was stopped.",
                            hint="The file may be malformed or very large; split it or export it again.") from exc
    except BrokenProcessPool as exc:
        parser_pool(limits).kill()
        raise DocumentError(f"{check.name}: the parser crashed on this file (out of memory or malformed).",
                            hint="Export the document again or split it.") from exc
    except DocumentError:
        raise
    except (MemoryError, ImportError, OSError) as exc:  # the worker hit its memory cap
        parser_pool(limits).kill()
        raise DocumentError(f"{check.name}: parsing needed more than the {limits.parse_memory_mb} MB memory limit.",
                            hint="Split the document into smaller files.") from exc
    except Exception as exc:  # noqa: BLE001 - whatever else the worker raised is this file's error
        raise DocumentError(f"{check.name}: the file could not be read ({type(exc).__name__}).",
                            hint="Open it in its usual application, save it again and re-upload.") from exc
    return [Document(page_content=text, metadata=meta) for text, meta in pairs]


def parse_isolated(path: str | Path, check: FileCheck, limits: Limits = DEFAULT_LIMITS) -> list:
    """Parse one file in the limited worker process."""
    return collect_parsed(parser_pool(limits).submit(str(path), check, limits), check, limits)
