"""One pure-ASGI middleware for what every request needs: request id, body size limit,
latency metrics and the audit trail of writes and confidential reads."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from crm_platform import logs, metrics
from crm_platform.errors import PayloadTooLarge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import domain_error_response

log = logging.getLogger(__name__)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

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
        limit = self.max_upload if is_upload else self.max_body
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
        if declared and declared.isdigit() and int(declared) > limit:
            response = domain_error_response(
                PayloadTooLarge(f"request body over {limit} bytes"), scope.get("path"))
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
        if scope["method"] in WRITES or state.get("audit_read"):
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
            "path": scope.get("path", "")[:500],
            "resource_id": str(resource_id)[:100] if resource_id else None,
            "status": status,
            "outcome": "success" if status < 400 else "denied" if status in (401, 403)
            else "failed",
            "request_id": state.get("request_id"),
            "client_ip": (scope.get("client") or (None,))[0],
            "detail": {"query": scope.get("query_string", b"").decode("latin-1")[:500]}
            if state.get("audit_read") else None,
        }
        runtime.audit.add(entry)
