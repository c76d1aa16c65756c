"""An asyncio client for nameko's RPC protocol (on aiormq), for the gateway.

The gateway never imports nameko or eventlet; it speaks the wire protocol directly:
requests go to the ``nameko-rpc`` topic exchange with routing key ``<service>.<method>``
and body ``{"args": [], "kwargs": {...}}``; context travels as ``nameko.<key>`` headers;
replies ``{"result": ..., "error": ...}`` come back on this client's own reply queue,
matched by ``correlation_id``.

Guarantees:
- a call never hangs: it ends with the result, the service's error, or
  :class:`ServiceUnavailable` after its timeout;
- a lost broker connection fails the calls in flight at once (``broker_unavailable``),
  and the next call connects again;
- a request to a service with no running consumer fails at once: the client checks
  the service's queue (``rpc-<service>``) for consumers, cached for a second, instead
  of waiting out the timeout;
- a request nobody picked up within its timeout expires in the queue, so it does not run
  later (``expiration``); one a service took from the queue but had not started when the
  caller gave up (a frozen or overloaded replica) is dropped by the service, which reads
  the caller's deadline in ``nameko.deadline`` (Unix milliseconds; see
  :class:`crm_platform.service.entrypoints.CrmRpc`);
- :class:`crm_platform.errors.DomainError` s raised by the service are raised again here
  with their code and details; any other service error is a :class:`RemoteError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from typing import Any, cast

import aiormq
import aiormq.abc

from crm_platform import wire
from crm_platform.errors import ServiceUnavailable, error_from_remote

log = logging.getLogger(__name__)

# how the broker lists this client's connections (and tests find them to close them)
CLIENT_PROPERTIES: aiormq.abc.ArgumentsType = {"product": "crm-platform"}


class RemoteError(Exception):
    """A service failed with an unexpected (non-domain) error."""

    def __init__(self, exc_type: str, value: str) -> None:
        super().__init__(f"{exc_type}: {value}")
        self.exc_type = exc_type
        self.value = value


class AsyncRpcClient:
    """One connection and one channel for every call; reconnects lazily when the broker
    connection drops.

    On the request path a call publishes without publisher confirms and without waiting
    for the socket to drain (the reply is the confirmation that matters), and replies
    come unacknowledged to one consumer that hands them to their callers by correlation
    id."""

    def __init__(
        self, amqp_uri: str, *, default_timeout: float = 10.0, exchange: str = "nameko-rpc"
    ) -> None:
        self.amqp_uri = amqp_uri
        self.default_timeout = default_timeout
        self.exchange_name = exchange
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._channel: aiormq.Channel | None = None
        self._probe: aiormq.abc.AbstractChannel | None = None
        self._consumers: dict[str, tuple[float, int]] = {}
        self._probing: dict[str, asyncio.Future[int]] = {}
        self._reply_to = f"rpc.reply-gateway-{uuid.uuid4()}"
        self._ids = itertools.count()
        self._pending: dict[str, tuple[asyncio.Future[bytes], str]] = {}
        self._connecting = asyncio.Lock()
        # probes share one channel: a probe that finds no queue closes it, and the next
        # opens another, so they go one at a time
        self._probe_lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return (self._channel is not None and not self._channel.is_closed
                and self._connection is not None and not self._connection.is_closed)

    async def connect(self) -> None:
        async with self._connecting:
            if self.connected:
                return
            await self._drop_connection()
            async with asyncio.timeout(5):
                connection = await aiormq.connect(self.amqp_uri,
                                                  client_properties=CLIENT_PROPERTIES)
            try:
                async with asyncio.timeout(5):
                    # an unbounded frame buffer: the connection's reader never waits for
                    # this channel's reader while replies arrive in bursts
                    channel = cast(aiormq.Channel, await connection.channel(
                        publisher_confirms=False, frame_buffer_size=0))
                    await channel.exchange_declare(self.exchange_name,
                                                   exchange_type="topic", durable=True)
                    # nameko's own reply queues expire after 5 minutes unused; ours
                    # lives with us
                    await channel.queue_declare(self._reply_to, exclusive=True,
                                                auto_delete=True,
                                                arguments={"x-expires": 300000})
                    await channel.queue_bind(self._reply_to, self.exchange_name,
                                             routing_key=self._reply_to)
                    await channel.basic_consume(self._reply_to, self._on_reply,
                                                no_ack=True)
            except BaseException:
                with contextlib.suppress(Exception):
                    await connection.close()
                raise
            # a deleted reply queue cancels the consumer: no reply could arrive any more
            channel.on_consumer_cancel_callbacks.add(
                lambda _: self._on_connection_lost(connection))
            connection.closing.add_done_callback(
                lambda _: self._on_connection_lost(connection))
            self._connection, self._channel, self._probe = connection, channel, None

    def _on_connection_lost(self, connection: aiormq.abc.AbstractConnection) -> None:
        """Fails the calls in flight; the next call connects again (and closes this
        connection, if the broker left it open)."""
        if connection is not self._connection:
            return  # an old one
        self._channel = None
        for future, service in list(self._pending.values()):
            if not future.done():
                future.set_exception(ServiceUnavailable(
                    "lost the message broker connection", code="broker_unavailable",
                    extra={"service": service}))

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._probe = None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await connection.close()

    async def close(self) -> None:
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(ServiceUnavailable("the gateway is shutting down",
                                                        code="broker_unavailable"))
        self._pending.clear()
        await self._drop_connection()

    async def call(
        self,
        service: str,
        method: str,
        kwargs: dict[str, Any] | None = None,
        *,
        context: dict[str, Any] | None = None,
        timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        """The service's result; with ``raw``, a successful result comes back as its JSON
        text (bytes), unparsed, for a caller that only forwards it."""
        wait = timeout or self.default_timeout
        if not self.connected:
            try:
                await self.connect()
            except Exception as exc:
                raise ServiceUnavailable("the message broker is not reachable",
                                         code="broker_unavailable",
                                         extra={"service": service}) from exc
        channel = self._channel
        assert channel is not None
        if await self._consumer_count(service) == 0:
            raise ServiceUnavailable(f"the {service} service is not running",
                                     code="service_unavailable", extra={"service": service})
        # unique within this client; replies come to this client's queue only
        correlation_id = f"{self._reply_to[-12:]}-{next(self._ids)}"
        headers: dict[str, Any] = {f"nameko.{k}": v for k, v in (context or {}).items()
                                   if v is not None}
        headers["nameko.call_id_stack"] = [f"gateway.{method}.{correlation_id}"]
        # Unix milliseconds, an integer: AMQP tables carry a float as 32 bits (~2 minutes
        # of precision at today's epoch)
        headers["nameko.deadline"] = int((time.time() + wait) * 1000)
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json",
            content_encoding="utf-8",
            headers=headers,
            correlation_id=correlation_id,
            reply_to=self._reply_to,
            expiration=str(int(wait * 1000)),
            # the correlation id is unique already (aiormq would draw a UUID)
            message_id=correlation_id,
        )
        body = wire.dumps({"args": [], "kwargs": kwargs or {}})
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = (future, service)
        try:
            try:
                async with asyncio.timeout(wait):
                    await channel.basic_publish(
                        body, exchange=self.exchange_name,
                        routing_key=f"{service}.{method}", properties=properties,
                        wait=False)
            except (TimeoutError, aiormq.AMQPError, aiormq.ChannelInvalidStateError,
                    ConnectionError) as exc:
                raise ServiceUnavailable("the message broker is not reachable",
                                         code="broker_unavailable",
                                         extra={"service": service}) from exc
            try:
                async with asyncio.timeout(wait):
                    reply_body = await future
            except TimeoutError:
                raise ServiceUnavailable(
                    f"the {service} service did not answer within {wait:g} s",
                    code="service_timeout", extra={"service": service}) from None
        finally:
            self._pending.pop(correlation_id, None)
        if raw and (result := wire.raw_result(reply_body)) is not None:
            return result
        try:
            reply = wire.loads(reply_body)
        except ValueError as exc:
            raise RemoteError("MalformedReply", str(exc)) from None
        error = reply.get("error")
        if error:
            exc_type = str(error.get("exc_type"))
            domain = error_from_remote(exc_type, list(error.get("exc_args") or []))
            if domain is not None:
                raise domain
            raise RemoteError(exc_type, str(error.get("value")))
        return reply.get("result")

    async def _on_reply(self, message: aiormq.abc.DeliveredMessage) -> None:
        pending = self._pending.get(message.header.properties.correlation_id or "")
        if pending is None or pending[0].done():
            return
        pending[0].set_result(message.body)  # parsed by the caller, or forwarded as is

    async def _consumer_count(self, service: str) -> int:
        """Consumers on the service's RPC queue, probed at most once a second (one probe
        in flight per service; concurrent callers share its answer)."""
        now = time.monotonic()
        cached = self._consumers.get(service)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        inflight = self._probing.get(service)
        if inflight is not None:
            return await asyncio.shield(inflight)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._probing[service] = future
        try:
            count = await self._probe_consumers(service)
            self._consumers[service] = (time.monotonic(), count)
            future.set_result(count)
            return count
        finally:
            del self._probing[service]
            if not future.done():
                future.set_result(-1)

    async def _probe_consumers(self, service: str) -> int:
        """On a channel of its own: a passive declare of a missing queue closes it."""
        connection = self._connection
        if connection is None:
            return -1
        try:
            async with asyncio.timeout(2), self._probe_lock:
                if self._probe is None or self._probe.is_closed:
                    self._probe = await connection.channel(publisher_confirms=False)
                declared = await self._probe.queue_declare(f"rpc-{service}", passive=True)
            return int(declared.consumer_count or 0)
        except aiormq.ChannelNotFoundEntity:
            return 0
        except Exception:  # cannot tell: let the call try, bounded by its timeout
            return -1
