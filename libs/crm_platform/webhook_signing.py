"""Standard Webhooks signing (https://www.standardwebhooks.com/), both ways.

A message carries ``webhook-id`` (the same on every retry: the receiver's idempotency
key), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``:
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the secret (``whsec_<base64>``).
While a rotated secret's overlap lasts, the header carries both signatures,
space-separated. Used by notifications' outbound webhooks and inbound lead capture, and
by the call centre's telephony webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

SECRET_PREFIX = "whsec_"
# a signed message older (or newer) than this is refused: a captured one cannot be
# replayed later, and the receiver need remember message ids only this long
TOLERANCE = timedelta(minutes=5)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw + "==")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body,
                      hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int,
                     body: bytes) -> str:
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes
                   ) -> dict[str, str]:
    """The three headers of a message (senders, tests, benchmarks)."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}


def verify(secrets_: Iterable[str], msg_id: str, timestamp: str, signature: str,
           body: bytes, now: datetime, tolerance: timedelta = TOLERANCE) -> bool:
    """Whether ``signature`` is one of the secrets' over this message, sent within
    ``tolerance`` of ``now``; compared in constant time."""
    if not msg_id:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > tolerance.total_seconds():
        return False
    offered = signature.split(" ")
    for secret in secrets_:
        expected = sign(secret, msg_id, sent, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return True
    return False
