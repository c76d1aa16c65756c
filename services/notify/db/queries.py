"""SQL of the notification service."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from crm_platform.db import is_postgres, skip_locked
from crm_platform.errors import NotFound
from crm_platform.read_models import follow_merges
from sqlalchemy import JSON, Select, and_, cast, extract, func, null, or_, select, text, union_all
from sqlalchemy.orm import Session

from services.notify.db.models import (
    Contact,
    Customer,
    Delivery,
    OptOut,
    Rule,
    Schedule,
    Staff,
    Team,
    WebhookDelivery,
    WebhookEndpoint,
)
from services.notify.domain import rules as rule_rules

COUNTED_STATUSES = ("queued", "sent", "delivered")


def rules_for(s: Session, event_type: str) -> list[Rule]:
    """Enabled rules for ``event_type``: its own rows and the patterns that match it."""
    prefixes = ["*"]
    parts = event_type.split(".")
    prefixes += [".".join(parts[:i]) + ".*" for i in range(1, len(parts))]
    rows = s.scalars(select(Rule).where(Rule.enabled.is_(True),
                                        Rule.event_type.in_([event_type, *prefixes]))
                     .order_by(Rule.created_at, Rule.id))
    return [r for r in rows if rule_rules.matches(r.event_type, event_type)]


def subscribed_patterns(s: Session) -> set[str]:
    """The event types (and ``x.*`` / ``*`` patterns) of the enabled rules and of the
    active webhook endpoints' subscriptions."""
    # one round trip: the stream asks this for every batch of events
    rows = s.execute(union_all(
        select(Rule.event_type, cast(null(), JSON)).where(Rule.enabled.is_(True)),
        select(null(), WebhookEndpoint.event_types).where(
            WebhookEndpoint.status == "active")))
    patterns: set[str] = set()
    for pattern, types in rows:
        patterns.update([pattern] if pattern is not None else types or ())
    return patterns


def staff(s: Session, user_id: str | None) -> Staff | None:
    return s.get(Staff, user_id) if user_id else None


def manager_of(s: Session, user_id: str | None) -> Staff | None:
    """The manager of the user's team; the parent team's when the user manages it."""
    person = staff(s, user_id)
    team = s.get(Team, person.team_id) if person and person.team_id else None
    for _ in range(10):
        if team is None:
            return None
        if team.manager_id and team.manager_id != user_id:
            return staff(s, team.manager_id)
        team = s.get(Team, team.parent_id) if team.parent_id else None
    return None


def customer(s: Session, customer_id: str | None) -> Customer | None:
    return follow_merges(s, Customer, customer_id) if customer_id else None


def contacts_of(s: Session, customer_id: str) -> list[Contact]:
    return list(s.scalars(select(Contact).where(Contact.customer_id == customer_id,
                                                Contact.is_deleted.is_(False))
                          .order_by(Contact.id)))


def _copied_since(query: Select[Any], since: datetime | None) -> Select[Any]:
    return query if since is None else query.where(Contact.copied_at >= since)


def contacts_with_birthday(s: Session, days: Iterable[tuple[int, int]],
                           since: datetime | None = None) -> list[Contact]:
    """Contacts born on one of ``days`` (month, day); only those copied since ``since``."""
    month, day = extract("month", Contact.birthday), extract("day", Contact.birthday)
    query = select(Contact).where(Contact.is_deleted.is_(False), Contact.birthday.is_not(None),
                                  or_(*[and_(month == m, day == d) for m, d in days]))
    return list(s.scalars(_copied_since(query, since).order_by(Contact.id)))


def all_contacts(s: Session, since: datetime | None = None) -> list[Contact]:
    query = select(Contact).where(Contact.is_deleted.is_(False))
    return list(s.scalars(_copied_since(query, since).order_by(Contact.id)))


def opted_out_keys(s: Session, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    return set(s.scalars(select(OptOut.recipient_key).where(OptOut.recipient_key.in_(keys))))


def lock_recipient_channel(s: Session, recipient_key: str, channel: str) -> None:
    """Serialise the cap check of one recipient and channel across replicas (the count
    and the insert that follows it)."""
    if is_postgres(s):
        key = zlib.crc32(f"{recipient_key}/{channel}".encode())
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def count_recent(s: Session, kind: str, recipient_id: str, channel: str, category: str,
                 since: datetime) -> int:
    return int(s.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.recipient_kind == kind, Delivery.recipient_id == recipient_id,
        Delivery.channel == channel, Delivery.category == category,
        Delivery.created_at >= since, Delivery.status.in_(COUNTED_STATUSES))) or 0)


def claim_due_delivery(s: Session, now: datetime, channels: tuple[str, ...]) -> Delivery | None:
    query = (select(Delivery).where(Delivery.status == "queued", Delivery.due_at <= now,
                                    Delivery.channel.in_(channels))
             .order_by(Delivery.due_at).limit(1))
    return s.scalars(skip_locked(s, query)).first()


def get_delivery(s: Session, delivery_id: str, lock: bool = False) -> Delivery:
    row = s.get(Delivery, delivery_id, with_for_update=lock or None)
    if row is None:
        raise NotFound("delivery not found", code="delivery_not_found")
    return row


def due_schedules(s: Session, now: datetime, batch: int) -> list[Schedule]:
    query = select(Schedule).where(Schedule.next_at <= now).order_by(Schedule.next_at) \
        .limit(batch)
    return list(s.scalars(skip_locked(s, query)))


def calendar_rules(s: Session) -> list[Rule]:
    return list(s.scalars(select(Rule).where(Rule.enabled.is_(True),
                                             Rule.event_type.in_(rule_rules.SCHEDULED))
                          .order_by(Rule.created_at, Rule.id)))


# -- webhooks ------------------------------------------------------------------------------------
def active_endpoints(s: Session) -> list[WebhookEndpoint]:
    return list(s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.status == "active")))


def claim_due_webhook(s: Session, now: datetime) -> WebhookDelivery | None:
    query: Select[Any] = (
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
               WebhookEndpoint.status == "active")
        .order_by(WebhookDelivery.next_attempt_at).limit(1))
    if is_postgres(s):
        query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
    return s.scalars(query).first()


def endpoint(s: Session, endpoint_id: str, lock: bool = False) -> WebhookEndpoint:
    row = s.get(WebhookEndpoint, endpoint_id, with_for_update=lock or None)
    if row is None:
        raise NotFound("webhook endpoint not found", code="webhook_not_found")
    return row

