"""RFC 9457 problem+json for every error the gateway returns."""

from __future__ import annotations

import json
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


# What every error of every operation is (#28): the OpenAPI says so, so that a client,
# and the S5 schemathesis run, can hold an answer to it. FastAPI's own 422 entry
# (``HTTPValidationError``, ``{"detail": [...]}``) described a body the gateway never
# sends.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem: `status` is the response's, `code` a stable word "
                   "(docs/error-codes.md); operations add members of their own "
                   "(`errors`, `current_version`, `max_bytes`, …).",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "location": {"type": "string"},
                           "message": {"type": "string"}}}},
    },
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with every operation's errors as they are answered: 422 and any other
    4xx/5xx (``default``) are problem+json."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "The request does not match the operation's schema "
                                   "(`validation_failed`, the fields in `errors`) or "
                                   "breaks one of its rules (the rule's `code`)",
                    "content": _PROBLEM_CONTENT}
            responses["default"] = {
                "description": "Any other error (401, 403, 404, 409, 412, 429, …): "
                               "problem+json with a stable `code`",
                "content": _PROBLEM_CONTENT}
    for name in _FASTAPI_422:  # in that order: the first refers to the second
        if f'"#/components/schemas/{name}"' not in json.dumps(spec):
            schemas.pop(name, None)
    return spec


def install_openapi(app: FastAPI) -> None:
    """The app's OpenAPI document, with :func:`document_problems` applied once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
