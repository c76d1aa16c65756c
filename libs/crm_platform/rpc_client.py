"""An asyncio client for nameko's RPC protocol (aio-pika), for the gateway.

The gateway never imports nameko or eventlet; it speaks the wire protocol directly:
requests go to the ``nameko-rpc`` topic exchange with routing key ``<service>.<method>``
and body ``{"args": [], "kwargs": {...}}``; context travels as ``nameko.<key>`` headers;
replies ``{"result": ..., "error": ...}`` come back on this client's own reply queue,
matched by ``correlation_id``.

Guarantees:
- a call never hangs: it ends with the result, the service's error, or
  :class:`ServiceUnavailable` after its timeout;
- a request to a service that has no queue fails at once (mandatory publish, returned
  by the broker);
- a request nobody picked up within its timeout expires in the queue, so it does not run
  later (``expiration``);
- :class:`crm_platform.errors.DomainError` s raised by the service are raised again here
  with their code and details; any other service error is a :class:`RemoteError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from crm_platform.errors import ServiceUnavailable, error_from_remote

log = logging.getLogger(__name__)


class RemoteError(Exception):
    """A service failed with an unexpected (non-domain) error."""

    def __init__(self, exc_type: str, value: str) -> None:
        super().__init__(f"{exc_type}: {value}")
        self.exc_type = exc_type
        self.value = value


class AsyncRpcClient:
    def __init__(
        self, amqp_uri: str, *, default_timeout: float = 10.0, exchange: str = "nameko-rpc"
    ) -> None:
        self.amqp_uri = amqp_uri
        self.default_timeout = default_timeout
        self.exchange_name = exchange
        self._connection: AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._reply_to = f"rpc.reply-gateway-{uuid.uuid4()}"
        self._pending: dict[str, tuple[asyncio.Future[Any], str]] = {}

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def connect(self) -> None:
        connection = await aio_pika.connect_robust(self.amqp_uri, timeout=5)
        channel = await connection.channel(publisher_confirms=False)
        channel.return_callbacks.add(self._on_return)
        self._exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        # nameko's own reply queues expire after 5 minutes unused; ours lives with us
        queue = await channel.declare_queue(
            self._reply_to, exclusive=True, auto_delete=True, arguments={"x-expires": 300000}
        )
        await queue.bind(self._exchange, routing_key=self._reply_to)
        await queue.consume(self._on_reply, no_ack=True)
        self._connection = connection

    async def close(self) -> None:
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(ServiceUnavailable("the gateway is shutting down",
                                                        code="broker_unavailable"))
        self._pending.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def call(
        self,
        service: str,
        method: str,
        kwargs: dict[str, Any] | None = None,
        *,
        context: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        if self._exchange is None or not self.connected:
            raise ServiceUnavailable("the message broker is not reachable",
                                     code="broker_unavailable", extra={"service": service})
        wait = timeout or self.default_timeout
        correlation_id = str(uuid.uuid4())
        headers: dict[str, Any] = {f"nameko.{k}": v for k, v in (context or {}).items()
                                   if v is not None}
        headers["nameko.call_id_stack"] = [f"gateway.{method}.{correlation_id}"]
        message = aio_pika.Message(
            json.dumps({"args": [], "kwargs": kwargs or {}}, ensure_ascii=False).encode(),
            content_type="application/json",
            content_encoding="utf-8",
            correlation_id=correlation_id,
            reply_to=self._reply_to,
            headers=headers,
            expiration=wait,
        )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = (future, service)
        try:
            try:
                await asyncio.wait_for(
                    self._exchange.publish(message, routing_key=f"{service}.{method}",
                                           mandatory=True),
                    timeout=wait,
                )
            except (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError) as exc:
                raise ServiceUnavailable("the message broker is not reachable",
                                         code="broker_unavailable",
                                         extra={"service": service}) from exc
            try:
                body = await asyncio.wait_for(future, timeout=wait)
            except TimeoutError:
                raise ServiceUnavailable(
                    f"the {service} service did not answer within {wait:g} s",
                    code="service_timeout", extra={"service": service}) from None
        finally:
            self._pending.pop(correlation_id, None)
        error = body.get("error")
        if error:
            exc_type = str(error.get("exc_type"))
            domain = error_from_remote(exc_type, list(error.get("exc_args") or []))
            if domain is not None:
                raise domain
            raise RemoteError(exc_type, str(error.get("value")))
        return body.get("result")

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        pending = self._pending.get(message.correlation_id or "")
        if pending is None or pending[0].done():
            return
        try:
            pending[0].set_result(json.loads(message.body))
        except ValueError as exc:
            pending[0].set_exception(RemoteError("MalformedReply", str(exc)))

    def _on_return(self, *args: Any) -> None:
        message: AbstractIncomingMessage = args[-1]
        pending = self._pending.get(message.correlation_id or "")
        if pending is not None and not pending[0].done():
            pending[0].set_exception(ServiceUnavailable(
                f"the {pending[1]} service is not running", code="service_unavailable",
                extra={"service": pending[1]}))
