"""From an event (or a scheduled occurrence, or a request to send) to deliveries.

Everything here runs in the transaction that consumes the event: the deliveries commit
with the inbox mark, and each has a unique ``dedup_key`` (rule or request, recipient,
channel, occurrence), so an occurrence makes each message once however often it is
planned — by a redelivered event, two replicas, or a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from crm_platform.contracts import publisher_modules
from crm_platform.db import insert_ignore, read_setting, utcnow
from crm_platform.events import CloudEvent, EventData, event_models
from crm_platform.read_models import staff_with_role
from crm_platform.settings import get_settings
from crm_platform.uow import UnitOfWork
from jinja2 import TemplateError
from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.notify.db import queries
from services.notify.db.models import (
    Contact,
    Customer,
    Delivery,
    InboxMessage,
    Rule,
    Schedule,
    Setting,
    Staff,
    Template,
    WebhookDelivery,
    WebhookEndpoint,
)
from services.notify.domain import consent, rules, templates
from services.notify.domain.rules import Timing
from services.notify.domain.webhooks import matches_any
from services.notify.settings import notify_settings

CONSENT_SETTING = "consent"


@lru_cache(maxsize=1)
def event_payload_models() -> dict[str, type[EventData]]:
    """Every event type the platform publishes → its payload model (the contracts)."""
    found: dict[str, type[EventData]] = {}
    for module in publisher_modules().values():
        for model in event_models(module):
            found[model.event_type] = model
    return found


def payload_fields(event_type: str | None) -> list[str] | None:
    model = event_payload_models().get(event_type or "")
    return None if model is None else list(model.model_fields)


def payload_of(event: CloudEvent) -> dict[str, Any]:
    """The event's data read through its publisher's model when the platform knows it
    (defaults filled in, values checked), else as sent."""
    model = event_payload_models().get(event.type)
    if model is None:
        return dict(event.data)
    return event.payload(model).model_dump(mode="json")


def policy(s: Session) -> consent.Policy:
    return consent.policy_from(read_setting(s, Setting, CONSENT_SETTING,
                                            consent.DEFAULT_SETTINGS))


# -- recipients ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipient:
    kind: str  # staff | contact | customer
    id: str
    name: str
    locale: str
    email: str | None = None
    phone: str | None = None
    wechat_openid: str | None = None
    opted_out: bool = False
    customer_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def address(self, channel: str) -> str | None:
        if channel == "inbox":
            return self.id if self.kind == "staff" else None
        return {"email": self.email, "sms": self.phone,
                "wechat": self.wechat_openid}.get(channel)

    def as_context(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "locale": self.locale}


def staff_recipient(person: Staff) -> Recipient:
    return Recipient("staff", person.id, person.display_name, person.locale or "zh-CN",
                     email=person.email, phone=person.phone)


def contact_recipient(contact: Contact) -> Recipient:
    return Recipient("contact", contact.id, contact.name, contact.locale or "zh-CN",
                     email=contact.email, phone=(contact.phones or [None])[0],
                     wechat_openid=contact.wechat_openid,
                     opted_out=contact.marketing_opt_out, customer_id=contact.customer_id)


def person_customer_recipient(customer: Customer) -> Recipient:
    return Recipient("customer", customer.id, customer.name, "zh-CN",
                     email=(customer.emails or [None])[0], phone=(customer.phones or [None])[0],
                     customer_id=customer.id)


def customer_contacts(s: Session, customer_id: str | None) -> list[Recipient]:
    """A company's contacts; a person customer is its own contact."""
    found = queries.customer(s, customer_id)
    if found is None:
        return []
    contacts = queries.contacts_of(s, found.id)
    if contacts:
        return [contact_recipient(c) for c in contacts]
    return [person_customer_recipient(found)] if found.kind == "person" else []


def resolve(s: Session, roles: list[str], event_type: str, data: Mapping[str, Any]
            ) -> list[Recipient]:
    found: dict[str, Recipient] = {}
    for role in roles:
        people: list[Recipient] = []
        if role == rules.CUSTOMER_CONTACTS:
            people = customer_contacts(s, rules.customer_id_of(event_type, data))
        elif role in rules.ROLE_GROUPS:
            people = [staff_recipient(p) for p in
                      staff_with_role(s, Staff, rules.ROLE_GROUPS[role])]
        elif role == rules.OWNER_MANAGER:
            manager = queries.manager_of(s, data.get("owner_id"))
            people = [staff_recipient(manager)] if manager else []
        else:
            for user_id in rules.staff_ids(role, data):
                person = queries.staff(s, user_id)
                if person is not None and person.is_active:
                    people.append(staff_recipient(person))
        for person in people:
            found.setdefault(person.key, person)
    return list(found.values())


