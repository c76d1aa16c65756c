"""Events the notification service publishes on ``notify.events`` (the contract)."""

from __future__ import annotations

from datetime import datetime

from crm_platform.events import EventData


class InboundLeadReceived(EventData):
    """A lead arrived from an external source (a web form, a lead marketplace) with a
    valid signature; the sales service creates the lead from it. ``id`` is the platform's
    record of it; ``external_id`` the source's own id (a source resending it makes no
    second event)."""

    event_type = "inbound_lead.received"
    id: str
    source: str
    external_id: str
    owner_id: str
    campaign_id: str | None = None
    name: str
    kind: str = "company"
    contact_name: str | None = None
    phone: str | None = None
    email: str | None = None
    province: str | None = None
    industry: str | None = None
    note: str | None = None


class WebhookEndpointDisabled(EventData):
    """Deliveries to the endpoint failed for longer than allowed; nothing more is sent
    until an admin enables it (and replays what it missed)."""

    event_type = "webhook_endpoint.disabled"
    id: str
    url: str
    failing_since: datetime
    reason: str


class RecipientUnsubscribed(EventData):
    """A contact (or person customer) unsubscribed from marketing with the one-click
    link of a message (RFC 8058)."""

    event_type = "recipient.unsubscribed"
    subject_field = "recipient_id"
    recipient_kind: str
    recipient_id: str
    customer_id: str | None = None
