"""The inbox (NTF-01), sending by request, the delivery log and provider receipts
(NTF-06), one-click unsubscribe (NTF-05)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from xml.etree import ElementTree

import orjson
from crm_platform.auth import Caller
from crm_platform.db import insert_ignore, utcnow
from crm_platform.errors import Forbidden, NotFound, ValidationFailed
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select, update

from services.notify import schemas
from services.notify.db import queries
from services.notify.db.models import (
    Contact,
    Delivery,
    InboxMessage,
    OptOut,
    Staff,
    Template,
)
from services.notify.domain.delivery import DELIVERY
from services.notify.events import RecipientUnsubscribed
from services.notify.settings import NotifySettings
from services.notify.use_cases.common import out
from services.notify.use_cases.planning import (
    Occurrence,
    Plan,
    Recipient,
    contact_recipient,
    customer_contacts,
    plan,
    recipient_of_token,
    staff_recipient,
)


# -- inbox -----------------------------------------------------------------------------------------
def list_inbox(uow: UnitOfWork, caller: Caller, q: schemas.InboxQuery) -> dict[str, Any]:
    query = select(InboxMessage).where(InboxMessage.recipient_id == caller.user_id)
    if q.unread is not None:
        query = query.where(InboxMessage.read_at.is_(None) if q.unread
                            else InboxMessage.read_at.is_not(None))
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            [InboxMessage.created_at, InboxMessage.id], descending=True)
    return {"items": [out(schemas.InboxMessage, r) for r in rows], "next_cursor": nxt}


def unread_count(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
    count = uow.session.scalar(select(func.count()).select_from(InboxMessage).where(
        InboxMessage.recipient_id == caller.user_id, InboxMessage.read_at.is_(None)))
    return {"unread": int(count or 0)}


def mark_read(uow: UnitOfWork, caller: Caller, message_id: str) -> dict[str, Any]:
    row = uow.session.get(InboxMessage, message_id, with_for_update=True)
    if row is None or row.recipient_id != caller.user_id:
        raise NotFound("message not found", code="message_not_found")
    if row.read_at is None:
        row.read_at = utcnow()
    uow.commit()
    return out(schemas.InboxMessage, row)


def mark_all_read(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
    marked = uow.session.execute(update(InboxMessage).where(
        InboxMessage.recipient_id == caller.user_id, InboxMessage.read_at.is_(None))
        .values(read_at=utcnow()))
    uow.commit()
    return {"marked": int(getattr(marked, "rowcount", 0) or 0)}


# -- sending by request ----------------------------------------------------------------------------
def send_notification(uow: UnitOfWork, caller: Caller, data: schemas.NotificationIn,
                      request_id: str | None) -> dict[str, Any]:
    """A message to chosen people (a marketing campaign's SMS, a care letter), under the
    same consent rules as any. ``request_id`` (the Idempotency-Key) makes a retried
    request plan nothing twice."""
    s = uow.session
    template = s.get(Template, data.template_id)
    if template is None:
        raise ValidationFailed("no such template", code="invalid_template_id")
    people: dict[str, Recipient] = {}
    for contact_id in data.recipients.contact_ids:
        contact = s.get(Contact, contact_id)
        if contact is None or contact.is_deleted:
            raise ValidationFailed(f"unknown contact {contact_id}", code="unknown_recipient")
        people.setdefault(f"contact:{contact.id}", contact_recipient(contact))
    for customer_id in data.recipients.customer_ids:
        for person in customer_contacts(s, customer_id):
            people.setdefault(person.key, person)
    for user_id in data.recipients.user_ids:
        user = s.get(Staff, user_id)
        if user is None:
            raise ValidationFailed(f"unknown user {user_id}", code="unknown_recipient")
        people.setdefault(f"staff:{user.id}", staff_recipient(user))
    notification_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{caller.user_id}/{request_id}")) \
        if request_id else str(uuid.uuid4())
    info = {"id": notification_id, "type": "notification.requested", "source": "/crm/notify",
            "subject": notification_id, "time": utcnow().isoformat()}
    result = Plan()
    plan(uow, Occurrence(f"request:{notification_id}", notification_id, info, data.data),
         template, data.category, list(data.channels), list(people.values()), utcnow(),
         result)
    uow.commit()
    return {"id": notification_id, "queued": result.created, "suppressed": result.suppressed,
            "delivery_ids": result.ids}


PORTAL_INVITE = "portal_account.invited"  # the delivery log's event type of invitations
PORTAL_INVITE_TEMPLATE = "portal_invite"  # the default template's key


def send_portal_invite(uow: UnitOfWork, data: schemas.PortalInviteMail) -> dict[str, Any]:
    """E-mail a contact their portal invitation. The contact is addressed as the gateway
    has it from the customer service (the copy here may not have it yet); one message
    per invitation (a token), however often this is asked."""
    s = uow.session
    template = s.scalar(select(Template).where(
        Template.default_key == PORTAL_INVITE_TEMPLATE))
    if template is None:
        raise NotFound("the portal invitation template was deleted",
                       code="template_not_found")
    invitation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "portal-invite/" + hashlib.sha256(
        data.invite_token.encode()).hexdigest()))
    info = {"id": invitation_id, "type": PORTAL_INVITE, "source": "/crm/gateway",
            "subject": data.contact_id, "time": utcnow().isoformat()}
    person = Recipient("contact", data.contact_id, data.name, data.locale, email=data.email,
                       customer_id=data.customer_id)
    result = Plan()
    plan(uow, Occurrence(f"request:{invitation_id}", invitation_id, info,
                         data.model_dump(mode="json")),
         template, "transactional", ["email"], [person], utcnow(), result)
    uow.commit()
    return {"id": invitation_id, "queued": result.created, "suppressed": result.suppressed,
            "delivery_ids": result.ids}


# -- delivery log ----------------------------------------------------------------------------------
def _delivery_out(row: Delivery) -> dict[str, Any]:
    found = out(schemas.Delivery, row)
    if row.event_type == PORTAL_INVITE:  # the one-time token is the contact's alone
        found["body_text"] = "(withheld: a portal invitation)"
    return found


def list_deliveries(uow: UnitOfWork, q: schemas.DeliveryQuery) -> dict[str, Any]:
    query = select(Delivery)
    for name in ("status", "channel", "recipient_id", "event_id", "rule_id"):
        value = getattr(q, name)
        if value is not None:
            query = query.where(getattr(Delivery, name) == value)
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            [Delivery.created_at, Delivery.id], descending=True)
    return {"items": [_delivery_out(r) for r in rows], "next_cursor": nxt}


def get_delivery(uow: UnitOfWork, delivery_id: str) -> dict[str, Any]:
    return _delivery_out(queries.get_delivery(uow.session, delivery_id))


def retry_delivery(uow: UnitOfWork, delivery_id: str) -> dict[str, Any]:
    """Send a failed message again (after a provider was configured or fixed)."""
    row = queries.get_delivery(uow.session, delivery_id, lock=True)
    row.status = DELIVERY.next(row.status, "requeue")
    row.due_at = row.updated_at = utcnow()
    row.reason = None
    uow.commit()
    return _delivery_out(row)


# -- provider receipts -----------------------------------------------------------------------------
def _receipt(uow: UnitOfWork, provider: str, message_id: str | None, delivery_id: str | None,
             ok: bool, detail: str) -> int:
    s = uow.session
    query = select(Delivery).where(Delivery.provider == provider)
    if delivery_id:
        query = query.where(Delivery.id == delivery_id)
    elif message_id:
        query = query.where(Delivery.provider_message_id == message_id)
    else:
        return 0
    row = s.scalars(query.with_for_update()).first()
    if row is None or row.status != "sent":
        return 0
    now = utcnow()
    if ok:
        row.status, row.delivered_at = DELIVERY.next(row.status, "confirm"), now
    else:
        row.status, row.reason = DELIVERY.next(row.status, "fail"), f"receipt: {detail}"
    row.provider_response = f"{row.provider_response or ''}\nreceipt: {detail}"[-2000:]
    row.updated_at = now
    return 1


def aliyun_sms_receipts(uow: UnitOfWork, settings: NotifySettings,
                        request: schemas.PublicRequest) -> dict[str, Any]:
    """Alibaba Cloud's SMS report push: a JSON array of ``{out_id, biz_id, success,
    err_code, err_msg, …}``; the push URL carries ``?token=`` (CRM_SMS_RECEIPT_TOKEN)."""
    if not settings.sms_receipt_token or request.query.get("token") != \
            settings.sms_receipt_token:
        raise Forbidden("bad receipt token", code="invalid_receipt_token")
    try:
        reports = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("not JSON", code="invalid_receipt") from exc
    if not isinstance(reports, list):
        raise ValidationFailed("expected a JSON array of reports", code="invalid_receipt")
    updated = 0
    for report in reports:
        if isinstance(report, dict):
            updated += _receipt(uow, "aliyun_sms", str(report.get("biz_id") or "") or None,
                                str(report.get("out_id") or "") or None,
                                bool(report.get("success")),
                                f"{report.get('err_code')} {report.get('err_msg') or ''}")
    uow.commit()
    return {"updated": updated}


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's server-message signature: SHA-1 of the sorted, concatenated token,
    timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def wechat_receipts(uow: UnitOfWork, settings: NotifySettings,
                    request: schemas.PublicRequest) -> dict[str, Any]:
    """WeChat's ``TEMPLATESENDJOBFINISH`` event (XML), signed with the account's token."""
    q = request.query
    if not settings.wechat_token or q.get("signature") != wechat_signature(
            settings.wechat_token, q.get("timestamp", ""), q.get("nonce", "")):
        raise Forbidden("bad WeChat signature", code="invalid_receipt_token")
    try:
        xml = ElementTree.fromstring(request.body)
    except ElementTree.ParseError as exc:
        raise ValidationFailed("not XML", code="invalid_receipt") from exc
    if (xml.findtext("Event") or "") != "TEMPLATESENDJOBFINISH":
        return {"updated": 0}
    status = xml.findtext("Status") or ""
    updated = _receipt(uow, "wechat", xml.findtext("MsgID"), None, status == "success",
                       status)
    uow.commit()
    return {"updated": updated}


# -- one-click unsubscribe (RFC 8058) --------------------------------------------------------------
def unsubscribe(uow: UnitOfWork, token: str) -> dict[str, Any]:
    recipient_key = recipient_of_token(token)
    if recipient_key is None:
        raise NotFound("unknown unsubscribe link", code="invalid_unsubscribe_token")
    kind, _, recipient_id = recipient_key.partition(":")
    if insert_ignore(uow.session, OptOut.__table__, {
            "recipient_key": recipient_key, "source": "one_click", "created_at": utcnow()}):
        contact = uow.session.get(Contact, recipient_id) if kind == "contact" else None
        uow.publish(RecipientUnsubscribed(
            recipient_kind=kind, recipient_id=recipient_id,
            customer_id=contact.customer_id if contact else
            (recipient_id if kind == "customer" else None)))
    uow.commit()
    return {"unsubscribed": True}
