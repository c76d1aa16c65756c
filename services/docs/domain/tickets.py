"""Short-lived signed tickets for the content port (DOC-02).

The gateway asks the docs service over RPC whether a caller may upload or download;
the answer is a ticket the content port accepts on its own: an HMAC-SHA256 over what
was authorised (the operation, document, version, caller, expiry), keyed with the
platform secret. The bytes then flow gateway → content port → storage without another
check, and a ticket cannot be stretched to another document, version or caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from crm_platform.errors import Unauthorized

Operation = Literal["upload", "download"]


@dataclass(frozen=True)
class Ticket:
    op: Operation
    document_id: str
    user_id: str
    expires: float  # unix time
    # upload: the document version the upload was based on (If-Match), the file name
    # and the type the client declared; download: the version number to send
    document_version: int | None = None
    number: int | None = None
    filename: str | None = None
    declared_type: str | None = None
    max_bytes: int | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def sign(ticket: Ticket, secret: str) -> str:
    payload = _b64(json.dumps(asdict(ticket), separators=(",", ":"),
                              ensure_ascii=False).encode())
    return f"{payload}.{_mac(secret, payload)}"


def verify(token: str, secret: str, op: Operation, now: float) -> Ticket:
    """The ticket if it is ours, for ``op`` and not expired; else 401."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise Unauthorized("invalid content ticket", code="invalid_ticket")
    try:
        data: dict[str, Any] = json.loads(_unb64(payload))
        ticket = Ticket(**data)
    except (ValueError, TypeError) as exc:
        raise Unauthorized("invalid content ticket", code="invalid_ticket") from exc
    if ticket.op != op:
        raise Unauthorized("the ticket is for another operation", code="invalid_ticket")
    if ticket.expires < now:
        raise Unauthorized("the content ticket expired", code="ticket_expired")
    return ticket
