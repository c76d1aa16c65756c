"""What a file's bytes are and how they go out (DOC-02, DOC-07): the content type from
the bytes themselves, HTTP byte ranges, the download's file name, and the text a search
matches against."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

import filetype

OCTET_STREAM = "application/octet-stream"
TEXT_PLAIN = "text/plain; charset=utf-8"
SNIFF_BYTES = 8192
# types whose text a search can read (``textextract``)
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def sniff(head: bytes, declared: str | None = None) -> str:
    """The type the first bytes show (magic numbers); UTF-8 text without them is
    text/plain; otherwise what the client declared, else octet-stream. The client's word
    is the last resort: a file named .pdf holding an executable is not a PDF."""
    kind = filetype.guess(head) if head else None
    if kind is not None:
        return str(kind.mime)
    if head and _utf8_text(head):
        return TEXT_PLAIN
    if declared and "/" in declared and not declared.startswith(("text/", "application/pdf")):
        return declared.split(";")[0].strip().lower()
    return OCTET_STREAM


def _utf8_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # a character cut at the end of the sample is still text
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class UnsatisfiableRange(Exception):
    """416: the range starts past the end of the file."""


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range of a ``Range`` header (RFC 9110 §14.1.2), or None for the
    whole file: no header, another unit, several ranges or a malformed one (a server
    may ignore Range). A range past the end raises :class:`UnsatisfiableRange`."""
    if not header:
        return None
    found = _RANGE.match(header)
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise UnsatisfiableRange()
        return ByteRange(max(0, size - suffix), size - 1) if size else None
    start = int(first)
    if start >= size:
        raise UnsatisfiableRange()
    end = int(last) if last else size - 1
    if end < start:
        return None
    return ByteRange(start, min(end, size - 1))


def content_disposition(filename: str, inline: bool = False) -> str:
    """RFC 6266 with RFC 8187's ``filename*``: every client gets the UTF-8 name (合同.pdf),
    old ones an ASCII stand-in; quotes, backslashes and control characters cannot break
    out of the header."""
    kind = "inline" if inline else "attachment"
    cleaned = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C") or "file"
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else "_"
                       for ch in cleaned)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def safe_filename(name: str | None) -> str:
    """A file name as stored: no path, no control characters, at most 255 characters.
    Nothing on disk is named by it (blobs are stored by checksum); it is cleaned so that
    the name a client saves the download under cannot climb out of its folder either:
    a name that is only dots (``..``) becomes ``file``."""
    base = "".join(ch for ch in (name or "") if unicodedata.category(ch)[0] != "C")
    base = base.replace("\\", "/").rsplit("/", 1)[-1].strip()[:255]
    return base if base.strip(".") else "file"


def searchable(*parts: str | None) -> str:
    """The form titles, tags, metadata and extracted text are matched in: NFKC (full-width
    letters and digits as ASCII), lower case, whitespace runs as one space."""
    text = " ".join(p for p in parts if p)
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def search_terms(q: str | None) -> list[str]:
    """Every term must occur; Chinese needs no word breaks (a term matches inside a run
    of characters)."""
    return [t for t in searchable(q).split(" ") if t][:10]
