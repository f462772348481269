"""The demo workspace (demo/) is complete, consistent and reproducible."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo"
DOCS = DEMO / "docs"
REQUIRED_FORMATS = {".pdf", ".docx", ".html", ".md", ".txt", ".csv"}


def _norm(text: str) -> str:
    """Lower-case and collapse whitespace (PDF text wraps lines)."""
    return re.sub(r"\s+", " ", text).strip().lower()


def extract_text(path: Path) -> str:
    """Text of a demo document, read the way the app's loaders read it."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    if suffix == ".docx":
        import docx2txt

        return docx2txt.process(str(path))
    if suffix in {".html", ".htm"}:
        from bs4 import BeautifulSoup

        return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text(" ")
    return path.read_text(encoding="utf-8")


def _docs() -> list[Path]:
    return sorted(p for p in DOCS.iterdir() if p.is_file() and not p.name.startswith("."))


def _jsonl(name: str) -> list[dict]:
    lines = (DEMO / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def doc_texts() -> dict[str, str]:
    return {p.name: _norm(extract_text(p)) for p in _docs()}


def test_docs_count_and_formats():
    docs = _docs()
    assert 8 <= len(docs) <= 12, [p.name for p in docs]
    assert REQUIRED_FORMATS <= {p.suffix.lower() for p in docs}


def test_docs_are_ascii_and_substantial(doc_texts):
    for path in _docs():
        if path.suffix.lower() not in {".pdf", ".docx"}:
            assert path.read_bytes().isascii(), path.name
    for name, text in doc_texts.items():
        words = len(re.findall(r"[a-z0-9]+", text))
        assert 300 <= words <= 1500, (name, words)


def test_handbook_pdf_has_several_pages():
    from pypdf import PdfReader

    assert len(PdfReader(str(DOCS / "employee_handbook.pdf")).pages) >= 2


def test_qa_schema_and_counts():
    train, test = _jsonl("qa_train.jsonl"), _jsonl("qa_test.jsonl")
    assert len(train) >= 60 and len(test) >= 30
    assert len(train) + len(test) >= 80
    names = {p.name for p in _docs()}
    for row in train + test:
        assert set(row) == {"question", "answer", "source"}, row
        assert all(isinstance(v, str) and v.strip() for v in row.values()), row
        assert row["source"] in names, row
        assert 1 <= len(row["answer"].split()) <= 5, row
    # every document is asked about
    assert {r["source"] for r in train} == names


def test_qa_answers_verbatim_in_source(doc_texts):
    rows = _jsonl("qa_train.jsonl") + _jsonl("qa_test.jsonl")
    missing = [r for r in rows if _norm(r["answer"]) not in doc_texts[r["source"]]]
    assert not missing, missing


def test_no_test_question_in_train():
    train_q = {_norm(r["question"]) for r in _jsonl("qa_train.jsonl")}
    test_q = [_norm(r["question"]) for r in _jsonl("qa_test.jsonl")]
    assert not train_q.intersection(test_q)
    assert len(set(test_q)) == len(test_q)
    assert len(train_q) == len(_jsonl("qa_train.jsonl"))


def test_test_split_mixes_paraphrases_and_unseen_facts():
    train_answers = {_norm(r["answer"]) for r in _jsonl("qa_train.jsonl")}
    test = _jsonl("qa_test.jsonl")
    seen = sum(_norm(r["answer"]) in train_answers for r in test)
    # about half paraphrase a trained fact, the rest ask about facts never trained on
    assert 0.35 * len(test) <= seen <= 0.65 * len(test), (seen, len(test))


def test_tickets():
    with (DEMO / "tickets.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["text", "label"]
        rows = list(reader)
    assert len(rows) >= 150
    texts = [r["text"].strip() for r in rows]
    assert all(texts) and len(set(t.lower() for t in texts)) == len(texts)
    counts = Counter(r["label"] for r in rows)
    assert 3 <= len(counts) <= 5, counts
    assert min(counts.values()) >= 20, counts
    assert max(counts.values()) <= 2 * min(counts.values()), counts


def _generate(out_dir: Path) -> list[Path]:
    proc = subprocess.run(
        [sys.executable, str(DEMO / "make_demo.py"), str(out_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(p for p in out_dir.iterdir() if p.suffix in {".pdf", ".docx"})


def test_make_demo_is_reproducible(tmp_path):
    first = _generate(tmp_path / "a")
    second = _generate(tmp_path / "b")
    assert {p.suffix for p in first} == {".pdf", ".docx"}
    assert [p.name for p in first] == [p.name for p in second]
    for one, two in zip(first, second, strict=True):
        # deterministic: two runs give the same bytes
        assert one.read_bytes() == two.read_bytes(), one.name
        # the committed file matches its source (text-identical; bytes may differ
        # only if fpdf2 / python-docx changed version)
        committed = DOCS / one.name
        assert committed.exists(), one.name
        assert _norm(extract_text(one)) == _norm(extract_text(committed)), (
            f"{one.name} is stale: run python demo/make_demo.py"
        )
