"""File checks, loaders and splitting: every bad input gets its own clear DocumentError."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.knowledge.documents import (
    DEFAULT_LIMITS,
    ChunkSettings,
    DocumentError,
    FileCheck,
    Limits,
    check_bytes,
    check_file,
    decode_text,
    safe_display_name,
)
from core.knowledge.parsing import parse_file, parse_isolated
from core.knowledge.splitting import preview_split, split_documents

DEMO = Path(__file__).resolve().parents[2] / "demo" / "docs"


# ---------------------------------------------------------------- builders for bad files

def make_pdf(text: str | None = "Hello PDF world. The answer is 42.", image_only: bool = False) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    if image_only:
        pdf.set_fill_color(200, 10, 10)
        pdf.rect(10, 10, 100, 60, style="F")  # a drawing, no text at all
    else:
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_docx(paragraphs=("Hello from DOCX.", "Second paragraph.")) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def rezip(data: bytes, extra: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, (replace or {}).get(info.filename, src.read(info.filename)))
        for name, payload in (extra or {}).items():
            dst.writestr(name, payload)
    return out.getvalue()


def check_and_parse(tmp_path: Path, data: bytes, name: str, limits: Limits = DEFAULT_LIMITS):
    check = check_bytes(data, name, limits)
    path = tmp_path / "stored-under-generated-id"
    path.write_bytes(data)
    return check, parse_isolated(path, check, limits)


# ---------------------------------------------------------------- good files

def test_demo_documents_all_parse(tmp_path):
    files = sorted(DEMO.glob("*"))
    assert len(files) >= 6
    kinds = set()
    for path in files:
        check = check_file(path)
        kinds.add(check.kind)
        docs = parse_isolated(path, check)
        assert docs and sum(len(d.page_content) for d in docs) > 200, path.name
    assert {"pdf", "docx", "html", "md", "txt", "csv"} <= kinds


def test_pdf_pages_are_numbered_from_one(tmp_path):
    check, docs = check_and_parse(tmp_path, make_pdf(), "a.pdf")
    assert check.kind == "pdf" and docs[0].metadata["page"] == 1
    assert "answer is 42" in docs[0].page_content


def test_html_drops_scripts_and_keeps_text(tmp_path):
    html = b"<html><head><title>T</title><script>var secret='SCRIPTTEXT'</script></head><body><p>Visible words</p></body></html>"
    check, docs = check_and_parse(tmp_path, html, "page.html")
    assert check.kind == "html"
    assert "Visible words" in docs[0].page_content and "SCRIPTTEXT" not in docs[0].page_content


def test_csv_rows_become_documents_with_row_numbers(tmp_path):
    check, docs = check_and_parse(tmp_path, b"code,price\nA1,10\nB2,20\n", "prices.csv")
    assert [d.metadata["row"] for d in docs] == [1, 2]
    assert "price: 20" in docs[1].page_content


def test_cp1252_text_is_decoded_correctly(tmp_path):
    text = "Café crème — “quoted” price €12, naïve résumé; the Gauß façade."
    check, docs = check_and_parse(tmp_path, text.encode("cp1252"), "legacy.txt")
    assert check.encoding == "cp1252"
    assert docs[0].page_content == text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_utf16_and_bom_text_is_decoded_correctly(tmp_path, encoding):
    text = "Zürich Ærøskøbing 東京 — über alles\nsecond line"
    data = text.encode(encoding)
    check, docs = check_and_parse(tmp_path, data, "wide.md")
    assert check.kind == "md"
    assert docs[0].page_content == text


# ---------------------------------------------------------------- bad files (one test each)

def test_malformed_pdf(tmp_path):
    with pytest.raises(DocumentError, match=r"bad\.pdf.*(damaged|truncated)"):
        check_and_parse(tmp_path, b"%PDF-1.7\nthis is not really a pdf\n%%EOF", "bad.pdf")


def test_truncated_pdf(tmp_path):
    data = (DEMO / "employee_handbook.pdf").read_bytes()
    with pytest.raises(DocumentError, match=r"cut\.pdf"):
        check_and_parse(tmp_path, data[: len(data) // 3], "cut.pdf")


def test_encrypted_pdf(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf())).pages:
        writer.add_page(page)
    writer.encrypt(user_password="s3cret", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(DocumentError, match="password-protected") as err:
        check_and_parse(tmp_path, buf.getvalue(), "locked.pdf")
    assert "locked.pdf" in err.value.message and err.value.hint


def test_image_only_pdf(tmp_path):
    with pytest.raises(DocumentError, match=r"scan\.pdf.*no extractable text") as err:
        check_and_parse(tmp_path, make_pdf(image_only=True), "scan.pdf")
    assert "OCR" in err.value.hint


def test_docx_zip_bomb(tmp_path):
    bomb = rezip(make_docx(), extra={"word/media/bomb.bin": b"\0" * 20_000_000})
    assert len(bomb) < 200_000
    with pytest.raises(DocumentError, match="zip bomb"):
        check_bytes(bomb, "bomb.docx")


def test_docx_zip_bomb_by_total_size(tmp_path):
    bomb = rezip(make_docx(), extra={"word/media/a.bin": b"\0" * 3_000_000})
    with pytest.raises(DocumentError, match="zip bomb"):
        check_bytes(bomb, "bomb.docx", Limits(docx_max_unzipped_mb=1, docx_max_ratio=1e9))


def test_docx_with_dotdot_entry(tmp_path):
    evil = rezip(make_docx(), extra={"../../evil.txt": b"pwned"})
    with pytest.raises(DocumentError, match="unsafe path"):
        check_bytes(evil, "evil.docx")
    assert not (tmp_path.parent / "evil.txt").exists()


def test_docx_with_doctype(tmp_path):
    doc = make_docx()
    xml = zipfile.ZipFile(io.BytesIO(doc)).read("word/document.xml")
    hostile = xml.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>', 1)
    with pytest.raises(DocumentError, match="DOCTYPE"):
        check_bytes(rezip(doc, replace={"word/document.xml": hostile}), "xxe.docx")


@pytest.mark.parametrize("padding", [b"<!--" + b"x" * 10_000 + b"-->", b" " * 5000, b"<?pi " + b"y" * 8000 + b"?>"])
def test_docx_with_a_doctype_padded_past_the_first_kilobytes(tmp_path, padding):
    doc = make_docx()
    xml = zipfile.ZipFile(io.BytesIO(doc)).read("word/document.xml")
    hostile = xml.replace(b"?>", b"?>" + padding + b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>', 1)
    with pytest.raises(DocumentError, match="DOCTYPE"):
        check_bytes(rezip(doc, replace={"word/document.xml": hostile}), "padded.docx")


def test_docx_with_a_broken_xml_part(tmp_path):
    doc = make_docx()
    with pytest.raises(DocumentError, match="not well-formed XML"):
        check_bytes(rezip(doc, replace={"word/styles.xml": b"<w:styles><unclosed>"}), "broken.docx")


_ORPHAN = """
import sys, time
from pathlib import Path
from core.knowledge.documents import check_file
from core.knowledge.parsing import parse_isolated, parser_pool
path = Path(sys.argv[1])
parse_isolated(path, check_file(path))
print(*parser_pool()._get()._processes, flush=True)
time.sleep(600)
"""


def test_the_parser_worker_dies_with_its_parent(tmp_path):
    """kill -9 of the app must not leave a parser process behind (it watches its parent's pipe)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    doc = tmp_path / "a.txt"
    doc.write_text("hello worker")
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN, str(doc)], cwd=DEMO.parents[1],
                              stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers and all(psutil.pid_exists(pid) for pid in workers)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 60
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.2)
    assert not alive, f"parser worker(s) {alive} outlived their parent"


