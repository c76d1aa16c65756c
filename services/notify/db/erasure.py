"""What notifications keep of a person erased on request (#26 S8). The delivery log keeps
that a message was sent to them — when, on which channel, by which rule, its status —
and loses to whom it went (name, address) and what it said. Messages to staff, webhook
deliveries and captured leads that mention the person's values are scrubbed of them."""

from __future__ import annotations

from collections.abc import Sequence

from crm_platform.erasure import ERASED, mentioning, scrub_rows
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from services.notify.db.models import (
    Delivery,
    InboundLead,
    InboxMessage,
    WebhookAttempt,
    WebhookDelivery,
)

ERASED_BODY = '{"erased": true}'
# the erasures' own events are anonymised already, and tell subscribers to erase theirs
ERASURE_EVENTS = ("customer.erased", "contact.erased")


def erase_deliveries_to(s: Session, recipient_kind: str, recipient_id: str) -> None:
    """Messages not sent yet are not sent: suppressed, reason ``erased``."""
    s.execute(update(Delivery).where(Delivery.recipient_kind == recipient_kind,
                                     Delivery.recipient_id == recipient_id,
                                     Delivery.status == "queued")
              .values(status="suppressed", reason="erased"))
    s.execute(update(Delivery).where(Delivery.recipient_kind == recipient_kind,
                                     Delivery.recipient_id == recipient_id)
              .values(recipient_name=None, address=None, subject=ERASED, body_text=ERASED,
                      body_html=None, provider_response=None))


def scrub_mentions(s: Session, record_id: str, values: Sequence[str]) -> None:
    """A scan of each table: an erasure is rare, and these rows point at no record. An
    event delivered to a webhook about the person (by id) or naming them is kept as
    delivered without its body: it carried the whole record, free text and all (the
    erasure's own event stays, for subscribers to erase their copies)."""
    scrub_rows(s, Delivery, ["recipient_name", "address", "subject", "body_text",
                             "body_html", "provider_response"], values)
    scrub_rows(s, InboxMessage, ["title", "body"], values)
    about = WebhookDelivery.body.contains(record_id, autoescape=True)
    if values:
        about = or_(about, mentioning(WebhookDelivery.body, values))
    s.execute(update(WebhookDelivery).where(
        about, WebhookDelivery.event_type.not_in(ERASURE_EVENTS)).values(body=ERASED_BODY))
    scrub_rows(s, WebhookAttempt, ["response_body", "error"], values)
    scrub_rows(s, InboundLead, ["payload"], values)
