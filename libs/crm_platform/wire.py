"""JSON between the gateway and the services — RPC requests and replies, HTTP response
bodies — written by orjson (the standard library's encoder and decoder were a sixth of
the gateway's and a tenth of a service's CPU on a 50-row page).

Values come out as pydantic's JSON mode writes them, so a use case may return stored
values as they are: decimals as strings (``Decimal("12.50")`` → ``"12.50"``), UUIDs as
strings, and datetimes in the platform's one form of a time: RFC 3339 in UTC with ``Z``,
with the fraction of a second when there is one (``2026-12-01T01:30:00Z``,
``2026-12-01T01:30:00.250000Z``). Times arrive in any offset (``crm_platform.inputs``
turns them to UTC) and are stored in UTC, so every response, event and export shows
them in UTC; text written by hand (a CSV cell) uses :func:`timestamp`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z

loads = orjson.loads


def _fallback(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def timestamp(value: datetime) -> str:
    """A time as JSON shows it (see above), for text written outside JSON."""
    if value.tzinfo is None:
        raise ValueError("a time without its UTC offset")
    return orjson.dumps(value.astimezone(UTC), option=_OPTIONS)[1:-1].decode()


def dumps(value: Any) -> bytes:
    """UTF-8 JSON, compact; raises ``TypeError`` for a value with no JSON form."""
    return orjson.dumps(value, default=_fallback, option=_OPTIONS)


# A successful RPC reply starts with these bytes (the reply channel writes ``error``
# first), so a caller that only forwards the result can slice it out unparsed.
REPLY_OK_PREFIX = b'{"error":null,"result":'


def rpc_reply(result: Any, error: Any) -> bytes:
    """nameko's reply body ``{"error": ..., "result": ...}``."""
    return dumps({"error": error, "result": result})


def raw_result(reply: bytes) -> bytes | None:
    """The result's JSON text of a successful reply written by :func:`rpc_reply`, or
    ``None`` when the reply must be parsed (an error, or another writer)."""
    if reply.startswith(REPLY_OK_PREFIX) and reply.endswith(b"}"):
        return reply[len(REPLY_OK_PREFIX):-1]
    return None