# -- context and rendering -------------------------------------------------------------------------
def unsubscribe_token(recipient_key: str) -> str:
    mac = hmac.new(get_settings().jwt_secret.encode(), f"unsubscribe:{recipient_key}".encode(),
                   hashlib.sha256).hexdigest()[:32]
    return f"{recipient_key.replace(':', '.')}.{mac}"


def recipient_of_token(token: str) -> str | None:
    key, _, mac = token.rpartition(".")
    recipient_key = key.replace(".", ":", 1)
    if not key or not hmac.compare_digest(unsubscribe_token(recipient_key), token):
        return None
    return recipient_key


def base_context(s: Session, event: Mapping[str, Any], data: Mapping[str, Any]
                 ) -> dict[str, Any]:
    owner = queries.staff(s, data.get("owner_id"))
    cust = queries.customer(s, rules.customer_id_of(str(event.get("type", "")), data))
    return {
        "event": dict(event),
        "data": dict(data),
        "owner": {} if owner is None else {"id": owner.id, "display_name": owner.display_name,
                                           "email": owner.email, "phone": owner.phone},
        "customer": {} if cust is None else {"id": cust.id, "name": cust.name,
                                             "code": cust.code},
    }


def event_info(event: CloudEvent) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "source": event.source,
            "subject": event.subject, "time": event.time.isoformat()}


@dataclass
class Plan:
    """What one planning pass made (for the caller's answer and the tests)."""

    created: int = 0
    suppressed: int = 0
    scheduled: int = 0
    webhooks: int = 0
    ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Occurrence:
    """One reason to send: the rule (or request) behind it, its occurrence key, the
    event it came from and anything extra the templates see (``holiday``)."""

    source_key: str  # "rule:<id>" or "request:<id>"
    key: str
    event: Mapping[str, Any]
    data: Mapping[str, Any]
    rule_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def plan(uow: UnitOfWork, occurrence: Occurrence, template: Template, category: str,
         channels: list[str], recipients: list[Recipient], now: datetime,
         result: Plan) -> None:
    s = uow.session
    rules_ = policy(s)
    context = {**base_context(s, occurrence.event, occurrence.data), **occurrence.extra}
    opted = queries.opted_out_keys(s, [r.key for r in recipients if r.kind != "staff"])
    for person in recipients:
        for channel in channels:
            _plan_one(s, occurrence, template, category, channel, person,
                      person.opted_out or person.key in opted, context, rules_, now, result)


def _plan_one(s: Session, occurrence: Occurrence, template: Template, category: str,
              channel: str, person: Recipient, opted_out: bool, context: dict[str, Any],
              rules_: consent.Policy, now: datetime, result: Plan) -> None:
    dedup = f"{occurrence.source_key}|{person.key}|{channel}|{occurrence.key}"
    if s.scalar(_exists(dedup)) is not None:
        return
    address = person.address(channel)
    unsubscribe = None
    if person.kind != "staff" and category in consent.CONSENTED and channel == "email":
        unsubscribe = f"{notify_settings().public_url.rstrip('/')}/api/v1/unsubscribe/" \
            f"{unsubscribe_token(person.key)}"
    message_context = {**context, "recipient": person.as_context(),
                       "unsubscribe_url": unsubscribe}
    sent_in_period = None
    cap = rules_.cap_for(category, channel)
    if cap is not None and address:
        queries.lock_recipient_channel(s, person.key, channel)
        sent_in_period = queries.count_recent(s, person.kind, person.id, channel, category,
                                              now - timedelta(days=cap.period_days))
    decision = consent.decide(rules_, category=category, channel=channel,
                              opted_out=opted_out, now=now, sent_in_period=sent_in_period,
                              has_address=bool(address))
    status, reason = decision.status, decision.reason
    try:
        rendered = templates.render(template.bodies, person.locale, message_context)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        rendered = templates.Rendered(person.locale, "", "", None)
        status, reason = "failed", f"template {template.id} failed: {exc}"
    delivery_id = str(uuid.uuid4())
    values = {
        "id": delivery_id, "dedup_key": dedup, "rule_id": occurrence.rule_id,
        "template_id": template.id, "event_id": occurrence.event.get("id"),
        "event_type": occurrence.event.get("type"), "occurrence": occurrence.key[:200],
        "recipient_kind": person.kind, "recipient_id": person.id,
        "recipient_name": person.name[:200], "address": address, "channel": channel,
        "category": category, "locale": rendered.locale, "subject": rendered.subject,
        "body_text": rendered.text, "body_html": rendered.html,
        "provider_template": {"sms": template.sms_template_code,
                              "wechat": template.wechat_template_id}.get(channel),
        "status": status, "reason": reason, "attempts": 0, "due_at": decision.due_at,
        "created_at": now, "updated_at": now,
    }
    if status == "queued" and channel == "inbox":
        values.update(status="delivered", sent_at=now, delivered_at=now, provider="inbox")
    if not insert_ignore(s, Delivery.__table__, values):
        return
    if values["status"] == "delivered":
        s.add(InboxMessage(id=str(uuid.uuid4()), recipient_id=person.id,
                           delivery_id=delivery_id, event_type=values["event_type"],
                           title=rendered.subject or rendered.text[:100],
                           body=rendered.text, created_at=now))
    if status == "suppressed":
        result.suppressed += 1
    else:
        result.created += 1
    result.ids.append(delivery_id)


