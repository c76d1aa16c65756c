"""Declare the broker topology of the platform's event handlers up front.

A topic exchange drops events that no queue is bound for yet. Declaring every handler's
queue (and its retry and dead-letter queues) before anything publishes — at deploy time,
``make run`` and in tests — means events published before a service's first start are
kept for it.

    python -m crm_platform.service.topology [module ...]
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass

from kombu import Connection, Exchange, Queue, binding

from crm_platform.events import exchange_name
from crm_platform.service.entrypoints import (
    EventStreamHandler,
    ReliableEventHandler,
    dead_letter_queue_name,
    handler_queue_name,
    retry_queue_name,
    stream_queue_name,
)
from crm_platform.settings import get_settings

SERVICE_MODULES = (
    "services.customer.service",
    "services.sales.service",
    "services.billing.service",
    "services.service_desk.service",
    "services.docs.service",
    "services.notify.service",
)


@dataclass(frozen=True)
class HandlerQueue:
    service: str
    method: str
    source: str
    event_type: str
    # a stream handler's queue is bound to several exchanges (``event_stream``)
    stream_bindings: tuple[tuple[str, str], ...] = ()

    @property
    def queue(self) -> str:
        if self.stream_bindings:
            return stream_queue_name(self.service, self.method)
        return handler_queue_name(self.source, self.event_type, self.service, self.method)

    @property
    def bindings(self) -> tuple[tuple[str, str], ...]:
        return self.stream_bindings or ((self.source, self.event_type),)


def service_classes(modules: tuple[str, ...] | list[str] = SERVICE_MODULES) -> list[type]:
    found: list[type] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that service is not part of this build
            raise
        found.extend(v for v in vars(module).values()
                     if inspect.isclass(v) and v.__module__ == module.__name__
                     and getattr(v, "name", None))
    return found


def handler_queues(service_cls: type) -> list[HandlerQueue]:
    out = []
    for method, member in inspect.getmembers(service_cls):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, EventStreamHandler):
                out.append(HandlerQueue(service_cls.name, method,  # type: ignore[attr-defined]
                                        entrypoint.source_service, entrypoint.event_type,
                                        tuple(entrypoint.bindings())))
            elif isinstance(entrypoint, ReliableEventHandler):
                out.append(HandlerQueue(service_cls.name, method,  # type: ignore[attr-defined]
                                        entrypoint.source_service, entrypoint.event_type))
    return out


def all_handler_queues(modules: tuple[str, ...] | list[str] = SERVICE_MODULES
                       ) -> list[HandlerQueue]:
    return [q for cls in service_classes(modules) for q in handler_queues(cls)]


def declare(amqp_uri: str | None = None,
            modules: tuple[str, ...] | list[str] = SERVICE_MODULES) -> list[str]:
    """Declare exchanges, handler queues with bindings, retry and dead-letter queues."""
    declared = []
    with Connection(amqp_uri or get_settings().amqp_uri) as conn:
        channel = conn.channel()
        for hq in all_handler_queues(modules):
            exchanges = {source: Exchange(exchange_name(source), type="topic", durable=True)
                         for source, _ in hq.bindings}
            for exchange in exchanges.values():
                exchange.declare(channel=channel)
            # exactly as nameko declares it, so the service's own declare agrees
            Queue(hq.queue, durable=True, auto_delete=False, exclusive=False, bindings=[
                binding(exchanges[source], routing_key=key) for source, key in hq.bindings
            ]).declare(channel=channel)
            Queue(retry_queue_name(hq.queue), durable=True, queue_arguments={
                "x-dead-letter-exchange": "", "x-dead-letter-routing-key": hq.queue,
            }).declare(channel=channel)
            Queue(dead_letter_queue_name(hq.queue), durable=True).declare(channel=channel)
            declared.append(hq.queue)
    return declared


def main() -> None:
    modules = sys.argv[1:] or list(SERVICE_MODULES)
    queues = declare(modules=modules)
    print(f"declared {len(queues)} event handler queues")


if __name__ == "__main__":
    main()
