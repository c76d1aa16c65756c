"""Synchronous service-to-service RPC, the exception in an event-driven platform (DESIGN:
"always with a timeout and a defined behaviour when the callee is down").

``call(proxy, "method", timeout=5, **kwargs)`` returns the callee's result, re-raises its
:class:`DomainError` as the same class with the same code and extra (so a duplicate
refused by the customer service is still a 409 ``duplicate_customer`` at the gateway),
and turns silence or an unknown service into :class:`ServiceUnavailable`. The caller's
identity travels in nameko's context data, so the callee checks the same scope.
"""

from __future__ import annotations

import time
from typing import Any

import eventlet
from nameko.exceptions import RemoteError, UnknownService, deserialize_to_instance

from crm_platform.errors import DomainError, ServiceUnavailable, error_from_remote


def _register(cls: type[DomainError]) -> None:
    deserialize_to_instance(cls)
    for sub in cls.__subclasses__():
        _register(sub)


_register(DomainError)


def call(proxy: Any, method: str, *, timeout: float, **kwargs: Any) -> Any:
    service = getattr(proxy, "service_name", "service")
    try:
        reply = getattr(proxy, method).call_async(**kwargs)
    except UnknownService:
        raise ServiceUnavailable(f"the {service} service is not running",
                                 code="service_unavailable",
                                 extra={"service": service}) from None
    with eventlet.Timeout(timeout, False):
        try:
            return reply.result()
        except RemoteError as exc:
            domain = error_from_remote(exc.exc_type, [exc.value])
            if domain is not None:
                raise domain from None
            raise
    raise ServiceUnavailable(f"the {service} service did not answer within {timeout:g} s",
                             code="service_unavailable", extra={"service": service})


def call_each(calls: dict[str, tuple[Any, str, dict[str, Any]]], *, timeout: float
              ) -> dict[str, Any]:
    """Several calls at once, within one ``timeout`` for them all: each name's result, or
    the :class:`DomainError` it ended with (:class:`ServiceUnavailable` for silence or a
    service not running), so one slow service costs the others nothing.

    ``calls``: name -> (proxy, method, keyword arguments)."""
    replies: dict[str, Any] = {}
    for name, (proxy, method, kwargs) in calls.items():
        try:
            replies[name] = getattr(proxy, method).call_async(**kwargs)
        except UnknownService:
            service = getattr(proxy, "service_name", "service")
            replies[name] = ServiceUnavailable(f"the {service} service is not running",
                                               code="service_unavailable",
                                               extra={"service": service})
    deadline = time.monotonic() + timeout
    answers: dict[str, Any] = {}
    for name, reply in replies.items():
        if isinstance(reply, DomainError):
            answers[name] = reply
            continue
        service = getattr(calls[name][0], "service_name", "service")
        answers[name] = ServiceUnavailable(
            f"the {service} service did not answer within {timeout:g} s",
            code="service_unavailable", extra={"service": service})
        with eventlet.Timeout(max(deadline - time.monotonic(), 0.001), False):
            try:
                answers[name] = reply.result()
            except DomainError as exc:  # the callee's refusal, deserialized as itself
                answers[name] = exc
            except RemoteError as exc:
                domain = error_from_remote(exc.exc_type, [exc.value])
                answers[name] = domain if domain is not None else ServiceUnavailable(
                    f"the {service} service failed: {exc.exc_type}",
                    code="service_unavailable", extra={"service": service})
    return answers
