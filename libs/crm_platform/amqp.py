"""A small confirmed publisher on kombu (no nameko), shared by services and the gateway.

``publish`` returns only after the broker confirmed the message (publisher confirms), so
a caller that deletes an outbox row afterwards never loses the event. A raise does not
prove the message was not delivered; callers keep the row and re-publish, consumers
dedupe through their inbox.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from kombu import Connection, Exchange, Producer

PERSISTENT = 2


class ConfirmedPublisher:
    def __init__(self, amqp_uri: str, *, connect_timeout: float = 5.0) -> None:
        self.amqp_uri = amqp_uri
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()  # green under eventlet's monkey patching
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._declared: set[str] = set()

    def _ensure(self) -> Producer:
        if self._producer is None or self._connection is None or not self._connection.connected:
            self._close()
            connection = Connection(
                self.amqp_uri,
                transport_options={"confirm_publish": True},
                connect_timeout=self._connect_timeout,
                heartbeat=0,
            )
            connection.ensure_connection(max_retries=1)
            self._connection = connection
            self._producer = Producer(connection.channel())
            self._declared = set()
        return self._producer

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._connection.release()
        self._connection = None
        self._producer = None

    def publish(
        self,
        *,
        exchange: str,
        routing_key: str,
        body: str | bytes,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
        expiration: float | None = None,
        exchange_type: str = "topic",
    ) -> None:
        """Publish and wait for the broker's confirm; raises on failure."""
        with self._lock:
            try:
                producer = self._ensure()
                target: Exchange | str = exchange
                if exchange:
                    ex = Exchange(exchange, type=exchange_type, durable=True)
                    if exchange not in self._declared:
                        ex.declare(channel=producer.channel)
                        self._declared.add(exchange)
                    target = ex
                properties: dict[str, Any] = {}
                if message_id:
                    properties["message_id"] = message_id
                if expiration is not None:
                    properties["expiration"] = expiration
                producer.publish(
                    body,
                    exchange=target,
                    routing_key=routing_key,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=PERSISTENT,
                    headers=headers or {},
                    retry=False,
                    **properties,
                )
            except Exception:
                self._close()
                raise

    def declare_queue(self, name: str, arguments: dict[str, Any] | None = None) -> None:
        from kombu import Queue

        with self._lock:
            try:
                producer = self._ensure()
                Queue(name, durable=True, queue_arguments=arguments or {}).declare(
                    channel=producer.channel
                )
            except Exception:
                self._close()
                raise

    def close(self) -> None:
        with self._lock:
            self._close()
