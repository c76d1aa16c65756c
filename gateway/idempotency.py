"""``Idempotency-Key`` on POST: the first request's response is stored and replayed.

- same key, same request → the stored response again (header ``Idempotent-Replayed``);
- same key, different request → 422 ``idempotency_key_reused``;
- same key while the first is still running → 409 ``idempotency_in_progress``.
Only successful responses are stored, so a failed request can be retried with its key.
The services keep the answer of a call made under a key too (``call_key``): a request
whose answer the gateway lost (a time-out, a broken connection) is retried with its key
and answered from there, never applied twice.
A slot left "in progress" by a crash is taken over after ``STALE_AFTER``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_platform.errors import Conflict, ValidationFailed
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from gateway.db.models import IdempotencyRecord
from gateway.etag import etag_json
from gateway.principal import Principal

STALE_AFTER = timedelta(seconds=120)
HEADER = "Idempotency-Key"


async def idempotent(
    request: Request, principal: Principal, status: int,
    work: Callable[[], Awaitable[Any]],
) -> JSONResponse:
    key = request.headers.get(HEADER)
    if not key:
        return _respond(request, await work(), status)
    if len(key) > 200:
        raise ValidationFailed("Idempotency-Key is at most 200 characters",
                               code="invalid_idempotency_key")
    rt = request.app.state.runtime
    digest = await _digest(request)
    stored = await run_in_threadpool(_claim, rt.sessions, principal.key, key, digest)
    if stored is not None:
        return stored
    try:
        result = await work()
    except BaseException:
        await run_in_threadpool(_release, rt.sessions, principal.key, key)
        raise
    response = _respond(request, result, status)
    await run_in_threadpool(_complete, rt.sessions, principal.key, key, status, result,
                            dict(response.headers))
    return response


async def _digest(request: Request) -> str:
    body = await request.body()
    return hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()


async def call_key(request: Request, principal: Principal, key: str) -> str:
    """How the services know a call made under ``key`` (they keep its answer, so that
    the call made again after its answer was lost is applied once): the caller, the key
    and the request, hashed — the same key from another caller or for another request is
    another call."""
    digest = await _digest(request)
    return hashlib.sha256(f"{principal.key}\n{key}\n{digest}".encode()).hexdigest()


def _respond(request: Request, result: Any, status: int) -> JSONResponse:
    if isinstance(result, dict) and isinstance(result.get("id"), str):
        request.state.resource_id = result["id"]  # for the audit trail
    return etag_json(result, status)


def _claim(sessions: Any, principal: str, key: str, digest: str) -> JSONResponse | None:
    with sessions() as s:
        try:
            s.add(IdempotencyRecord(principal=principal, key=key, request_hash=digest))
            s.commit()
            return None
        except IntegrityError:
            s.rollback()
        record = s.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal, IdempotencyRecord.key == key))
        if record is None:  # released meanwhile: the caller may simply retry
            raise Conflict("a request with this Idempotency-Key just failed; retry",
                           code="idempotency_in_progress")
        if record.request_hash != digest:
            raise ValidationFailed("this Idempotency-Key was used for a different request",
                                   code="idempotency_key_reused")
        if record.status is None:
            if datetime.now(UTC) - record.created_at > STALE_AFTER:
                record.created_at = datetime.now(UTC)
                s.commit()
                return None
            raise Conflict("a request with this Idempotency-Key is still running",
                           code="idempotency_in_progress")
        headers = {k: v for k, v in (record.response_headers or {}).items()
                   if k.lower() == "etag"}
        headers["Idempotent-Replayed"] = "true"
        return JSONResponse(json.loads(record.response_body or "null"),
                            status_code=record.status, headers=headers)


def _complete(sessions: Any, principal: str, key: str, status: int, result: Any,
              headers: dict[str, str]) -> None:
    with sessions() as s:
        record = s.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal, IdempotencyRecord.key == key))
        if record is not None:
            record.status = status
            record.response_body = json.dumps(result, ensure_ascii=False, default=str)
            record.response_headers = headers
            s.commit()


def _release(sessions: Any, principal: str, key: str) -> None:
    with sessions() as s:
        s.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal, IdempotencyRecord.key == key,
            IdempotencyRecord.status.is_(None)))
        s.commit()
