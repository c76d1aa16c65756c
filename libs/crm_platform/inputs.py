"""What clients send: the base of every request body and the constraints every stored
value needs, written once for the gateway and the services.

A value the database cannot hold must be refused as a 422 before anything is written:
PostgreSQL's text cannot contain NUL, UTF-8 cannot encode a lone surrogate (JSON's
``"\\ud800"``), and ``NUMERIC(18, 2)`` columns overflow past 16 integer digits. Each of
these reached the database as a 500 or 502 before (found by schemathesis against the
OpenAPI document).

A field that may be left out of an update but never cleared is typed without ``None``
and defaults to ``None`` (pydantic does not validate defaults): leaving it out keeps
the stored value, an explicit ``null`` is a 422.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

# NUL, and a surrogate code point that is not half of a pair (Python keeps pairs from
# JSON as one code point, so any surrogate left is unpaired)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_INT64 = (-(2 ** 63), 2 ** 63 - 1)

# a money amount as a NUMERIC(18, 2) column holds it (finite, at most 16 integer digits)
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2, allow_inf_nan=False)]
# another record's id as a body or a query names it: the columns keeping ids are
# String(36), and an empty id is no id
Ref = Annotated[str, Field(min_length=1, max_length=36)]


def phone_problem(text: str) -> str | None:
    """What makes ``text`` no phone number as typed, or None. Letters are refused, not
    dropped: a parser reads 400-FLOWERS as keypad digits and skips "ext" and 转, so a
    number with letters would be stored as some other number."""
    letters = "".join(ch for ch in unicodedata.normalize("NFKC", text)
                      if unicodedata.category(ch).startswith("L"))
    return f"a phone number has no letters (found {letters!r})" if letters else None


def _phone(value: str) -> str:
    problem = phone_problem(value)
    if problem:  # the field error's type names it as the services' own check does
        raise PydanticCustomError("invalid_phone", problem)
    return value


# a phone number as a client types it (spaces, dashes, +86 allowed; letters refused)
Phone = Annotated[str, Field(max_length=40), AfterValidator(_phone)]


def unstorable(value: Any) -> str | None:
    """What is wrong with the first value inside ``value`` (strings, numbers, lists,
    tuples, dicts' keys and values) that the platform cannot carry or store, or None.

    Typed fields are bounded by their own constraints; this catches what free-form
    values (custom attributes, segment conditions) hold: an integer past 64 bits cannot
    be put on the wire (orjson refuses it, a 500), and a NaN or Infinity would travel
    as ``null``, silently changing what the client sent."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is None:
            return None
        return ("text contains a NUL character" if found.group() == "\x00"
                else "text contains an unpaired surrogate (not valid Unicode text)")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if _INT64[0] <= value <= _INT64[1] else "number is past 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "number is not finite"
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        return None
    for item in items:
        problem = unstorable(item)
        if problem:
            return problem
    return None


def kept(**constraints: Any) -> Any:
    """A field of an update that may be left out but never cleared (its column is NOT
    NULL): ``Field(None, ...)`` on a type without None. Pydantic does not validate the
    default, so leaving the field out keeps the stored value and ``null`` is a 422. Typed
    Any because mypy (pydantic's plugin) reads ``Field(None)`` as None put in a ``str``."""
    return Field(None, **constraints)


class Strict(BaseModel):
    """A request body or query: unknown fields are refused, strings are stripped, and no
    value anywhere in it may be one the platform cannot carry or store. A time must say
    its offset (``Z``, ``+08:00``) and is kept in UTC from here on, so a record shows the
    same time in the reply to its creation as in every later read (``crm_platform.wire``
    describes the one form times take)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = unstorable(value)
        if problem:
            raise ValueError(problem)
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError("a time needs its UTC offset, e.g. 2026-12-01T09:30:00+08:00 "
                                 "or 2026-12-01T01:30:00Z")
            return value.astimezone(UTC)
        return value
