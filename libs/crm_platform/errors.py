"""Domain errors shared by every service and the gateway.

A service raises these; they cross nameko RPC intact (nameko serialises ``exc_type``
and ``exc_args``) and the gateway turns them into RFC 9457 problem+json with the
status of the class. This module is the one table from error to HTTP status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every expected, client-caused or state-caused failure.

    ``args`` are always ``(detail, code, extra)`` so the error survives JSON
    serialisation across RPC and can be rebuilt on the other side.
    """

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self, detail: str, code: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail, code or self.default_code, extra or {})

    @property
    def detail(self) -> str:
        return str(self.args[0])

    @property
    def code(self) -> str:
        return str(self.args[1])

    @property
    def extra(self) -> dict[str, Any]:
        extra = self.args[2]
        return dict(extra) if isinstance(extra, dict) else {}

    def __str__(self) -> str:
        return self.detail

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.code, self.title, self.detail, instance,
                            self.extra)


def problem_body(status: int, code: str, title: str, detail: str,
                 instance: str | None = None, extra: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """An RFC 9457 problem document. Extension members go in first, so none can
    overwrite the RFC's own (``status`` is the HTTP status code and nothing else)."""
    body: dict[str, Any] = dict(extra or {})
    body.update({
        "type": f"https://crm.example.org/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    })
    if instance:
        body["instance"] = instance
    return body


class BadRequest(DomainError):
    status = 400
    default_code = "bad_request"
    title = "Bad request"


class Unauthorized(DomainError):
    status = 401
    default_code = "unauthorized"
    title = "Not authenticated"


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    """Also used for records outside the caller's scope, so scope leaks nothing."""

    status = 404
    default_code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class StateViolation(Conflict):
    """A state machine refused a transition (see :mod:`crm_platform.states`); the one
    code for it everywhere. The record's state travels as ``current_state``."""

    default_code = "invalid_transition"
    title = "Invalid state transition"


class PreconditionFailed(DomainError):
    status = 412
    default_code = "precondition_failed"
    title = "Precondition failed"


class StaleVersion(PreconditionFailed):
    """``If-Match`` named a version the record has moved past (RFC 9110: 412)."""

    default_code = "stale_version"
    title = "Stale version"


class PreconditionRequired(DomainError):
    """An operation that changes a record only with ``If-Match`` got none (RFC 6585)."""

    status = 428
    default_code = "if_match_required"
    title = "Precondition required"


class PayloadTooLarge(DomainError):
    status = 413
    default_code = "payload_too_large"
    title = "Payload too large"


class ValidationFailed(DomainError):
    """Input is well-formed but breaks a rule; ``extra['errors']`` lists field errors."""

    status = 422
    default_code = "validation_failed"
    title = "Validation failed"


class RateLimited(DomainError):
    status = 429
    default_code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(DomainError):
    status = 503
    default_code = "service_unavailable"
    title = "Service unavailable"


def check_version(current: int, expected: int | None, what: str = "record") -> None:
    """Optimistic concurrency: ``If-Match`` carried the version the client read."""
    if expected is not None and current != expected:
        raise StaleVersion(f"the {what} is at version {current}, not {expected}",
                           code="stale_version", extra={"current_version": current})


def _all_subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found: list[type[DomainError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_from_remote(exc_type: str, exc_args: list[Any]) -> DomainError | None:
    """Rebuild a DomainError from nameko's serialised form, or None if it is not one."""
    for cls in _all_subclasses(DomainError):
        if cls.__name__ == exc_type:
            detail = str(exc_args[0]) if exc_args else cls.title
            code = str(exc_args[1]) if len(exc_args) > 1 and exc_args[1] else None
            extra = exc_args[2] if len(exc_args) > 2 and isinstance(exc_args[2], dict) else None
            return cls(detail, code, extra)
    return None
