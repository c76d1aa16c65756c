"""Outbound webhook endpoints (NTF-07) and inbound lead capture."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import orjson
from crm_platform import webhook_signing
from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, Forbidden, NotFound, ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from services.notify import schemas
from services.notify.channels.webhook_http import resolve
from services.notify.db import queries
from services.notify.db.models import (
    InboundLead,
    InboundSource,
    Staff,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from services.notify.domain import webhooks
from services.notify.events import InboundLeadReceived
from services.notify.settings import NotifySettings
from services.notify.use_cases.common import out


def check_url(url: str, settings: NotifySettings) -> None:
    why = webhooks.refusal(url, settings.allowed_hosts, resolve)
    if why:
        raise ValidationFailed(f"this URL is not allowed: {why}", code="webhook_url_refused",
                               extra={"errors": [{"field": "url", "message": why}]})


def create_endpoint(uow: UnitOfWork, caller: Caller, data: schemas.WebhookIn,
                    settings: NotifySettings) -> dict[str, Any]:
    check_url(data.url, settings)
    now = utcnow()
    row = WebhookEndpoint(id=str(uuid.uuid4()), url=data.url, description=data.description,
                          event_types=list(data.event_types), secret=webhook_signing.new_secret(),
                          status="active", created_by=caller.user_id, version=1,
                          created_at=now, updated_at=now)
    uow.session.add(row)
    uow.commit()
    return {**out(schemas.Webhook, row), "secret": row.secret}


def list_endpoints(uow: UnitOfWork, q: schemas.Query) -> dict[str, Any]:
    rows, nxt = keyset_page(uow.session, select(WebhookEndpoint), q.limit, q.cursor,
                            [WebhookEndpoint.created_at, WebhookEndpoint.id], descending=True)
    return {"items": [out(schemas.Webhook, r) for r in rows], "next_cursor": nxt}


def get_endpoint(uow: UnitOfWork, endpoint_id: str) -> dict[str, Any]:
    return out(schemas.Webhook, queries.endpoint(uow.session, endpoint_id))


def update_endpoint(uow: UnitOfWork, endpoint_id: str, data: schemas.WebhookUpdate,
                    expected_version: int | None, settings: NotifySettings) -> dict[str, Any]:
    row = queries.endpoint(uow.session, endpoint_id, lock=True)
    check_version(row.version, expected_version, "webhook endpoint")
    changes = data.model_dump(exclude_unset=True)
    if "url" in changes:
        check_url(changes["url"], settings)
    for name, value in changes.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = utcnow()
    uow.commit()
    return out(schemas.Webhook, row)


def delete_endpoint(uow: UnitOfWork, endpoint_id: str) -> dict[str, Any]:
    s = uow.session
    row = queries.endpoint(s, endpoint_id, lock=True)
    gone = out(schemas.Webhook, row)
    ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    s.query(WebhookAttempt).filter(WebhookAttempt.delivery_id.in_(ids)).delete(
        synchronize_session=False)
    s.query(WebhookDelivery).filter(WebhookDelivery.endpoint_id == endpoint_id).delete(
        synchronize_session=False)
    s.delete(row)
    uow.commit()
    return gone


def set_endpoint_status(uow: UnitOfWork, endpoint_id: str, action: str) -> dict[str, Any]:
    row = queries.endpoint(uow.session, endpoint_id, lock=True)
    row.status = webhooks.ENDPOINT.next(row.status, action)
    if action == "enable":
        row.failing_since, row.disabled_reason = None, None
    else:
        row.disabled_reason = "disabled by an admin"
    row.version += 1
    row.updated_at = utcnow()
    uow.commit()
    return out(schemas.Webhook, row)


def rotate_secret(uow: UnitOfWork, endpoint_id: str, data: schemas.RotateSecret
                  ) -> dict[str, Any]:
    """A new secret, returned once; the old one keeps signing (beside the new) for the
    overlap, so receivers can switch without missing a delivery."""
    row = queries.endpoint(uow.session, endpoint_id, lock=True)
    now = utcnow()
    row.previous_secret = row.secret
    row.previous_secret_expires_at = now + timedelta(hours=data.overlap_hours)
    row.secret = webhook_signing.new_secret()
    row.version += 1
    row.updated_at = now
    uow.commit()
    return {**out(schemas.Webhook, row), "secret": row.secret}


def list_deliveries(uow: UnitOfWork, endpoint_id: str, q: schemas.WebhookDeliveryQuery
                    ) -> dict[str, Any]:
    s = uow.session
    queries.endpoint(s, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if q.status:
        query = query.where(WebhookDelivery.status == q.status)
    rows, nxt = keyset_page(s, query, q.limit, q.cursor,
                            [WebhookDelivery.created_at, WebhookDelivery.id], descending=True)
    attempts: dict[str, list[WebhookAttempt]] = {}
    if rows:
        for attempt in s.scalars(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_([r.id for r in rows]))
                .order_by(WebhookAttempt.id)):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    items = []
    for row in rows:
        item = out(schemas.WebhookDelivery, row)
        item["attempt_log"] = [out(schemas.WebhookAttempt, a)
                               for a in attempts.get(row.id, [])]
        items.append(item)
    return {"items": items, "next_cursor": nxt}


def replay_delivery(uow: UnitOfWork, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    row = uow.session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if row is None or row.endpoint_id != endpoint_id:
        raise NotFound("webhook delivery not found", code="webhook_delivery_not_found")
    row.status, row.next_attempt_at, row.replay = "pending", utcnow(), True
    uow.commit()
    return out(schemas.WebhookDelivery, row)


def replay_since(uow: UnitOfWork, endpoint_id: str, data: schemas.ReplaySince
                 ) -> dict[str, Any]:
    """Every delivery to the endpoint since ``since`` again (or the failed ones), with
    their original ``webhook-id``."""
    queries.endpoint(uow.session, endpoint_id)
    statement = update(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id,
                                              WebhookDelivery.created_at >= data.since)
    if data.status == "failed":
        statement = statement.where(WebhookDelivery.status == "failed")
    result = uow.session.execute(statement.values(status="pending", next_attempt_at=utcnow(),
                                                  replay=True))
    uow.commit()
    return {"replayed": int(getattr(result, "rowcount", 0) or 0)}


# -- inbound lead capture --------------------------------------------------------------------------
def create_source(uow: UnitOfWork, data: schemas.InboundSourceIn) -> dict[str, Any]:
    if uow.session.get(Staff, data.owner_id) is None:
        raise ValidationFailed("the owner is not a known user", code="invalid_owner", extra={
            "errors": [{"field": "owner_id", "message": "user not found"}]})
    row = InboundSource(id=str(uuid.uuid4()), name=data.name, owner_id=data.owner_id,
                        campaign_id=data.campaign_id, secret=webhook_signing.new_secret(),
                        enabled=True, version=1, created_at=utcnow())
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict("a source with this name exists", code="duplicate_source") from None
    uow.commit()
    return {**out(schemas.InboundSource, row), "secret": row.secret}


def list_sources(uow: UnitOfWork, q: schemas.Query) -> dict[str, Any]:
    rows, nxt = keyset_page(uow.session, select(InboundSource), q.limit, q.cursor,
                            [InboundSource.created_at, InboundSource.id], descending=True)
    return {"items": [out(schemas.InboundSource, r) for r in rows], "next_cursor": nxt}


def receive_lead(uow: UnitOfWork, source_name: str, request: schemas.PublicRequest
                 ) -> dict[str, Any]:
    """A signed lead from a source. Stored once per the source's own id, and handed to
    the sales service as ``inbound_lead.received`` in the same transaction; a source
    sending it again gets the first answer, marked ``duplicate``."""
    s = uow.session
    source = s.scalar(select(InboundSource).where(InboundSource.name == source_name))
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = request.body.encode()
    if source is None or not source.enabled or not webhook_signing.verify(
            [source.secret], headers.get("webhook-id", ""),
            headers.get("webhook-timestamp", ""), headers.get("webhook-signature", ""),
            body, utcnow()):
        raise Forbidden("unknown source or bad signature", code="invalid_signature")
    try:
        lead = schemas.InboundLeadIn.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else []
        raise ValidationFailed("not a lead", code="invalid_lead",
                               extra={"errors": [{"field": ".".join(map(str, e["loc"])),
                                                  "message": e["msg"]} for e in errors]}
                               ) from None
    existing = s.scalar(select(InboundLead).where(InboundLead.source_id == source.id,
                                                  InboundLead.external_id == lead.id))
    if existing is not None:
        return {"id": existing.id, "source": source.name, "external_id": lead.id,
                "duplicate": True}
    record = InboundLead(id=str(uuid.uuid4()), source_id=source.id, external_id=lead.id,
                         payload=lead.model_dump(mode="json"), received_at=utcnow())
    s.add(record)
    try:
        s.flush()
    except IntegrityError:  # the same lead arrived twice at once: the other one won
        uow.rollback()
        return receive_lead(uow, source_name, request)
    uow.publish(InboundLeadReceived(
        id=record.id, source=source.name, external_id=lead.id, owner_id=source.owner_id,
        campaign_id=source.campaign_id, **lead.model_dump(exclude={"id"})))
    uow.commit()
    return {"id": record.id, "source": source.name, "external_id": lead.id,
            "duplicate": False}
