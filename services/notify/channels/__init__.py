"""How messages leave the platform: one adapter per provider, behind one interface.

``send(message)`` returns what the provider said (:class:`Sent`) or raises
:class:`SendFailed` with a :class:`~services.notify.domain.delivery.Failure` that says
whether trying again may help. Adapters do I/O only; what to do next is decided by
``use_cases.sending``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notify.domain.delivery import Failure


@dataclass(frozen=True)
class OutgoingMessage:
    delivery_id: str
    channel: str
    address: str
    recipient_name: str | None
    subject: str
    text: str
    html: str | None
    provider_template: str | None = None
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Sent:
    provider: str
    message_id: str | None
    response: str


class SendFailed(Exception):
    def __init__(self, failure: Failure, provider: str) -> None:
        super().__init__(failure.error)
        self.failure = failure
        self.provider = provider


class Provider(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> Sent: ...

    def close(self) -> None: ...


class NotConfigured:
    """A channel whose settings are missing: every message fails at once, with the
    reason, and is not retried (a delivery can be retried by hand once configured)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def send(self, message: OutgoingMessage) -> Sent:
        raise SendFailed(Failure(f"not sent: {self.reason}", retriable=False), self.name)

    def close(self) -> None:
        return None
