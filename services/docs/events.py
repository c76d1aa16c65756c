"""Events the documents service publishes on ``docs.events`` (the contract).

Payloads name documents by id, category and level, never by title or content: any
internal app bound to the exchange receives them, and a secret document's title is
itself secret. The bytes never travel through the broker."""

from __future__ import annotations

from datetime import datetime

from crm_platform.events import EventData


class DocumentCreated(EventData):
    event_type = "document.created"
    id: str
    category: str
    level: str
    owner_id: str
    customer_ids: list[str]
    order_ids: list[str]
    product_ids: list[str]
    campaign_ids: list[str]
    work_order_ids: list[str] = []
    version: int


class DocumentVersionAdded(EventData):
    """A new immutable version (a draft) was stored; ``sha256`` is its checksum."""

    event_type = "document.version_added"
    id: str
    number: int
    size: int
    sha256: str
    content_type: str
    uploaded_by: str


class DocumentVersionEffective(EventData):
    """``number`` is now the valid version; ``superseded`` (if any) became obsolete."""

    event_type = "document.version_effective"
    id: str
    number: int
    superseded: int | None


class DocumentAccessRequested(EventData):
    """A borrowing waits for the document's owner or an archive manager."""

    event_type = "document.access_requested"
    id: str
    request_id: str
    requester_id: str
    owner_id: str
    days: int


class DocumentAccessGranted(EventData):
    """A borrowing was approved: ``requester_id`` may read until ``expires_at``."""

    event_type = "document.access_granted"
    id: str
    request_id: str
    requester_id: str
    decided_by: str
    expires_at: datetime


class DocumentAccessRejected(EventData):
    """A borrowing was refused: tell ``requester_id`` (``comment``: why, if given)."""

    event_type = "document.access_rejected"
    id: str
    request_id: str
    requester_id: str
    decided_by: str
    comment: str | None = None


class DocumentDestroyed(EventData):
    """Every version's bytes are gone; the destruction record stays for ever."""

    event_type = "document.destroyed"
    id: str
    category: str
    record_id: str
    requested_by: str
    approved_by: str
    versions: int