def test_zip_that_is_not_a_docx(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(DocumentError, match="not a Word document"):
        check_bytes(buf.getvalue(), "archive.docx")


def test_good_docx_parses(tmp_path):
    check, docs = check_and_parse(tmp_path, make_docx(), "ok.docx")
    assert check.kind == "docx" and "Second paragraph" in docs[0].page_content


def test_binary_named_txt(tmp_path):
    import random

    rng = random.Random(1)
    data = bytes(rng.randrange(256) for _ in range(4096))
    with pytest.raises(DocumentError, match=r"notes\.txt.*binary"):
        check_bytes(data, "notes.txt")


def test_png_named_txt_is_named(tmp_path):
    with pytest.raises(DocumentError, match="PNG image"):
        check_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "photo.txt")


def test_text_named_pdf(tmp_path):
    with pytest.raises(DocumentError, match="not a PDF"):
        check_bytes(b"just some text", "fake.pdf")


def test_empty_file(tmp_path):
    with pytest.raises(DocumentError, match=r"empty\.md.*empty"):
        check_bytes(b"", "empty.md")
    with pytest.raises(DocumentError, match="only whitespace"):
        check_bytes(b"  \n\t\n", "blank.txt")


def test_oversized_file(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * 1000)
    with pytest.raises(DocumentError, match="over the .* limit"):
        check_file(path, limits=Limits(max_file_mb=0.001))


