"""Opaque cursors for keyset pagination: the cursor encodes the last row's sort key."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from crm_platform.errors import BadRequest

MAX_LIMIT = 500


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *kinds: type) -> list[Any] | None:
    """The key a cursor carries; given ``kinds``, one part per kind — ``datetime`` (ISO
    8601 with its offset), ``int`` or ``str`` — converted. A cursor that is not one of
    ours (edited, truncated, from another list) is a 400, never a failure further down."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, list) or (kinds and len(value) != len(kinds)):
            raise ValueError("not a key of this list")
        if not kinds:
            return value
        return [_key_part(kind, part) for kind, part in zip(kinds, value, strict=True)]
    except (ValueError, TypeError) as exc:
        raise BadRequest("malformed cursor", code="invalid_cursor") from exc


def _key_part(kind: type, part: Any) -> Any:
    if kind is datetime:
        at = datetime.fromisoformat(part)
        if at.tzinfo is None:
            raise ValueError("a cursor time carries its offset")
        return at
    if kind is int:
        if isinstance(part, bool) or not isinstance(part, int | str):
            raise TypeError("not an integer")
        return int(part)
    if not isinstance(part, str):
        raise TypeError("not a string")
    return part


def clamp_limit(limit: int | None, default: int = 50) -> int:
    if limit is None:
        return default
    if limit < 1:
        raise BadRequest("limit must be at least 1", code="invalid_limit")
    return min(limit, MAX_LIMIT)


def keyset_page(s: Session, query: Select[Any], model: Any, limit: int | None,
                cursor: str | None, *, newest_first: bool = True
                ) -> tuple[list[Any], str | None]:
    """One page of ``query`` ordered by (``created_at``, ``id``) and the cursor of the next
    page (None on the last)."""
    size = clamp_limit(limit)
    created, ident = model.created_at, model.id
    key = decode_cursor(cursor, datetime, str)
    if key:
        at, after = key
        if newest_first:
            query = query.where(or_(created < at, and_(created == at, ident < after)))
        else:
            query = query.where(or_(created > at, and_(created == at, ident > after)))
    order = (created.desc(), ident.desc()) if newest_first else (created, ident)
    rows = list(s.scalars(query.order_by(*order).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id]) \
        if more and rows else None
    return rows, next_cursor
