"""Per-process ops HTTP server: /healthz (alive), /readyz (database and broker reachable),
/metrics (Prometheus). Runs as a green thread inside the service process."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import eventlet
from eventlet import wsgi
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], None]
_checks: dict[str, ReadinessCheck] = {}


def register_check(name: str, check: ReadinessCheck) -> None:
    _checks[name] = check


def run_checks() -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    ok = True
    for name, check in list(_checks.items()):
        try:
            with eventlet.Timeout(3):
                check()
            results[name] = "ok"
        except BaseException as exc:  # noqa: BLE001 - a failed probe is a result
            ok = False
            results[name] = f"failed: {exc.__class__.__name__}: {exc}"
    return ok, results


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/healthz":
        return _json(start_response, 200, {"status": "ok"})
    if path == "/readyz":
        ok, results = run_checks()
        return _json(start_response, 200 if ok else 503, {"ready": ok, "checks": results})
    if path == "/metrics":
        body = generate_latest()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]
    return _json(start_response, 404, {"status": 404, "code": "not_found"})


def _json(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def serve(port: int, host: str = "0.0.0.0") -> None:
    sock = eventlet.listen((host, port))
    log.info("ops server on %s:%s", host, port)
    wsgi.server(sock, app, log_output=False)
