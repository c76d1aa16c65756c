"""One pure-ASGI middleware for what every request needs: request id, body size limit,
a URL whose text can be used, latency metrics and the audit trail of writes and
confidential reads."""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from crm_platform import logs, metrics, wire
from crm_platform.errors import BadRequest, DomainError, Forbidden, PayloadTooLarge
from crm_platform.uow import AUDIT_CHANGES_KEY, ERASED_VALUES_KEY
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.identity import ERASED_VALUES
from gateway.problems import domain_error_response
from gateway.security import decode_token, is_portal_token

log = logging.getLogger(__name__)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _percent_decoded(raw: bytes) -> bytes:
    return unquote_to_bytes(raw) if b"%" in raw else raw  # most URLs have nothing encoded


def _unusable(text: bytes) -> str | None:
    if b"\x00" in text:
        return "contains a NUL character (%00)"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text once percent-decoded"
    return None


def _query_errors(query: bytes) -> list[dict[str, str]]:
    """The query parameters ``_unusable`` refuses, named as the schema's errors are."""
    errors = []
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        name = _percent_decoded(name.replace(b"+", b" "))
        problem = _unusable(name) or _unusable(_percent_decoded(value.replace(b"+", b" ")))
        if problem:
            errors.append({"field": name.decode("utf-8", "replace").replace("\x00", "%00"),
                           "location": "query", "message": problem})
    return errors


def unusable_url(scope: Scope) -> BadRequest | None:
    """Why the request's path or query string cannot be used as text, or None.

    Path and query parameters of every operation end up in some database's WHERE
    clause, and PostgreSQL's text cannot hold NUL: a ``%00`` was a 502 from a service
    (a 500 from the gateway's own tables). Bytes that are not UTF-8 were read as U+FFFD
    and searched for. One check here covers every route, proxied or not."""
    problem = _unusable(scope.get("path", "").encode("utf-8", "surrogatepass"))
    raw_path = scope.get("raw_path")  # optional in ASGI; ``path`` has bad bytes replaced
    if problem is None and raw_path:
        problem = _unusable(_percent_decoded(raw_path))
    if problem:
        return BadRequest(f"the path {problem}", code="invalid_url")
    query = scope.get("query_string", b"")
    problem = _unusable(_percent_decoded(query))
    if problem:
        errors = _query_errors(query)
        if len(errors) == 1:
            problem = f"query parameter {errors[0]['field']!r} {problem}"
        else:
            problem = f"the query string {problem}"
        return BadRequest(problem, code="invalid_url", extra={"errors": errors})
    return None


API = "/api/v1/"
# what a portal account's token may reach: the portal's operations and its own sign-in
PORTAL_PATHS = ("/api/v1/portal/", "/api/v1/auth/token", "/api/v1/auth/refresh")


def portal_token_elsewhere(path: str, authorization: str | None) -> Forbidden | None:
    """A portal account's token on any other operation is a 403 before anything else
    (a request body the operation would refuse included), so no operation beyond the
    portal tells a portal account anything. Tokens that do not verify are left to the
    operation (a 401)."""
    if not path.startswith(API) or path.startswith(PORTAL_PATHS):
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token or token.startswith("crm_"):
        return None
    try:
        claims = decode_token(token, "access")
    except DomainError:
        return None
    if not is_portal_token(claims):
        return None
    return Forbidden("portal accounts reach only the portal's operations",
                     code="portal_only")


def take_audit_changes(request: Request, result: Any) -> Any:
    """``result`` without the changes a service (or the gateway's identity store) put on
    it for the audit trail; they go to this request's audit entry."""
    if isinstance(result, dict) and AUDIT_CHANGES_KEY in result:
        result = dict(result)
        # in JSON's forms (the identity store's are Python values) for the audit's column
        request.state.audit_changes = wire.loads(wire.dumps(result.pop(AUDIT_CHANGES_KEY)))
    if isinstance(result, dict) and ERASED_VALUES_KEY in result:
        # an erasure's values (#26 S8): the audit writer scrubs the gateway's records of
        # them when it writes the erasure's entry; they are never stored or answered
        result = dict(result)
        request.state.erased_values = list(result.pop(ERASED_VALUES_KEY))
    return result


def _detail(scope: Scope, state: dict[str, Any]) -> dict[str, Any] | None:
    """A confidential read's query; a write's changed fields as ``{field: [old, new]}``."""
    detail: dict[str, Any] = {}
    if state.get("confidential"):
        detail["query"] = scope.get("query_string", b"").decode("latin-1")[:500]
    if state.get("audit_changes"):
        detail["changes"] = state["audit_changes"]
    return detail or None


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, max_upload: int,
                 streamed: Sequence[re.Pattern[str]] = ()) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        # bodies streamed on to a service that limits them itself (documents' files)
        self.streamed = tuple(streamed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = (headers.get("x-request-id") or secrets.token_hex(12))[:64]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        logs.bind(correlation_id=request_id)
        is_upload = headers.get("content-type", "").startswith("multipart/form-data")
        limit: float = self.max_upload if is_upload else self.max_body
        if scope["method"] == "POST" and any(p.match(scope.get("path", ""))
                                             for p in self.streamed):
            limit = math.inf
        started = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        declared = headers.get("content-length")
        refused: DomainError | None = unusable_url(scope) or portal_token_elsewhere(
            scope.get("path", ""), headers.get("authorization"))
        if refused is None and declared and declared.isdigit() and int(declared) > limit:
            refused = PayloadTooLarge(f"request body over {limit} bytes")
        if refused is not None:
            response = domain_error_response(refused, scope.get("path"))
            await response(scope, receive, send_wrapper)
        else:
            received = [0]

            async def receive_wrapper() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    received[0] += len(message.get("body", b""))
                    if received[0] > limit:
                        raise PayloadTooLarge(f"request body over {limit} bytes")
                return message

            await self.app(scope, receive_wrapper, send_wrapper)

        status = status_holder[0]
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.HTTP_LATENCY.labels(scope["method"], template, str(status)).observe(
            time.perf_counter() - started)
        # every denied attempt too (S7), reads included: a 403 is someone trying a door
        if scope["method"] in WRITES or state.get("confidential") or status == 403:
            await self._audit(scope, state, status, route)

    async def _audit(self, scope: Scope, state: dict[str, Any], status: int, route: Any) -> None:
        app = scope.get("app")
        runtime = getattr(getattr(app, "state", None), "runtime", None)
        if runtime is None:
            return
        principal = state.get("principal")
        path_params = scope.get("path_params") or {}
        resource_id = state.get("resource_id") or next(iter(path_params.values()), None)
        entry = {
            "occurred_at": datetime.now(UTC),
            "actor_id": principal.user_id if principal else None,
            "api_key_id": principal.api_key_id if principal else None,
            "action": getattr(route, "operation_id", None) or getattr(route, "name", None)
            or "unmatched",
            "method": scope["method"],
            # a refused path may hold a NUL, which would fail the whole batch's insert
            "path": scope.get("path", "").replace("\x00", "%00")[:500],
            "resource_id": str(resource_id)[:100] if resource_id else None,
            "status": status,
            "outcome": "success" if status < 400 else "denied" if status in (401, 403)
            else "failed",
            "request_id": state.get("request_id"),
            "client_ip": (scope.get("client") or (None,))[0],
            "detail": _detail(scope, state),
        }
        if state.get("erased_values") and status < 300:
            entry[ERASED_VALUES] = state["erased_values"]
        runtime.audit.add(entry)
