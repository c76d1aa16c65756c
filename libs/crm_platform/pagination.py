"""The one way lists page, for every service and the gateway: a list's query model
extends :class:`PageQuery` (``limit`` 1 … ``MAX_LIMIT`` and an opaque ``cursor``), its
response extends :class:`Page` (``items`` + ``next_cursor``, null on the last page), and
:func:`keyset_page` reads a page by its sort key, so walking the cursor returns every
row exactly once. The cursor encodes the last row's sort key."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from crm_platform.errors import BadRequest
from crm_platform.inputs import Strict

MAX_LIMIT = 500
DEFAULT_LIMIT = 50

T = TypeVar("T")


class PageQuery(Strict):
    """What every list operation takes; a list's filters are its subclass's fields.
    Strict: an unknown parameter is refused rather than ignored."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT,
                       description=f"rows per page, 1 … {MAX_LIMIT}")
    cursor: str | None = Field(None, max_length=2000,
                               description="the previous page's next_cursor")


def one_or_more(value: str | None, allowed: Sequence[str], what: str = "statuses"
                ) -> str | None:
    """A filter that takes one or more values, comma-separated (``status=new,open``), as
    every list's status filter does: the values, checked, comma-joined; a
    ``field_validator`` raises a 422 naming the allowed ones."""
    if value is None:
        return None
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    if not wanted or set(wanted) - set(allowed):
        raise ValueError(f"{what} are {', '.join(allowed)}")
    return ",".join(wanted)


class Page(BaseModel, Generic[T]):
    """A page of a list; a list's response is ``class XPage(Page[X])``."""

    items: list[T]
    next_cursor: str | None = Field(None, description="the next page's cursor; null on "
                                    "the last page")


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *kinds: type) -> list[Any] | None:
    """The key a cursor carries; given ``kinds``, one part per kind — ``datetime`` (ISO
    8601 with its offset), ``date``, ``int`` or ``str`` — converted. A cursor that is not
    one of ours (edited, truncated, from another list) is a 400, never a failure further
    down."""
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
    if kind is date:
        return date.fromisoformat(part)
    if kind is int:
        if isinstance(part, bool) or not isinstance(part, int | str):
            raise TypeError("not an integer")
        return int(part)
    if not isinstance(part, str):
        raise TypeError("not a string")
    return part


def clamp_limit(limit: int | None, default: int = DEFAULT_LIMIT) -> int:
    """A page size from a query given as a dict (a :class:`PageQuery` has checked it)."""
    if limit is None:
        return default
    if limit < 1:
        raise BadRequest("limit must be at least 1", code="invalid_limit")
    return min(limit, MAX_LIMIT)


def _kind(column: Any) -> type:
    """The Python type of a key column's values; a TypeDecorator's is its impl's."""
    sql_type = getattr(column.type, "impl_instance", column.type)
    try:
        python_type = sql_type.python_type
    except (AttributeError, NotImplementedError):
        return str
    for kind in (datetime, date, int):  # datetime before date: it is one
        if issubclass(python_type, kind) and python_type is not bool:
            return kind
    return str


def _wire(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def keyset_page(s: Session, query: Select[Any], limit: int | None, cursor: str | None,
                key: Sequence[Any], *, descending: bool = False, rows: bool = False
                ) -> tuple[list[Any], str | None]:
    """One page of ``query`` ordered by ``key`` (columns whose values together are unique
    and never null: end with the id) and the cursor of the next page (None on the last).
    ``rows``: the query selects columns (``key`` among them, by name), not an entity."""
    size = clamp_limit(limit)
    after = decode_cursor(cursor, *(_kind(column) for column in key))
    if after:
        # (k1, k2, …) past the cursor's key, spelled out: k1 past, or k1 equal and k2
        # past, … (row-value comparison is not portable to SQLite's older versions)
        branches = []
        for i, column in enumerate(key):
            past = column < after[i] if descending else column > after[i]
            branches.append(and_(*(key[j] == after[j] for j in range(i)), past))
        query = query.where(or_(*branches))
    order = [column.desc() for column in key] if descending else list(key)
    ordered = query.order_by(*order).limit(size + 1)
    found = list(s.execute(ordered).all() if rows else s.scalars(ordered))
    more = len(found) > size
    found = found[:size]
    next_cursor = encode_cursor([_wire(getattr(found[-1], column.key)) for column in key]) \
        if more and found else None
    return found, next_cursor
