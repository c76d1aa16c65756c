"""Text of a stored file for search (DOC-07): PDF (pypdf), DOCX (python-docx), plain
text. A file that cannot be read as its type gives no text rather than an error: the
version is stored either way, and a search simply does not find words inside it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

from services.docs.domain.content import DOCX, PDF, TEXT_PLAIN

log = logging.getLogger(__name__)
MAX_TEXT = 1_000_000  # characters kept per version


def extractable(content_type: str) -> bool:
    return content_type in (PDF, DOCX) or content_type.startswith("text/")


def extract(content_type: str, chunks: Iterable[bytes]) -> str:
    raw = b"".join(chunks)  # only files under the extraction limit come here
    try:
        if content_type == PDF:
            return _pdf(raw)[:MAX_TEXT]
        if content_type == DOCX:
            return _docx(raw)[:MAX_TEXT]
        if content_type == TEXT_PLAIN or content_type.startswith("text/"):
            return raw.decode("utf-8", "replace")[:MAX_TEXT]
    except Exception as exc:  # a damaged file: stored, not searchable inside
        log.warning("no text from a %s file: %s", content_type, exc)
    return ""


def _pdf(raw: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(raw))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _docx(raw: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(raw))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)
