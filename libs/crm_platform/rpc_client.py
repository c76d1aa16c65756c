"""An asyncio client for nameko's RPC protocol (aiormq), for the gateway.

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
import contextlib
import itertools
import logging
import time
import uuid
from typing import Any

import aiormq
import aiormq.abc

from crm_platform import wire
from crm_platform.errors import ServiceUnavailable, error_from_remote

log = logging.getLogger(__name__)


class RemoteError(Exception):
    """A service failed with an unexpected (non-domain) error."""

    def __init__(self, exc_type: str, value: str) -> None:
        super().__init__(f"{exc_type}: {value}")
        self.exc_type = exc_type
        self.value = value


class AsyncRpcClient:
    """Built on aiormq directly (aio-pika's wrappers cost about as much CPU per call as
    the rest of the gateway); reconnects lazily when the broker connection drops."""

    def __init__(
        self, amqp_uri: str, *, default_timeout: float = 10.0, exchange: str = "nameko-rpc"
    ) -> None:
        self.amqp_uri = amqp_uri
        self.default_timeout = default_timeout
        self.exchange_name = exchange
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._probe: aiormq.abc.AbstractChannel | None = None
        self._consumers: dict[str, tuple[float, int]] = {}
        self._probing: dict[str, asyncio.Future[int]] = {}
        self._reply_to = f"rpc.reply-gateway-{uuid.uuid4()}"
        self._ids = itertools.count()
        self._pending: dict[str, tuple[asyncio.Future[bytes], str]] = {}
        self._connecting = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return (self._channel is not None and not self._channel.is_closed
                and self._connection is not None and not self._connection.is_closed)

    async def connect(self) -> None:
        async with self._connecting:
            if self.connected:
                return
            connection = await asyncio.wait_for(aiormq.connect(self.amqp_uri), timeout=5)
            channel = await connection.channel(publisher_confirms=False)
            await channel.exchange_declare(self.exchange_name, exchange_type="topic",
                                           durable=True)
            # nameko's own reply queues expire after 5 minutes unused; ours lives with us
            await channel.queue_declare(self._reply_to, exclusive=True, auto_delete=True,
                                        arguments={"x-expires": 300000})
            await channel.queue_bind(self._reply_to, self.exchange_name,
                                     routing_key=self._reply_to)
            await channel.basic_consume(self._reply_to, self._on_reply, no_ack=True)
            connection.closing.add_done_callback(self._on_connection_lost)
            self._connection, self._channel, self._probe = connection, channel, None

    def _on_connection_lost(self, _: Any) -> None:
        self._channel = None
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
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._connection = self._channel = None

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
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json",
            content_encoding="utf-8",
            correlation_id=correlation_id,
            reply_to=self._reply_to,
            headers=headers,
            expiration=str(int(wait * 1000)),
        )
        body = wire.dumps({"args": [], "kwargs": kwargs or {}})
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = (future, service)
        try:
            try:
                await asyncio.wait_for(channel.basic_publish(
                    body, exchange=self.exchange_name, routing_key=f"{service}.{method}",
                    properties=properties), timeout=wait)
            except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError) as exc:
                raise ServiceUnavailable("the message broker is not reachable",
                                         code="broker_unavailable",
                                         extra={"service": service}) from exc
            try:
                reply_body = await asyncio.wait_for(future, timeout=wait)
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
        count = 0
        try:
            if self._probe is None or self._probe.is_closed:
                assert self._connection is not None
                self._probe = await self._connection.channel(publisher_confirms=False)
            declared = await asyncio.wait_for(
                self._probe.queue_declare(f"rpc-{service}", passive=True), timeout=2)
            count = int(declared.consumer_count or 0)
        except aiormq.exceptions.ChannelNotFoundEntity:
            self._probe = None  # a failed passive declare closes the channel
        except Exception:  # cannot tell: let the call try, bounded by its timeout
            count = -1
        return count
