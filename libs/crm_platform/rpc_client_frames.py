"""An asyncio client for nameko's RPC protocol, for the gateway.

The gateway never imports nameko or eventlet; it speaks the wire protocol directly:
requests go to the ``nameko-rpc`` topic exchange with routing key ``<service>.<method>``
and body ``{"args": [], "kwargs": {...}}``; context travels as ``nameko.<key>`` headers;
replies ``{"result": ..., "error": ...}`` come back on this client's own reply queue,
matched by ``correlation_id``.

Guarantees:
- a call never hangs: it ends with the result, the service's error, or
  :class:`ServiceUnavailable` after its timeout;
- a request to a service with no running consumer fails at once: the client checks
  the service's queue (``rpc-<service>``) for consumers, cached for a second, instead
  of waiting out the timeout;
- a request nobody picked up within its timeout expires in the queue, so it does not run
  later (``expiration``);
- :class:`crm_platform.errors.DomainError` s raised by the service are raised again here
  with their code and details; any other service error is a :class:`RemoteError`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from typing import Any

from crm_platform import wire
from crm_platform.amqp_protocol import (
    NOT_FOUND,
    AmqpConnection,
    AmqpError,
    ChannelClosed,
    basic_properties,
)
from crm_platform.errors import ServiceUnavailable, error_from_remote

log = logging.getLogger(__name__)


class RemoteError(Exception):
    """A service failed with an unexpected (non-domain) error."""

    def __init__(self, exc_type: str, value: str) -> None:
        super().__init__(f"{exc_type}: {value}")
        self.exc_type = exc_type
        self.value = value


class AsyncRpcClient:
    """On :class:`crm_platform.amqp_protocol.AmqpConnection` (aiormq cost a third of the
    gateway's CPU per request); reconnects lazily when the broker connection drops."""

    RPC_CHANNEL, PROBE_CHANNEL = 1, 2

    def __init__(
        self, amqp_uri: str, *, default_timeout: float = 10.0, exchange: str = "nameko-rpc"
    ) -> None:
        self.amqp_uri = amqp_uri
        self.default_timeout = default_timeout
        self.exchange_name = exchange
        self._connection: AmqpConnection | None = None
        self._consumers: dict[str, tuple[float, int]] = {}
        self._probing: dict[str, asyncio.Future[int]] = {}
        self._reply_to = f"rpc.reply-gateway-{uuid.uuid4()}"
        self._ids = itertools.count()
        self._pending: dict[str, tuple[asyncio.Future[bytes], str]] = {}
        self._connecting = asyncio.Lock()
        # probes share one channel: a probe that finds no queue closes it, and the next
        # reopens it, so they go one at a time
        self._probe_lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.channel_open(
            self.RPC_CHANNEL)

    async def connect(self) -> None:
        async with self._connecting:
            if self.connected:
                return
            connection = await AmqpConnection.connect(
                self.amqp_uri, on_deliver=self._on_reply,
                on_lost=lambda reason: self._on_connection_lost(connection, reason))
            try:
                rpc = self.RPC_CHANNEL
                await connection.open_channel(rpc)
                await connection.exchange_declare(rpc, self.exchange_name, "topic",
                                                  durable=True)
                # nameko's own reply queues expire after 5 minutes unused; ours lives
                # with us
                await connection.queue_declare(rpc, self._reply_to, exclusive=True,
                                               auto_delete=True,
                                               arguments={"x-expires": 300000})
                await connection.queue_bind(rpc, self._reply_to, self.exchange_name,
                                            self._reply_to)
                await connection.basic_consume(rpc, self._reply_to, "replies", no_ack=True)
            except BaseException:
                connection.close()
                raise
            self._connection = connection

    def _on_connection_lost(self, connection: AmqpConnection, reason: Exception) -> None:
        if connection is not self._connection:
            return  # one that never finished opening, or an old one
        self._connection = None
        for future, service in list(self._pending.values()):
            if not future.done():
                future.set_exception(ServiceUnavailable(
                    "lost the message broker connection", code="broker_unavailable",
                    extra={"service": service}))

    async def close(self) -> None:
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(ServiceUnavailable("the gateway is shutting down",
                                                        code="broker_unavailable"))
        self._pending.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

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
        connection = self._connection
        assert connection is not None
        if await self._consumer_count(service) == 0:
            raise ServiceUnavailable(f"the {service} service is not running",
                                     code="service_unavailable", extra={"service": service})
        # unique within this client; replies come to this client's queue only
        correlation_id = f"{self._reply_to[-12:]}-{next(self._ids)}"
        headers: dict[str, Any] = {f"nameko.{k}": v for k, v in (context or {}).items()
                                   if v is not None}
        headers["nameko.call_id_stack"] = [f"gateway.{method}.{correlation_id}"]
        properties = basic_properties(
            content_type="application/json", content_encoding="utf-8", headers=headers,
            correlation_id=correlation_id, reply_to=self._reply_to,
            expiration=str(int(wait * 1000)))
        body = wire.dumps({"args": [], "kwargs": kwargs or {}})
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = (future, service)
        try:
            try:
                connection.publish(self.RPC_CHANNEL, self.exchange_name,
                                   f"{service}.{method}", body, properties)
            except AmqpError as exc:
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

    def _on_reply(self, correlation_id: str | None, body: bytes) -> None:
        pending = self._pending.get(correlation_id or "")
        if pending is None or pending[0].done():
            return
        pending[0].set_result(body)  # parsed by the caller, or forwarded as is

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
                if not connection.channel_open(self.PROBE_CHANNEL):
                    await connection.open_channel(self.PROBE_CHANNEL)
                _, _, consumers = await connection.queue_declare(
                    self.PROBE_CHANNEL, f"rpc-{service}", passive=True)
            return consumers
        except ChannelClosed as exc:
            return 0 if exc.code == NOT_FOUND else -1
        except Exception:  # cannot tell: let the call try, bounded by its timeout
            return -1
