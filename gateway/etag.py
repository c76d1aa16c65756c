"""ETag / If-Match: a record's ``version`` is its ETag."""

from __future__ import annotations

from typing import Any

from crm_platform import wire
from crm_platform.errors import BadRequest
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """JSON rendered by :mod:`crm_platform.wire` (orjson): same text as the standard
    encoder gave for JSON values, a fraction of the CPU."""

    def render(self, content: Any) -> bytes:
        return wire.dumps(content)


def etag_json(body: Any, status: int = 200,
              headers: dict[str, str] | None = None) -> FastJSONResponse:
    out = dict(headers or {})
    if isinstance(body, dict) and isinstance(body.get("version"), int):
        out["ETag"] = f'"{body["version"]}"'
    return FastJSONResponse(body, status_code=status, headers=out)


def parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    raw = value.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequest("If-Match must be a record version such as \"3\"",
                         code="invalid_if_match") from exc
