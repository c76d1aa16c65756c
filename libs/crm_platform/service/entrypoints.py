"""Entrypoints with the platform's guarantees.

``rpc``: nameko RPC whose :class:`DomainError` s are expected (returned to the caller,
not logged as crashes).

``event_handler(source, type)``: a nameko SERVICE_POOL event handler with reliable
delivery, plus
- exactly-once effect: the handler gets ``(event, uow)``; its inbox mark and its effect
  commit together, so a redelivered event is skipped;
- bounded retries: a handler that raises has its message parked in ``<queue>.retry``
  with a growing per-message TTL, after which RabbitMQ dead-letters it back to the
  handler's queue; after ``CRM_EVENT_MAX_ATTEMPTS`` attempts it goes to ``<queue>.dlq``
  (see ``crmctl dlq``). The original is acked only after the parked copy is confirmed.

``batch_event_handler(source, type)``: the same guarantees for a handler that takes the
events its queue has delivered and not yet handled (up to the prefetch) in one worker
and one transaction, with one inbox row per event; each message is acked after the
commit. What a message costs a consumer is mostly fixed (a worker, a transaction, a
commit), so a copy kept from a busy stream of events is kept for a fraction of it. A
batch that fails is handled again one message at a time, so a poison message is
retried and dead-lettered alone while the others are applied.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import eventlet
import eventlet.event
import eventlet.queue
from kombu import Connection, Producer, Queue, binding
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler, get_event_exchange
from nameko.exceptions import (
    ContainerBeingKilled,
    IncorrectSignature,
    UnserializableValueError,
    serialize,
)
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.timer import Timer
from pydantic import ValidationError

from crm_platform import metrics, wire
from crm_platform.errors import Conflict, DomainError
from crm_platform.events import CloudEvent
from crm_platform.settings import get_settings
from crm_platform.uow import WORKER_CALL, WORKER_UNITS, UnitOfWork, with_audit_changes

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-crm-attempts"
ERROR_HEADER = "x-crm-error"
ORIGIN_HEADER = "x-crm-queue"


class _UnconfirmedPublisher(Publisher):  # type: ignore[misc]
    """RPC replies need no publisher confirm: a lost reply is a caller's timeout, never a
    lost state change, and waiting for the confirm costs a broker round trip per call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["use_confirms"] = False
        super().__init__(*args, **kwargs)


class _Responder(Responder):  # type: ignore[misc]
    publisher_cls = _UnconfirmedPublisher


