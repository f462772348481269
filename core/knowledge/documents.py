"""Documents: what an uploaded file is, checked by its content before anything parses it.

Nothing here trusts a file name or an extension alone. A file is *checked* here (size cap,
magic bytes, NUL bytes, encoding, DOCX zip structure and XML declarations, PDF encryption) in
the calling process; `core.knowledge.parsing` then parses it in a limited worker process and
`core.knowledge.splitting` cuts it into chunks.
Every problem is a `DocumentError` that names the file and says what to do.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.runtime.errors import CrossroadsError

KINDS = ("pdf", "txt", "md", "docx", "html", "csv")
EXTENSIONS = {
    ".pdf": "pdf", ".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md",
    ".docx": "docx", ".html": "html", ".htm": "html", ".csv": "csv",
}
UPLOAD_TYPES = tuple(ext.lstrip(".") for ext in EXTENSIONS)
TEXT_KINDS = ("txt", "md", "html", "csv")

# Signatures of common binary formats, to name what a mislabelled file really is.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"), (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"\xd0\xcf\x11\xe0", "an old Office file (.doc/.xls)"),
)


class DocumentError(CrossroadsError):
    """A file cannot be ingested; `message` names the file and the problem."""


@dataclass(frozen=True)
class Limits:
    """Caps applied to every uploaded file (ours, not only Streamlit's upload limit)."""

    max_file_mb: float = field(default=50, metadata={"help": "Largest file accepted, in MB."})
    max_chars: int = field(default=5_000_000, metadata={"help": "Most text characters one file may yield."})
    max_csv_rows: int = field(default=200_000, metadata={"help": "Most rows a CSV file may have."})
    parse_timeout_s: float = field(default=120, metadata={"help": "Longest time parsing one file may take."})
    parse_memory_mb: int = field(default=2048, metadata={"help": "Address-space cap of the parser process."})
    docx_max_unzipped_mb: float = field(default=300, metadata={"help": "Largest total unzipped size of a DOCX."})
    docx_max_ratio: float = field(default=150, metadata={"help": "Largest compression ratio of one DOCX entry."})

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are split into chunks (stored with each knowledge base)."""

    size: int = field(default=400, metadata={"help": "Largest chunk, in characters or tokens."})
    overlap: int = field(default=120, metadata={"help": "How much consecutive chunks share (keeps sentences whole in some chunk)."})
    unit: str = field(default="chars", metadata={"help": "Measure chunks in characters or in embedder tokens."})

    def __post_init__(self):
        if self.unit not in ("chars", "tokens"):
            raise DocumentError(f"Chunk unit must be 'chars' or 'tokens', not {self.unit!r}.")
        low = 20 if self.unit == "chars" else 8
        high = 8000 if self.unit == "chars" else 512
        if not low <= self.size <= high:
            raise DocumentError(f"Chunk size {self.size} is out of range.", hint=f"Use {low}–{high} {self.unit}.")
        if not 0 <= self.overlap < self.size:
            raise DocumentError(f"Chunk overlap {self.overlap} must be at least 0 and below the chunk size {self.size}.")

    @property
    def signature(self) -> str:
        """Part of every chunk id: the same file split differently gets different ids."""
        return f"{self.unit[0]}{self.size}o{self.overlap}"

    def as_dict(self) -> dict:
        return {"size": self.size, "overlap": self.overlap, "unit": self.unit}

    @classmethod
    def from_dict(cls, data: dict | None) -> ChunkSettings:
        data = data or {}
        return cls(size=int(data.get("size", 400)), overlap=int(data.get("overlap", 120)),
                   unit=str(data.get("unit", "chars")))


@dataclass(frozen=True)
class FileCheck:
    """What the content check found out about a file."""

    name: str
    kind: str
    size: int
    sha256: str
    encoding: str | None = None


# ---------------------------------------------------------------- names and content checks

def safe_display_name(name: str, max_len: int = 120) -> str:
    """A file name fit for display and the manifest: no path, no control characters.

    It is never used to build a path (originals are stored under generated ids). A name is a
    file's identity in its knowledge base, so a shortened name ends in a hash of the whole name:
    two long names that differ only past the cut stay two files (the second no longer replaces
    the first and deletes its chunks), and the same name always shortens the same way.
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".").strip()
    name = re.sub(r"\s+", " ", name)
    if len(name) > max_len:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem, dot, ext = name.rpartition(".")
        ext = ext[:10] if dot else ""
        name = (stem if dot else name)[: max_len - len(ext) - 11] + "…" + digest + ("." + ext if ext else "")
    return name or "unnamed"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_text(data: bytes, name: str = "file") -> tuple[str, str]:
    """(text, encoding): BOMs first, then UTF-8, then a detected legacy encoding (cp1252 preferred)."""
    boms = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
            (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
    for bom, encoding in boms:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise DocumentError(f"{name}: the text claims {encoding} (byte-order mark) but does not decode.",
                                    hint="Save it again as UTF-8.") from exc
    if b"\x00" in data[:65536]:
        # UTF-16 without a BOM: every other byte NUL in ASCII-heavy text.
        even, odd = data[0:4096:2], data[1:4096:2]
        for zeros, encoding in ((odd, "utf-16-le"), (even, "utf-16-be")):
            if zeros and zeros.count(0) / len(zeros) > 0.9 and len(data) % 2 == 0:
                try:
                    return data.decode(encoding), encoding
                except UnicodeDecodeError:
                    break
        raise DocumentError(f"{name}: this is binary data, not text (it contains NUL bytes).",
                            hint="Upload a real text file, or the document in a supported format.")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    best = charset_normalizer.from_bytes(data[:200_000]).best()
    guess = (best.encoding if best else "") or ""
    latin = guess.startswith(("cp125", "iso8859", "latin", "mac_", "cp850", "cp437")) or not guess
    for encoding in (["cp1252"] if latin else []) + ([guess] if guess else []) + ["cp1252"]:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            continue
    raise DocumentError(f"{name}: the text encoding could not be recognised.", hint="Save it again as UTF-8.")


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    bad = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Co", "Cn") and ch not in "\n\r\t\f\v")
    return bad / len(sample) > 0.05


def _check_docx(data: bytes, name: str, limits: Limits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(f"{name}: the DOCX archive is damaged ({exc}).", hint="Open it in Word and save it again.") from exc
    names = [i.filename for i in infos]
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", info.filename):
            raise DocumentError(f"{name}: the DOCX contains an unsafe path ({info.filename!r}); it was refused.",
                                hint="Re-save the document from Word; do not upload archives from unknown sources.")
    total = sum(i.file_size for i in infos)
    if total > limits.docx_max_unzipped_mb * 1024 * 1024:
        raise DocumentError(f"{name}: the DOCX would unpack to {total / 1e6:.0f} MB (limit {limits.docx_max_unzipped_mb:.0f} MB); "
                            "it looks like a zip bomb and was refused.", hint="Upload a smaller document.")
    for info in infos:
        if info.compress_size and info.file_size / info.compress_size > limits.docx_max_ratio and info.file_size > 1_000_000:
            raise DocumentError(f"{name}: a DOCX entry is compressed {info.file_size / info.compress_size:.0f}:1 — "
                                "a zip bomb pattern; it was refused.", hint="Re-save the document from Word.")
    if "word/document.xml" not in names:
        raise DocumentError(f"{name}: this is a ZIP archive but not a Word document (no word/document.xml).",
                            hint="Upload a .docx saved by Word, LibreOffice or Google Docs.")
    for info in infos:
        if info.filename.startswith("word/") and info.filename.endswith(".xml"):
            with archive.open(info) as handle:
                _check_xml_part(handle, name, info.filename)


class _XMLDeclaration(Exception):
    pass


def _refuse_declaration(*_args) -> None:
    raise _XMLDeclaration


def _check_xml_part(handle, name: str, part: str) -> None:
    """Stream the whole part through expat and refuse any DOCTYPE or ENTITY declaration.

    A byte search of the first kilobytes misses a declaration padded past them; the parser sees
    the declaration wherever it is, and streaming keeps memory flat however long the part is.
    """
    import xml.parsers.expat

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.UnparsedEntityDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_declaration
    try:
        while block := handle.read(1 << 20):
            parser.Parse(block, False)
        parser.Parse(b"", True)
    except _XMLDeclaration:
        raise DocumentError(f"{name}: the DOCX carries an XML DOCTYPE/ENTITY declaration in {part} "
                            "(an XML attack pattern); it was refused.", hint="Re-save the document from Word.") from None
    except xml.parsers.expat.ExpatError as exc:
        raise DocumentError(f"{name}: the DOCX part {part} is not well-formed XML ({exc}).",
                            hint="Open it in Word and save it again.") from None


def _check_pdf(data: bytes, name: str) -> None:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        if encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported crypto also means "cannot open"
                opened = 0
            if not opened:
                raise DocumentError(f"{name}: the PDF is password-protected.",
                                    hint="Remove the password (print to PDF) and upload it again.")
        pages = len(reader.pages)
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError, RecursionError) as exc:
        raise DocumentError(f"{name}: the PDF is damaged or truncated ({type(exc).__name__}).",
                            hint="Open it in a PDF viewer and save or export it again.") from exc
    if pages == 0:
        raise DocumentError(f"{name}: the PDF has no pages (damaged or truncated).", hint="Export the PDF again.")


def check_bytes(data: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> FileCheck:
    """Decide a file's kind from its content (extension only picks among text formats)."""
    name = safe_display_name(name)
    size = len(data)
    if size == 0:
        raise DocumentError(f"{name}: the file is empty.", hint="Upload a file with content.")
    if size > limits.max_file_bytes:
        raise DocumentError(f"{name}: {size / 1024 / 1024:.1f} MB is over the {limits.max_file_mb:g} MB limit per file.",
                            hint="Split the document into smaller files.")
    ext = os.path.splitext(name)[1].lower()
    claimed = EXTENSIONS.get(ext)
    head = data[:16]
    if head.startswith(b"%PDF-") or (b"%PDF-" in data[:1024] and claimed == "pdf"):
        _check_pdf(data, name)
        return FileCheck(name, "pdf", size, sha256_bytes(data))
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        _check_docx(data, name, limits)
        return FileCheck(name, "docx", size, sha256_bytes(data))
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise DocumentError(f"{name}: the content is {what}, not a supported document.",
                                hint="Supported: PDF, DOCX, TXT, MD, HTML, CSV.")
    if claimed is None:
        raise DocumentError(f"{name}: the file type {ext or '(no extension)'} is not supported.",
                            hint="Supported: PDF, DOCX, TXT, MD, HTML, CSV.")
    if claimed in ("pdf", "docx"):
        raise DocumentError(f"{name}: named {ext} but the content is not a {claimed.upper()} file.",
                            hint="The file is mislabelled or damaged; export it again.")
    text, encoding = decode_text(data, name)
    if _looks_binary(text):
        raise DocumentError(f"{name}: this is binary data, not text.", hint="Upload a real text document.")
    if not text.strip():
        raise DocumentError(f"{name}: the file contains only whitespace.", hint="Upload a file with content.")
    kind = claimed
    if claimed == "txt" and re.match(r"\s*(<!doctype html|<html)", text[:500], re.IGNORECASE):
        kind = "html"
    return FileCheck(name, kind, size, sha256_bytes(data), encoding)


def check_file(path: Path, name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> FileCheck:
    """Check a file on disk (size is capped before anything is read)."""
    name = safe_display_name(name or Path(path).name)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise DocumentError(f"{name}: cannot be read ({exc.strerror}).") from exc
    if size > limits.max_file_bytes:
        raise DocumentError(f"{name}: {size / 1024 / 1024:.1f} MB is over the {limits.max_file_mb:g} MB limit per file.",
                            hint="Split the document into smaller files.")
    return check_bytes(Path(path).read_bytes(), name, limits)