def _exists(dedup: str) -> Select[Any]:
    return select(Delivery.id).where(Delivery.dedup_key == dedup)


# -- rules ---------------------------------------------------------------------------------------
def plan_rule(uow: UnitOfWork, rule: Rule, occurrence: Occurrence, now: datetime,
              result: Plan, recipients: list[Recipient] | None = None) -> None:
    template = uow.session.get(Template, rule.template_id)
    if template is None:
        return
    people = recipients if recipients is not None else resolve(
        uow.session, rule.recipients, str(occurrence.event.get("type")), occurrence.data)
    plan(uow, occurrence, template, rule.category, list(rule.channels), people, now, result)


def condition_holds(uow: UnitOfWork, rule: Rule, event: Mapping[str, Any],
                    data: Mapping[str, Any]) -> bool:
    if not rule.condition:
        return True
    try:
        return templates.evaluate_condition(rule.condition,
                                            base_context(uow.session, event, data))
    except (TemplateError, ArithmeticError, TypeError, ValueError):
        return False


def concerned(uow: UnitOfWork, events: list[CloudEvent]) -> list[CloudEvent]:
    """The events some enabled rule or active webhook subscription is for: the others
    (most of the stream: every copy-keeping event of every publisher) have nothing to
    plan, so they need no transaction and no inbox mark."""
    patterns = queries.subscribed_patterns(uow.session)
    return [event for event in events if matches_any(patterns, event.type)]


def on_events(uow: UnitOfWork, events: list[CloudEvent], now: datetime | None = None
              ) -> list[Plan]:
    """Every rule and webhook subscription each of a batch of events concerns, in order;
    the rules of each event type and the active webhook endpoints are read once."""
    now = now or utcnow()
    rules_by_type: dict[str, list[Rule]] = {}
    endpoints = queries.active_endpoints(uow.session)
    plans = []
    for event in events:
        if event.type not in rules_by_type:
            rules_by_type[event.type] = queries.rules_for(uow.session, event.type)
        plans.append(_plan(uow, event, rules_by_type[event.type], endpoints, now))
    return plans


def _plan(uow: UnitOfWork, event: CloudEvent, event_rules: list[Rule],
          endpoints: list[WebhookEndpoint], now: datetime) -> Plan:
    result = Plan()
    data = payload_of(event)
    info = event_info(event)
    for rule in event_rules:
        if not condition_holds(uow, rule, info, data):
            continue
        timing = Timing.from_json(rule.timing)
        if timing is not None:
            result.scheduled += schedule(uow, rule, info, data, timing,
                                         policy(uow.session).timezone, now)
            continue
        plan_rule(uow, rule, Occurrence(f"rule:{rule.id}", event.id, info, data, rule.id),
                  now, result)
    result.webhooks = fan_out_webhooks(uow, event, endpoints, now)
    return result


def schedule(uow: UnitOfWork, rule: Rule, info: Mapping[str, Any], data: Mapping[str, Any],
             timing: Timing, timezone: str, now: datetime) -> int:
    """Keep (or move) the rule's reminder about the event's subject."""
    first = timing.first(data, timezone)
    if first is None:
        return 0
    while timing.repeat_days and first < now - timedelta(days=1):
        first = timing.next_after(first) or first
    subject = str(info.get("subject") or info["id"])
    values = {"id": str(uuid.uuid4()), "rule_id": rule.id, "subject_key": subject[:200],
              "event": {"event": dict(info), "data": dict(data)}, "next_at": first,
              "occurrence": 1, "created_at": now}
    dialect = postgresql if uow.session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(Schedule.__table__).values(values)
    uow.session.execute(insert.on_conflict_do_update(
        index_elements=["rule_id", "subject_key"],
        set_={"event": insert.excluded.event, "next_at": insert.excluded.next_at}))
    return 1


# -- webhooks ------------------------------------------------------------------------------------
def fan_out_webhooks(uow: UnitOfWork, event: CloudEvent, endpoints: list[WebhookEndpoint],
                     now: datetime) -> int:
    body = event.model_dump_json()
    made = 0
    for endpoint in endpoints:
        if not matches_any(endpoint.event_types, event.type):
            continue
        made += insert_ignore(uow.session, WebhookDelivery.__table__, {
            "id": "msg_" + uuid.uuid4().hex, "endpoint_id": endpoint.id, "event_id": event.id,
            "event_type": event.type, "body": body, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "created_at": now, "replay": False})
    return made