class _ReplyChannel:
    """One long-lived producer per process for RPC replies; nameko's own Responder builds
    a connection object and checks out a pooled producer per reply, which is a large
    share of a small call's cost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._producer: Any = None
        self._connection: Any = None

    def send(self, amqp_uri: str, exchange: Any, message: Any, result: Any,
             exc_info: Any) -> tuple[Any, Any]:
        error = serialize(exc_info[1]) if exc_info is not None else None
        try:  # results may hold datetimes and decimals: wire writes them as pydantic does
            body = wire.rpc_reply(result, error)
        except TypeError:
            exc_info = sys.exc_info()
            body = wire.rpc_reply(None, serialize(UnserializableValueError(result)))
            result = None
        with self._lock:
            if self._producer is None:
                self._connection = Connection(amqp_uri, heartbeat=0)
                self._producer = Producer(self._connection.channel())
            try:
                self._producer.publish(
                    body, exchange=exchange, routing_key=message.properties["reply_to"],
                    correlation_id=message.properties.get("correlation_id"),
                    content_type="application/json", content_encoding="utf-8",
                    retry=False)
            except Exception:
                with contextlib.suppress(Exception):
                    self._connection.release()
                self._producer = self._connection = None
                raise
        return result, exc_info


_replies = _ReplyChannel()


class _RpcConsumer(RpcConsumer):  # type: ignore[misc]
    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        config = self.container.config
        exchange = get_rpc_exchange(config)
        if message.properties.get("content_type") == "application/json":
            try:
                result, exc_info = _replies.send(config["AMQP_URI"], exchange, message,
                                                 result, exc_info)
                self.queue_consumer.ack_message(message)
                return result, exc_info
            except Exception:
                log.warning("fast RPC reply failed; using nameko's responder", exc_info=True)
        responder = _Responder(config["AMQP_URI"], exchange,
                               config.get("serializer", "json"), message,
                               ssl=config.get("AMQP_SSL"),
                               login_method=config.get("LOGIN_METHOD"))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


# Unix ms, set by crm_platform.rpc_client; nameko proxies pass it on to further calls
DEADLINE_HEADER = "nameko.deadline"


class CrmRpc(Rpc):  # type: ignore[misc]
    rpc_consumer = _RpcConsumer()

    def setup(self) -> None:
        super().setup()
        self._signature = inspect.signature(getattr(self.container.service_cls,
                                                    self.method_name))

    def handle_message(self, body: Any, message: Any) -> None:
        """Drop a request whose caller has given up (``nameko.deadline`` passed) before
        it starts: its caller answered 503 already and may retry, so running it now would
        be an effect nobody waits for. A call the gateway makes again under the same
        Idempotency-Key (it lost the first answer: a time-out, a broken connection) is
        answered with what the first one answered once that has been applied, and never
        applied twice."""
        deadline = (message.headers or {}).get(DEADLINE_HEADER)
        late = time.time() - deadline / 1000 if isinstance(deadline, int) else 0
        if late > 0:
            service = self.container.service_name
            metrics.RPC_EXPIRED.labels(service, self.method_name).inc()
            log.warning("dropped %s.%s: its caller's deadline passed %.1f s ago", service,
                        self.method_name, late)
            self.rpc_consumer.queue_consumer.ack_message(message)
            return
        key = (message.headers or {}).get("nameko.idempotency_key")
        answers = _answers(self.container) if key else None
        if answers is not None:
            claimed, answered, answer = answers.answer(str(key))
            if claimed:
                exc_info = None
                if not answered:
                    error = Conflict("a request with this Idempotency-Key is still running",
                                     code="idempotency_in_progress")
                    if answer is not None:  # applied; the process died before answering
                        error = Conflict(
                            "the request with this Idempotency-Key was applied at "
                            f"{answer:%Y-%m-%d %H:%M:%S} UTC but its answer was lost; "
                            "look the record up", code="idempotency_answer_lost")
                    exc_info = (Conflict, error, None)
                self.rpc_consumer.handle_result(message, answer, exc_info)
                return
        super().handle_message(body, message)

    def handle_result(self, message: Any, worker_ctx: Any, result: Any, exc_info: Any
                      ) -> tuple[Any, Any]:
        call = getattr(worker_ctx, WORKER_CALL, None)
        if exc_info is None and call is not None and call.claimed:
            try:
                _answers(self.container).keep_answer(call.key, result)
            except Exception:  # the call is applied; a repeat will hear it is, not what
                log.exception("the answer of %s could not be kept", call.method)
        if exc_info is None:  # a write's record carries its changes to the gateway's audit
            result = with_audit_changes(result, getattr(worker_ctx, WORKER_UNITS, ()))
        return super().handle_result(message, worker_ctx, result, exc_info)  # type: ignore[no-any-return]

    def check_signature(self, args: Any, kwargs: Any) -> None:
        """nameko's check with the method's signature worked out once (it ran
        ``inspect.getcallargs`` per call, a twentieth of a small call's CPU)."""
        try:
            self._signature.bind(None, *args, **kwargs)  # None: the unbound ``self``
        except TypeError as exc:
            raise IncorrectSignature(str(exc)) from None


def _answers(container: Any) -> Any:
    """The service's UnitOfWorkProvider, which keeps the answers (None without one)."""
    from crm_platform.service.providers import UnitOfWorkProvider

    for dependency in container.dependencies:
        if isinstance(dependency, UnitOfWorkProvider) and dependency.tables.answers is not None:
            return dependency
    return None


def rpc(fn: Callable[..., Any]) -> Callable[..., Any]:
    return CrmRpc.decorator(expected_exceptions=DomainError)(fn)  # type: ignore[no-any-return]


def timer(interval: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return Timer.decorator(interval=interval)  # type: ignore[no-any-return]


def retry_queue_name(queue: str) -> str:
    return f"{queue}.retry"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"


def handler_queue_name(source: str, event_type: str, service: str, method: str) -> str:
    """nameko's SERVICE_POOL queue name (kept, so the queue is the one nameko declares)."""
    return f"evt-{source}-{event_type}--{service}.{method}"


class PoisonEvent(Exception):
    """The message can never be handled (not a CloudEvent); dead-letter it at once."""


class ReliableEventHandler(EventHandler):  # type: ignore[misc]
    def setup(self) -> None:
        super().setup()
        self.queue = self.bound_queue()
        from crm_platform.service.providers import shared_publisher

        settings = get_settings()
        self.max_attempts = settings.event_max_attempts
        self.retry_base_ms = settings.event_retry_base_ms
        self.publisher = shared_publisher(self.container.config["AMQP_URI"])
        queue = self.queue.name
        self.publisher.declare_queue(
            retry_queue_name(queue),
            {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
        )
        self.publisher.declare_queue(dead_letter_queue_name(queue))

    def bound_queue(self) -> Queue:
        """The queue to consume, as nameko declared it: bound to the source's exchange
        with the event type as routing key."""
        return self.queue

    def bindings(self) -> list[tuple[str, str]]:
        """(source service, routing key) pairs the queue is bound with."""
        return [(self.source_service, self.event_type)]

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any = None, exc_info: Any = None
    ) -> tuple[Any, Any]:
        if exc_info is not None:
            try:
                self._park(message, exc_info)
            except Exception:
                # could not park it: hand it back to the broker rather than lose it
                log.exception("could not park failed event; requeueing")
                self.queue_consumer.requeue_message(message)
                return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def _park(self, message: Any, exc_info: Any) -> None:
        headers = dict(message.headers or {})
        attempts = int(headers.get(ATTEMPTS_HEADER, 0)) + 1
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        headers.update({ATTEMPTS_HEADER: attempts, ERROR_HEADER: error[:1000]})
        headers[ORIGIN_HEADER] = self.queue.name
        service = self.container.service_name
        if isinstance(exc_info[1], PoisonEvent) or attempts >= self.max_attempts:
            target, outcome = dead_letter_queue_name(self.queue.name), "dead_lettered"
            expiration: float | None = None
            log.error("event dead-lettered after %s attempts: %s", attempts, error)
        else:
            delay_ms = self.retry_base_ms * (4 ** (attempts - 1))
            target, outcome = retry_queue_name(self.queue.name), "retried"
            expiration = delay_ms / 1000
            log.warning("event failed (attempt %s), retry in %s ms: %s", attempts, delay_ms, error)
        self.publisher.publish(
            exchange="",
            routing_key=target,
            body=message.body,
            headers=headers,
            message_id=message.properties.get("message_id"),
            expiration=expiration,
        )
        metrics.EVENTS_CONSUMED.labels(service, self.event_type, outcome).inc()


class BatchEventHandler(ReliableEventHandler):
    """Hands the worker a list of message bodies: every message delivered and not yet
    handled, one batch at a time per queue (the next batch gathers while one is
    applied)."""

    max_batch = 200

    def setup(self) -> None:
        super().setup()
        self._delivered: eventlet.queue.LightQueue = eventlet.queue.LightQueue()
        self.linger = get_settings().event_batch_linger_ms / 1000

    def start(self) -> None:
        super().start()
        self.container.spawn_managed_thread(self._handle_batches)

    def handle_message(self, body: Any, message: Any) -> None:
        self._delivered.put((body, message))

    def _handle_batches(self) -> None:
        while True:
            batch = [self._delivered.get()]
            if self.linger:  # let the events published with this one arrive too
                eventlet.sleep(self.linger)
            while len(batch) < self.max_batch and not self._delivered.empty():
                batch.append(self._delivered.get_nowait())
            if not self._handle(batch) and len(batch) > 1:
                for one in batch:  # a failed batch: each message on its own
                    self._handle([one])

    def _handle(self, batch: list[tuple[Any, Any]]) -> bool:
        """Run one worker on ``batch``; True if it succeeded (every message acked). A
        single message that failed is parked as :class:`ReliableEventHandler` does."""
        outcome = eventlet.event.Event()

        def handle_result(worker_ctx: Any, result: Any = None, exc_info: Any = None
                          ) -> tuple[Any, Any]:
            try:
                if exc_info is None:
                    for _, message in batch:
                        self.queue_consumer.ack_message(message)
                elif len(batch) == 1:
                    return self.handle_result(batch[0][1], worker_ctx, result, exc_info)
                return result, exc_info
            finally:
                outcome.send(exc_info is None)

        context = self.unpack_message_headers(batch[0][1]) if len(batch) == 1 else {}
        try:
            self.container.spawn_worker(self, ([body for body, _ in batch],), {},
                                        context_data=context, handle_result=handle_result)
        except ContainerBeingKilled:
            for _, message in batch:
                self.queue_consumer.requeue_message(message)
            return True
        return bool(outcome.wait())


def _cloud_event(body: Any) -> CloudEvent:
    try:
        return CloudEvent.model_validate(body)
    except ValidationError as exc:
        raise PoisonEvent(f"not a CloudEvent: {exc.errors()[:3]}") from exc


def batch_event_handler(
    source_service: str, event_type: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``def handler(self, events: list[CloudEvent], uow: UnitOfWork) -> None``:
    called with the events of a batch this consumer has not applied before, in delivery
    order; the wrapper commits their effect with their inbox marks (the handler must not
    commit). Apply each event as :func:`event_handler` would: on its own it may be
    handled alone (a failed batch), or with others of the same record."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return BatchEventHandler.decorator(source_service, event_type)(  # type: ignore[no-any-return]
            _exactly_once_each(fn))

    return decorate


def copy_handler(source_service: str, event_type: str
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``def handler(self, events: list[CloudEvent]) -> Copied`` that only keeps
    a local copy: it says which copy and which row each event writes
    (:func:`crm_platform.read_models.copied`), and the wrapper marks the events consumed
    and writes the rows in one commit of its own — on PostgreSQL one statement per
    batch — with the guarantees of :func:`batch_event_handler`. A handler that does more
    than write the copy (moves records with an owner, scrubs erased values) is a
    :func:`batch_event_handler`."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        consumer = fn.__name__

        @functools.wraps(fn)
        def handle(self: Any, bodies: list[Any]) -> None:
            events = [_cloud_event(body) for body in bodies]
            fresh = self.uow().commit_copies(consumer, fn(self, events))
            for event in events:
                metrics.EVENTS_CONSUMED.labels(
                    self.name, event.type, "applied" if event.id in fresh else "duplicate"
                ).inc()
                fresh.discard(event.id)  # delivered twice in one batch: applied once

        return BatchEventHandler.decorator(source_service, event_type)(handle)  # type: ignore[no-any-return]

    return decorate


Concerned = Callable[[UnitOfWork, list[CloudEvent]], list[CloudEvent]]


def _exactly_once_each(fn: Callable[..., Any], concerned: Concerned | None = None
                       ) -> Callable[..., Any]:
    """Wrap ``fn(self, events, uow)`` so its effect commits with the inbox marks of the
    batch's events, and only the events not applied before reach it. With ``concerned``
    (read-only: which of the events the handler has anything to do for), the others are
    acked untouched, without a transaction."""
    consumer = fn.__name__

    @functools.wraps(fn)
    def handle(self: Any, bodies: list[Any]) -> None:
        events = [_cloud_event(body) for body in bodies]
        wanted = events
        if concerned is not None:
            with self.uow(read_only=True) as reading:
                wanted = concerned(reading, events)
        fresh: list[CloudEvent] = []
        if wanted:
            with self.uow() as uow:
                fresh = uow.mark_consumed_many(wanted, consumer)
                if fresh:
                    uow.correlation_id = uow.correlation_id or fresh[0].correlationid
                    fn(self, fresh, uow)
                uow.commit()
        applied = {e.id for e in fresh}
        asked = {e.id for e in wanted}
        for event in events:
            outcome = ("applied" if event.id in applied
                       else "duplicate" if event.id in asked else "ignored")
            metrics.EVENTS_CONSUMED.labels(self.name, event.type, outcome).inc()

    return handle


def _exactly_once(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn(self, event, uow)`` so its effect commits with the inbox mark."""
    consumer = fn.__name__

    @functools.wraps(fn)
    def handle(self: Any, body: Any) -> None:
        event = _cloud_event(body)
        service = self.name
        with self.uow() as uow:
            uow.correlation_id = uow.correlation_id or event.correlationid
            if not uow.mark_consumed(event.id, event.type, consumer):
                metrics.EVENTS_CONSUMED.labels(service, event.type, "duplicate").inc()
                return
            fn(self, event, uow)
            uow.commit()
        metrics.EVENTS_CONSUMED.labels(service, event.type, "applied").inc()

    return handle


def event_handler(
    source_service: str, event_type: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``def handler(self, event: CloudEvent, uow: UnitOfWork) -> None``.

    The service must have a ``uow`` attribute (a :class:`UnitOfWorkProvider`). The
    handler must not commit; the wrapper commits its effect with the inbox mark.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return ReliableEventHandler.decorator(  # type: ignore[no-any-return]
            source_service, event_type)(_exactly_once(fn))

    return decorate


def stream_queue_name(service: str, method: str) -> str:
    return f"evt-stream--{service}.{method}"


class EventStreamHandler(ReliableEventHandler):
    """One SERVICE_POOL queue bound to the ``<source>.events`` exchange of every source
    with one routing pattern: a service that reacts to events by data (notification
    rules, webhook subscriptions) rather than by code takes them all through one
    queue, with the same inbox, retries and dead-letter queue as any handler."""

    def __init__(self, sources: tuple[str, ...], pattern: str = "#", **kwargs: Any) -> None:
        super().__init__(sources[0], pattern, **kwargs)
        self.sources = sources
        self.pattern = pattern

    def bound_queue(self) -> Queue:
        name = stream_queue_name(self.container.service_name, self.method_name)
        return Queue(name, durable=True, auto_delete=False, exclusive=False, bindings=[
            binding(get_event_exchange(source, self.container.config),
                    routing_key=self.pattern)
            for source in self.sources])

    def bindings(self) -> list[tuple[str, str]]:
        return [(source, self.pattern) for source in self.sources]


class BatchEventStreamHandler(BatchEventHandler, EventStreamHandler):
    """An :class:`EventStreamHandler` whose worker takes the events delivered together as
    one batch (one transaction for their effects and inbox marks)."""


def event_stream(sources: tuple[str, ...], pattern: str = "#", *,
                 concerned: Concerned | None = None
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Like :func:`batch_event_handler`, for every event of ``sources`` whose type matches
    the AMQP ``pattern`` (``#``: all); the handler reads each ``event.type`` to tell them
    apart. Batched: a consumer of every event must not pay a transaction per event.
    ``concerned(uow, events)``, given a read-only unit of work, picks the events the
    handler reacts to now (those a rule or subscription is for); the others are acked
    without a transaction or an inbox mark — nothing was done, so nothing can be done
    twice."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return BatchEventStreamHandler.decorator(sources, pattern)(  # type: ignore[no-any-return]
            _exactly_once_each(fn, concerned))

    return decorate
