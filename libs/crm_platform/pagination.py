"""Opaque cursors for keyset pagination: the cursor encodes the last row's sort key."""

from __future__ import annotations

import base64
import json
from typing import Any

from crm_platform.errors import BadRequest

MAX_LIMIT = 500


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadRequest("malformed cursor", code="invalid_cursor") from exc
    if not isinstance(value, list):
        raise BadRequest("malformed cursor", code="invalid_cursor")
    return value


def clamp_limit(limit: int | None, default: int = 50) -> int:
    if limit is None:
        return default
    if limit < 1:
        raise BadRequest("limit must be at least 1", code="invalid_limit")
    return min(limit, MAX_LIMIT)
