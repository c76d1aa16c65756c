"""RFC 9457 problem+json for every error the gateway returns."""

from __future__ import annotations

import logging
from typing import Any

from crm_platform.errors import DomainError, RateLimited, problem_body
from crm_platform.rpc_client import RemoteError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int, code: str, title: str, detail: str, instance: str | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    body = problem_body(status, code, title, detail, instance, extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_response(exc: DomainError, instance: str | None = None) -> JSONResponse:
    headers = None
    if isinstance(exc, RateLimited) and "retry_after" in exc.extra:
        headers = {"Retry-After": str(exc.extra["retry_after"])}
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(
        exc.to_problem(instance), status_code=exc.status, media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        errors.append({"field": ".".join(loc[1:] if len(loc) > 1 else loc),
                       "location": loc[0] if loc else "body",
                       "message": err.get("msg", ""), "type": err.get("type", "")})
    return errors


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(400, "malformed_json", "Malformed JSON",
                                    "the request body is not valid JSON", request.url.path,
                                    errors=errors)
        return problem_response(422, "validation_failed", "Validation failed",
                                "the request does not match the operation's schema",
                                request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, DomainError):
            # FastAPI wraps whatever fails while it reads the body as "400 error parsing
            # the body": the body limit's 413 (a chunked body has no Content-Length to
            # refuse it by, so it is counted as it arrives) is ours to answer
            return domain_error_response(exc.__cause__, request.url.path)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                403: "forbidden", 413: "payload_too_large", 415: "unsupported_media_type"}.get(
            exc.status_code, "http_error")
        return problem_response(exc.status_code, code, str(exc.detail), str(exc.detail),
                                request.url.path, headers=getattr(exc, "headers", None))

    @app.exception_handler(RemoteError)
    async def _remote(request: Request, exc: RemoteError) -> JSONResponse:
        log.error("service error on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(502, "service_error", "Service error",
                                "a service failed to handle the request; it has been logged",
                                request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal_error", "Internal error",
                                "an unexpected error occurred; it has been logged",
                                request.url.path)