def test_unsupported_extension(tmp_path):
    with pytest.raises(DocumentError, match="not supported"):
        check_bytes(b"plain text", "script.exe")


def test_csv_with_huge_field(tmp_path):
    data = b'id,text\n1,"' + b"x" * 150_000 + b'"\n'
    with pytest.raises(DocumentError, match=r"huge\.csv.*row 2") as err:
        check_and_parse(tmp_path, data, "huge.csv")
    assert "131,072" in err.value.hint


def test_csv_with_too_many_rows(tmp_path):
    data = b"a,b\n" + b"1,2\n" * 50
    with pytest.raises(DocumentError, match="more than 10 rows"):
        check_and_parse(tmp_path, data, "rows.csv", Limits(max_csv_rows=10))


def test_parse_timeout_kills_the_worker_and_recovers(tmp_path):
    data = b"hello world " * 100
    with pytest.raises(DocumentError, match="longer than"):
        check_and_parse(tmp_path, data, "slow.txt", Limits(parse_timeout_s=0.01, parse_memory_mb=2049))
    # the pool is replaced: the next file parses fine
    _, docs = check_and_parse(tmp_path, data, "fine.txt", Limits(parse_memory_mb=2049))
    assert docs


def test_parse_memory_limit_gives_a_clear_error(tmp_path):
    with pytest.raises(DocumentError, match=r"mem\.txt"):
        check_and_parse(tmp_path, b"hello " * 100, "mem.txt", Limits(parse_memory_mb=64))


@pytest.mark.parametrize("hostile", [
    "../../etc/passwd.txt", "..\\..\\windows\\win.ini.txt", "/abs/path/x.md", "<script>alert(1)</script>.md",
    "con\x00trol\nname\r.txt", "a" * 500 + ".txt", "...", "", "\u202eevil\u202dtxt.md",
])
def test_hostile_names_are_sanitised(hostile):
    name = safe_display_name(hostile)
    assert "/" not in name and "\\" not in name and "\x00" not in name and "\n" not in name
    assert "\u202e" not in name
    assert 0 < len(name) <= 120


# ---------------------------------------------------------------- splitting

def test_split_records_chunk_index_and_start():
    from langchain_core.documents import Document

    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = split_documents([Document(page_content=text, metadata={"page": 3})], ChunkSettings(300, 50))
    assert len(chunks) > 5
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    assert all(len(c.page_content) <= 300 and c.metadata["page"] == 3 for c in chunks)
    assert chunks[1].metadata["start_index"] > 0


def test_preview_by_tokens_uses_a_tokenizer():
    from transformers import AutoTokenizer

    from core.runtime.models import embedder_path

    tok = AutoTokenizer.from_pretrained(str(embedder_path()), local_files_only=True)
    parts = preview_split("word " * 400, ChunkSettings(64, 8, "tokens"), tokenizer=tok)
    assert len(parts) >= 6
    assert all(len(tok.encode(p, add_special_tokens=False)) <= 64 for p in parts)


@pytest.mark.parametrize("bad", [dict(size=5), dict(size=500, overlap=500), dict(unit="words"), dict(overlap=-1)])
def test_chunk_settings_are_validated(bad):
    with pytest.raises(DocumentError):
        ChunkSettings(**bad)


# ---------------------------------------------------------------- fuzzing

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048), ext=st.sampled_from([".txt", ".md", ".csv", ".html", ".pdf", ".docx", ".bin"]))
def test_check_bytes_never_crashes(data, ext):
    try:
        check = check_bytes(data, "fuzz" + ext)
    except DocumentError as exc:
        assert exc.message.startswith("fuzz")
        return
    assert isinstance(check, FileCheck)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=1024), ext=st.sampled_from([".txt", ".csv", ".html", ".md"]))
def test_text_parsers_never_crash(tmp_path, data, ext):
    try:
        check = check_bytes(data, "fuzz" + ext)
    except DocumentError:
        return
    path = tmp_path / "f"
    path.write_bytes(data)
    try:
        docs = parse_file(path, check)
    except DocumentError:
        return
    assert all(d.page_content.strip() for d in docs)


def test_decode_text_prefers_utf8():
    assert decode_text("naïve".encode()) == ("naïve", "utf-8")
