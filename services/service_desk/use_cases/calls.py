"""The call centre (SVC-08): caller lookup, call logs, the signed telephony webhook,
outbound call lists and the calls report.

Scope: a lookup shows the customers the caller's ``call:lookup`` scope covers (agents:
all); calls and call list entries are the caller's own (or their team's) unless their
scope is all. A call becoming a ticket is checked against ``ticket:write``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from crm_platform import webhook_signing
from crm_platform.auth import Caller
from crm_platform.errors import (
    Conflict,
    DomainError,
    NotFound,
    Unauthorized,
    ValidationFailed,
    check_version,
)
from crm_platform.pagination import keyset_page
from crm_platform.permissions import scope_for
from crm_platform.read_models import Fetch, copy_of
from crm_platform.states import refused
from crm_platform.uow import UnitOfWork
from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.service_desk import events, schemas
from services.service_desk.db import queries
from services.service_desk.db.models import (
    Call,
    Callback,
    CallList,
    CallListEntry,
    Contact,
    Customer,
    TelephonyConnector,
    TelephonyEvent,
    Ticket,
)
from services.service_desk.domain import calls as rules
from services.service_desk.domain import tickets as ticket_rules
from services.service_desk.use_cases import common, tickets
from services.service_desk.use_cases.common import FetchContact
from services.service_desk.use_cases.reports import _period

# ``members(segment_id)``: the ids of a segment's customers, asked of the customer service
SegmentMembers = Callable[[str], list[str]]
# ``reminded(rule_id)``: the contact ids a care rule of the notification service reminded
CareContacts = Callable[[str], list[str]]
LOOKUP_TICKETS = 10
LOOKUP_CALLS = 5
# ``related(asks)``: other services asked at once, as the caller, within one deadline;
# asks: name -> (service, method, keyword arguments); answers: name -> the result, or
# the DomainError it ended with (ServiceUnavailable for silence)
Related = Callable[[dict[str, tuple[str, str, dict[str, Any]]]], dict[str, Any]]
# the matched customers whose follow-ups and open orders a lookup brings (the first
# ones by name: a number shared by more is a switchboard, not one caller)
LOOKUP_RELATED_CUSTOMERS = 3
LOOKUP_FOLLOWUPS = 3
LOOKUP_ORDERS = 5
OPEN_ORDER_STATUSES = ("pending_approval", "confirmed", "in_delivery")


def _people(caller: Caller) -> list[str] | None:
    queries.staff_only(caller)
    people = caller.visible_owner_ids()
    return None if people is None else sorted(people)


def _call_scope(caller: Caller) -> ColumnElement[bool] | None:
    """Calls the caller may see: taken or logged by them (or their team)."""
    who = _people(caller)
    if who is None:
        return None
    return or_(Call.agent_id.in_(who), Call.created_by.in_(who))


def _narrowed(caller: Caller, permission: str) -> Caller:
    """The caller as ``permission`` scopes them (a second permission an operation needs)."""
    caller.require(permission)
    scope = scope_for(caller.roles, permission)
    assert scope is not None
    return caller.model_copy(update={"scope": scope})


# -- lookup -----------------------------------------------------------------------------------
def find_callers(s: Session, caller: Caller, phone: str
                 ) -> tuple[list[Customer], list[Contact]]:
    """The customers and contacts with this number whom the caller may see; a contact's
    customer is among the customers."""
    contacts = queries.contacts_with_phone(s, phone)
    customers = {c.id: c for c in queries.customers_with_phone(s, phone)}
    for contact in contacts:
        if contact.customer_id not in customers:
            found = s.get(Customer, contact.customer_id)
            if found is not None and found.status != "merged":
                customers[found.id] = found
    visible = {i: c for i, c in customers.items() if caller.can_see_owner(c.owner_id)}
    return (sorted(visible.values(), key=lambda c: c.name),
            [c for c in contacts if c.customer_id in visible])


def lookup(uow: UnitOfWork, caller: Caller, query: schemas.LookupQuery) -> dict[str, Any]:
    """The service desk's own part of a lookup (``with_related`` adds the others'
    after the transaction, so no connection waits on another service)."""
    queries.staff_only(caller)
    return _lookup(uow.session, caller, rules.required_number(query.phone))


def with_related(caller: Caller, found: dict[str, Any], related: Related) -> dict[str, Any]:
    """The lookup with the matched customers' latest follow-ups (customer service) and
    open orders (sales), asked at once. The caller travels with the calls in its
    ``call:lookup`` scope; what comes back is narrowed here to the scope of
    ``followup:read`` and ``order:read``. A service that does not answer marks its part
    unavailable."""
    first = found["customers"][:LOOKUP_RELATED_CUSTOMERS]
    asks: dict[str, tuple[str, str, dict[str, Any]]] = {}
    readers: dict[str, Caller | None] = {}
    for part, permission in (("followups", "followup:read"), ("orders", "order:read")):
        readers[part] = _narrowed(caller, permission) if caller.has(permission) else None
    if readers["followups"] is not None:
        for c in first:
            if readers["followups"].can_see_owner(c["owner_id"]):
                asks[f"followups:{c['id']}"] = ("customer", "list_followups", {
                    "customer_id": c["id"], "query": {"limit": LOOKUP_FOLLOWUPS}})
    if readers["orders"] is not None:
        for c in first:
            asks[f"orders:{c['id']}"] = ("sales", "list_orders", {"query": {
                "customer_id": c["id"], "status": ",".join(OPEN_ORDER_STATUSES),
                "limit": LOOKUP_ORDERS}})
    answers = related(asks) if asks else {}

    def section(name: str, permission: str) -> dict[str, Any]:
        reader = readers[name]
        if reader is None:
            return {"status": "forbidden", "reason": f"needs {permission}"}
        mine = {k: v for k, v in answers.items() if k.startswith(f"{name}:")}
        failed = [v for v in mine.values() if isinstance(v, DomainError)]
        if failed:
            return {"status": "unavailable", "reason": f"{failed[0].code}: {failed[0].detail}"}
        items = [item for page in mine.values() for item in page["items"]
                 if name == "followups" or reader.can_see_owner(item.get("owner_id"))]
        items.sort(key=lambda i: i["occurred_at" if name == "followups" else "created_at"],
                   reverse=True)
        return {"status": "ok", "items": items}

    return {**found, "followups": schemas.LookupFollowups.model_validate(
                section("followups", "followup:read")).model_dump(mode="json"),
            "open_orders": schemas.LookupOrders.model_validate(
                section("orders", "order:read")).model_dump(mode="json")}


def _lookup(s: Session, caller: Caller, phone: str) -> dict[str, Any]:
    customers, contacts = find_callers(s, caller, phone)
    ids = [c.id for c in customers]
    owners = queries.staff_names(s, (c.owner_id for c in customers))
    open_tickets: list[Ticket] = []
    recent: list[Call] = []
    if ids:
        open_tickets = list(s.scalars(
            select(Ticket).where(Ticket.customer_id.in_(ids),
                                 Ticket.status.in_(ticket_rules.OPEN_STATUSES))
            .order_by(Ticket.due_key, Ticket.id).limit(LOOKUP_TICKETS)))
    recent = list(s.scalars(
        select(Call).where(or_(Call.customer_id.in_(ids), Call.party_number == phone)
                           if ids else Call.party_number == phone)
        .order_by(Call.started_at.desc(), Call.id).limit(LOOKUP_CALLS)))
    return schemas.CallerLookup(
        phone=phone,
        customers=[schemas.CallerCustomer(
            id=c.id, code=c.code, name=c.name, kind=c.kind, owner_id=c.owner_id,
            owner_name=owners.get(c.owner_id or ""), status=c.status) for c in customers],
        contacts=[schemas.CallerContact(
            id=c.id, customer_id=c.customer_id, name=c.name, phones=list(c.phones),
            marketing_opt_out=c.marketing_opt_out) for c in contacts],
        open_tickets=[schemas.LookupTicket.model_validate(t, from_attributes=True)
                      for t in open_tickets],
        recent_calls=[schemas.LookupCall.model_validate(c, from_attributes=True)
                      for c in recent],
        # the other services' parts, until ``with_related`` asks them
        followups=schemas.LookupFollowups(status="unavailable", reason="not asked"),
        open_orders=schemas.LookupOrders(status="unavailable", reason="not asked"),
    ).model_dump(mode="json")


def _link_caller(s: Session, call: Call) -> None:
    """An unlinked call with one customer (and one contact) on its number links to them."""
    if call.customer_id is not None or call.party_number is None:
        return
    customers, contacts = find_callers(s, Caller.system(), call.party_number)
    if len(customers) == 1:
        call.customer_id = customers[0].id
        if len(contacts) == 1:
            call.contact_id = contacts[0].id


# -- calls out ----------------------------------------------------------------------------------
def calls_out(s: Session, rows: list[Call]) -> list[dict[str, Any]]:
    staff = queries.staff_names(s, (c.agent_id for c in rows))
    customers = queries.customer_names(s, (c.customer_id for c in rows))
    contacts = queries.contact_names(s, (c.contact_id for c in rows))
    connectors = dict(s.execute(select(TelephonyConnector.id, TelephonyConnector.name).where(
        TelephonyConnector.id.in_({c.connector_id for c in rows if c.connector_id})))
        .tuples().all()) if any(c.connector_id for c in rows) else {}
    return [schemas.Call(
        id=c.id, direction=c.direction, from_number=c.from_number, to_number=c.to_number,
        party_number=c.party_number, agent_id=c.agent_id,
        agent_name=staff.get(c.agent_id or ""), connector=connectors.get(c.connector_id or ""),
        external_id=c.external_id, state=c.state, outcome=c.outcome,
        started_at=c.started_at, answered_at=c.answered_at, ended_at=c.ended_at,
        duration_seconds=c.duration_seconds, recording_url=c.recording_url,
        customer_id=c.customer_id, customer_name=customers.get(c.customer_id or ""),
        contact_id=c.contact_id, contact_name=contacts.get(c.contact_id or ""),
        ticket_id=c.ticket_id, followup_id=c.followup_id, lead_id=c.lead_id,
        call_list_entry_id=c.call_list_entry_id,
        notes=c.notes, version=c.version, created_at=c.created_at,
    ).model_dump(mode="json") for c in rows]


def call_out(s: Session, call: Call) -> dict[str, Any]:
    return calls_out(s, [call])[0]


def _visible(s: Session, caller: Caller, call_id: str, lock: bool = False) -> Call:
    q = select(Call).where(Call.id == call_id)
    rule = _call_scope(caller)
    if rule is not None:
        q = q.where(rule)
    if lock:
        q = q.with_for_update()
    found = s.scalar(q)
    if found is None:
        raise NotFound("call not found", code="call_not_found")
    return found


def _party(direction: str, from_number: str, to_number: str) -> str | None:
    return rules.lookup_number(from_number if direction == "inbound" else to_number)


def _links(uow: UnitOfWork, call: Call, customer_id: str | None, contact_id: str | None,
           ticket_id: str | None, fetch_customer: Fetch | None,
           fetch_contact: FetchContact | None) -> None:
    s = uow.session
    if customer_id is not None:
        customer = copy_of(s, Customer, customer_id, fetch_customer)
        if customer is None:
            raise _bad("customer_id", "customer not found", "unknown_customer")
        call.customer_id = customer.id
    if contact_id is not None:
        contact = common.known_contact(uow, call.customer_id, contact_id, fetch_contact) \
            if call.customer_id else None
        if contact is None or contact.is_deleted or contact.customer_id != call.customer_id:
            raise _bad("contact_id", "the contact is not one of the customer's",
                       "invalid_contact")
        call.contact_id = contact.id
    if ticket_id is not None:
        if s.get(Ticket, ticket_id) is None:
            raise _bad("ticket_id", "ticket not found", "unknown_ticket")
        call.ticket_id = ticket_id


def _bad(field: str, message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code,
                            extra={"errors": [{"field": field, "message": message}]})


def log_call(uow: UnitOfWork, caller: Caller, data: schemas.CallIn,
             fetch_customer: Fetch | None = None, fetch_contact: FetchContact | None = None
             ) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    rules.check_times(data.started_at, data.answered_at, data.ended_at)
    agent_id = data.agent_id or caller.user_id
    if agent_id != caller.user_id and caller.scope == "own":
        raise _bad("agent_id", "you log your own calls", "invalid_agent")
    at = common.now()
    state = "ended" if data.ended_at else "answered" if data.answered_at else "ringing"
    call = Call(
        id=str(uuid.uuid4()), direction=data.direction, from_number=data.from_number,
        to_number=data.to_number, party_number=_party(data.direction, data.from_number,
                                                      data.to_number),
        agent_id=agent_id, state=state, outcome=data.outcome, started_at=data.started_at,
        answered_at=data.answered_at, ended_at=data.ended_at,
        duration_seconds=rules.duration_seconds(data.answered_at, data.ended_at,
                                                data.duration_seconds),
        recording_url=data.recording_url, lead_id=data.lead_id, notes=data.notes,
        created_by=caller.user_id, version=1, created_at=at, updated_at=at)
    _links(uow, call, data.customer_id, data.contact_id, data.ticket_id, fetch_customer,
           fetch_contact)
    _link_caller(s, call)
    s.add(call)
    if state == "ended":
        uow.publish(_ended(call))
    uow.commit()
    return call_out(s, call)


def list_calls(uow: UnitOfWork, caller: Caller, query: schemas.CallQuery) -> dict[str, Any]:
    s = uow.session
    q = select(Call)
    rule = _call_scope(caller)
    if rule is not None:
        q = q.where(rule)
    for name in ("direction", "state", "agent_id", "customer_id", "contact_id", "ticket_id"):
        value = getattr(query, name)
        if value is not None:
            q = q.where(getattr(Call, name) == value)
    if query.phone is not None:
        q = q.where(Call.party_number == rules.required_number(query.phone))
    rows, cursor = keyset_page(s, q, query.limit, query.cursor, (Call.started_at, Call.id),
                               descending=True)
    return {"items": calls_out(s, rows), "next_cursor": cursor}


def get_call(uow: UnitOfWork, caller: Caller, call_id: str) -> dict[str, Any]:
    return call_out(uow.session, _visible(uow.session, caller, call_id))


def update_call(uow: UnitOfWork, caller: Caller, call_id: str, data: schemas.CallUpdate,
                expected_version: int | None, fetch_customer: Fetch | None = None,
                fetch_contact: FetchContact | None = None) -> dict[str, Any]:
    s = uow.session
    call = _visible(s, caller, call_id, lock=True)
    check_version(call.version, expected_version, "call")
    rules.CALL.check(call.state, "annotate")
    given = data.model_dump(exclude_unset=True)
    _links(uow, call, given.get("customer_id"), given.get("contact_id"),
           given.get("ticket_id"), fetch_customer, fetch_contact)
    for name in ("outcome", "lead_id", "notes"):
        if name in given:
            setattr(call, name, given[name])
    call.version += 1
    call.updated_at = common.now()
    uow.commit()
    return call_out(s, call)


def call_to_ticket(uow: UnitOfWork, caller: Caller, call_id: str, data: schemas.CallTicketIn,
                   fetch_customer: Fetch | None = None,
                   fetch_contact: FetchContact | None = None) -> dict[str, Any]:
    """An answered call becomes a ticket, linked to it, in one transaction."""
    s = uow.session
    call = _visible(s, caller, call_id, lock=True)
    if call.answered_at is None or call.state not in ("answered", "ended"):
        raise refused("call", call.state, "open a ticket from", ("answered", "ended"))
    if call.ticket_id is not None:
        raise Conflict("this call already has a ticket", code="call_has_ticket",
                       extra={"ticket_id": call.ticket_id})

    def link(ticket: Ticket) -> None:
        call.ticket_id = ticket.id
        call.outcome = call.outcome or "ticket"
        call.version += 1
        call.updated_at = common.now()

    return tickets.create_ticket(
        uow, _narrowed(caller, "ticket:write"), schemas.TicketCreate(
            customer_id=call.customer_id, contact_id=call.contact_id, kind=data.kind,
            category=data.category, channel="phone", priority=data.priority,
            subject=data.subject, description=data.description,
            received_at=call.started_at),
        fetch_customer, fetch_contact, also=link)


# ``save(customer_id, follow-up)``: the customer service's follow-up creation, as the caller
SaveFollowup = Callable[[str, dict[str, Any]], dict[str, Any]]


def call_to_followup(uow: UnitOfWork, caller: Caller, call_id: str,
                     data: schemas.CallFollowupIn, save: SaveFollowup) -> dict[str, Any]:
    """An answered call saved as a follow-up (method phone) on its customer: the
    customer service logs it (its rules and the caller's ``followup:write`` scope), the
    call links to it. The call stays locked meanwhile, so it is saved once."""
    s = uow.session
    writer = _narrowed(caller, "followup:write")
    call = _visible(s, caller, call_id, lock=True)
    if call.answered_at is None or call.state not in ("answered", "ended"):
        raise refused("call", call.state, "save a follow-up from", ("answered", "ended"))
    if call.followup_id is not None:
        raise Conflict("this call is saved as a follow-up already", code="call_has_followup",
                       extra={"followup_id": call.followup_id})
    if call.customer_id is None:
        raise _bad("customer_id", "link the call to its customer first",
                   "call_without_customer")
    customer = s.get(Customer, call.customer_id)
    if customer is None or not writer.can_see_owner(customer.owner_id):
        raise NotFound("customer not found", code="customer_not_found")
    followup = save(call.customer_id, {
        "method": "phone", "occurred_at": call.answered_at.isoformat(),
        "contact_id": call.contact_id, "content": data.content, "result": data.result,
        "next_followup_on": data.next_followup_on.isoformat()
        if data.next_followup_on else None})
    call.followup_id = followup["id"]
    call.outcome = call.outcome or "follow_up"
    call.version += 1
    call.updated_at = common.now()
    uow.commit()
    return call_out(s, call)


def customer_calls(s: Session, customer_id: str, limit: int = 5) -> list[dict[str, Any]]:
    """The customer's latest calls (the customer 360's service section)."""
    return calls_out(s, list(s.scalars(select(Call).where(Call.customer_id == customer_id)
                                       .order_by(Call.started_at.desc(), Call.id)
                                       .limit(limit))))


def _ended(call: Call) -> events.CallEnded:
    return events.CallEnded(
        id=call.id, direction=call.direction, state=call.state,
        party_number=call.party_number, agent_id=call.agent_id,
        customer_id=call.customer_id, contact_id=call.contact_id, ticket_id=call.ticket_id,
        started_at=call.started_at, answered_at=call.answered_at, ended_at=call.ended_at,
        duration_seconds=call.duration_seconds, outcome=call.outcome,
        recording_url=call.recording_url)


# -- telephony connectors and their webhook ---------------------------------------------------
def create_connector(uow: UnitOfWork, caller: Caller, data: schemas.ConnectorIn
                     ) -> dict[str, Any]:
    queries.staff_only(caller)
    row = TelephonyConnector(id=str(uuid.uuid4()), name=data.name,
                             secret=webhook_signing.new_secret(), enabled=True,
                             created_by=caller.user_id, created_at=common.now())
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict("a connector with this name exists", code="duplicate_connector") \
            from None
    uow.commit()
    return {**_connector_out(row), "secret": row.secret}


def _connector_out(row: TelephonyConnector) -> dict[str, Any]:
    return schemas.Connector(id=row.id, name=row.name, enabled=row.enabled,
                             created_at=row.created_at).model_dump(mode="json")


def list_connectors(uow: UnitOfWork, caller: Caller, query: schemas.ConnectorQuery
                    ) -> dict[str, Any]:
    queries.staff_only(caller)
    rows, cursor = keyset_page(uow.session, select(TelephonyConnector), query.limit,
                               query.cursor, (TelephonyConnector.name, TelephonyConnector.id))
    return {"items": [_connector_out(r) for r in rows], "next_cursor": cursor}


def receive_telephony_event(uow: UnitOfWork, connector_name: str,
                            request: schemas.PublicRequest) -> dict[str, Any]:
    """A connector's signed event: verified before the body is read, applied once per
    message and once per call and kind; ``call.ringing`` carries who is calling."""
    s = uow.session
    connector = s.scalar(select(TelephonyConnector)
                         .where(TelephonyConnector.name == connector_name))
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = request.body.encode()
    message_id = headers.get("webhook-id", "")
    if connector is None or not connector.enabled or not webhook_signing.verify(
            [connector.secret], message_id, headers.get("webhook-timestamp", ""),
            headers.get("webhook-signature", ""), body, common.now()):
        raise Unauthorized("unknown connector or bad signature",
                           code="invalid_telephony_signature")
    try:
        event = schemas.TelephonyEventIn.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else []
        raise ValidationFailed("not a telephony event", code="invalid_telephony_event",
                               extra={"errors": [{"field": ".".join(map(str, e["loc"])),
                                                  "message": e["msg"]} for e in errors]}
                               ) from None
    if len(message_id) > 100:
        raise ValidationFailed("webhook-id is at most 100 characters",
                               code="invalid_telephony_event")
    seen = _seen(s, connector.id, message_id, event)
    if seen is not None:
        return seen
    call = s.scalar(select(Call).where(Call.connector_id == connector.id,
                                       Call.external_id == event.call_id)
                    .with_for_update())
    step = rules.telephony_step(call.state if call is not None else None, event.event)
    at = common.now()
    if call is None:
        call = Call(id=str(uuid.uuid4()), connector_id=connector.id,
                    external_id=event.call_id, direction=event.direction,
                    from_number=event.from_number, to_number=event.to_number,
                    party_number=_party(event.direction, event.from_number, event.to_number),
                    state="ringing", started_at=event.at, version=1, created_at=at,
                    updated_at=at)
        _link_caller(s, call)
        s.add(call)
    if step.apply:
        _apply(uow, call, connector, event, step.state)
    s.add(TelephonyEvent(connector_id=connector.id, message_id=message_id,
                         external_call_id=event.call_id, kind=event.event, call_id=call.id,
                         received_at=at))
    try:
        s.flush()
    except IntegrityError:  # the same event at the same moment: the other one applied it
        uow.rollback()
        found = _seen(s, connector.id, message_id, event)
        if found is None:
            raise
        return found
    uow.commit()
    return {"call_id": call.id, "state": call.state, "duplicate": False}


def _seen(s: Session, connector_id: str, message_id: str,
          event: schemas.TelephonyEventIn) -> dict[str, Any] | None:
    """The answer to a message already applied (by its id, or the same event of the
    same call sent again), or None."""
    row = s.scalar(select(TelephonyEvent).where(
        TelephonyEvent.connector_id == connector_id,
        or_(TelephonyEvent.message_id == message_id,
            (TelephonyEvent.external_call_id == event.call_id)
            & (TelephonyEvent.kind == event.event))).limit(1))
    if row is None:
        return None
    call = s.get(Call, row.call_id)
    return {"call_id": row.call_id, "state": call.state if call else event.event,
            "duplicate": True}


def _apply(uow: UnitOfWork, call: Call, connector: TelephonyConnector,
           event: schemas.TelephonyEventIn, state: str) -> None:
    s = uow.session
    call.state = state
    call.agent_id = event.agent_id or call.agent_id
    call.updated_at = common.now()
    if event.event == "ringing":
        call.started_at = event.at
        found = _lookup(s, Caller.system(), call.party_number) if call.party_number else None
        uow.publish(events.CallRinging(
            id=call.id, direction=call.direction, from_number=call.from_number,
            to_number=call.to_number, party_number=call.party_number,
            agent_id=call.agent_id, connector=connector.name, external_id=call.external_id,
            started_at=call.started_at,
            matches=_matches(found) if found else [],
            open_ticket_ids=[t["id"] for t in found["open_tickets"]] if found else []))
        return
    if event.event == "answered":
        call.answered_at = event.at
        return
    call.ended_at = max(event.at, call.answered_at or call.started_at)
    call.duration_seconds = rules.duration_seconds(call.answered_at, call.ended_at,
                                                   event.duration_seconds)
    call.recording_url = event.recording_url or call.recording_url
    call.outcome = call.outcome or ("answered" if call.answered_at else "missed")
    call.version += 1
    uow.publish(_ended(call))


def _matches(found: dict[str, Any]) -> list[events.CallerMatch]:
    matches = [events.CallerMatch(kind="customer", id=c["id"], customer_id=c["id"],
                                  name=c["name"], owner_id=c["owner_id"])
               for c in found["customers"]]
    matches += [events.CallerMatch(kind="contact", id=c["id"], customer_id=c["customer_id"],
                                   name=c["name"]) for c in found["contacts"]]
    return matches


# -- call lists ---------------------------------------------------------------------------------
def _candidates(s: Session, customer_ids: Iterable[str]) -> list[rules.Candidate]:
    """Each customer's contacts (their first phone); a customer without contacts by its
    own first phone."""
    wanted = list(dict.fromkeys(customer_ids))
    contacts = queries.customer_contacts(s, wanted)
    by_customer: dict[str, list[Contact]] = {}
    for c in contacts:
        by_customer.setdefault(c.customer_id, []).append(c)
    customers = {c.id: c for c in s.scalars(select(Customer).where(Customer.id.in_(wanted)))}
    found: list[rules.Candidate] = []
    for customer_id in wanted:
        customer = customers.get(customer_id)
        if customer is None or customer.status == "merged":
            continue
        people = by_customer.get(customer_id, [])
        if not [p for p in people if not p.is_deleted]:
            found.append(rules.Candidate(customer_id, None,
                                         customer.phones[0] if customer.phones else None))
        found += [rules.Candidate(customer_id, p.id, p.phones[0] if p.phones else None,
                                  p.marketing_opt_out, p.is_deleted) for p in people]
    return found


def _callback_candidates(s: Session) -> list[rules.Candidate]:
    due = list(s.scalars(select(Callback).where(Callback.status == "due")
                         .order_by(Callback.due_at, Callback.id).limit(5000)))
    found = []
    for cb in due:
        if cb.customer_id is None:
            continue
        contact = s.get(Contact, cb.contact_id) if cb.contact_id else None
        if contact is not None:
            found.append(rules.Candidate(cb.customer_id, contact.id,
                                         contact.phones[0] if contact.phones else None,
                                         contact.marketing_opt_out, contact.is_deleted,
                                         cb.id))
        else:
            customer = s.get(Customer, cb.customer_id)
            phones = customer.phones if customer is not None else []
            found.append(rules.Candidate(cb.customer_id, None, phones[0] if phones else None,
                                         callback_id=cb.id))
    return found


def _contact_candidates(s: Session, contact_ids: Iterable[str]) -> list[rules.Candidate]:
    """These contacts (their first phone), in the order given; ones the copy does not
    know, or of a merged customer, are left out."""
    wanted = list(dict.fromkeys(contact_ids))
    contacts = {c.id: c for c in s.scalars(select(Contact).where(Contact.id.in_(wanted)))}
    merged = set(s.scalars(select(Customer.id).where(
        Customer.id.in_({c.customer_id for c in contacts.values()}),
        Customer.status == "merged"))) if contacts else set()
    return [rules.Candidate(c.customer_id, c.id, c.phones[0] if c.phones else None,
                            c.marketing_opt_out, c.is_deleted)
            for c in (contacts.get(i) for i in wanted)
            if c is not None and c.customer_id not in merged]


def create_call_list(uow: UnitOfWork, caller: Caller, data: schemas.CallListIn,
                     members: SegmentMembers | None = None,
                     reminded: CareContacts | None = None) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    if data.source == "care":
        if data.care_rule_id is None or reminded is None:
            raise _bad("care_rule_id", "a care list names its care rule", "invalid_call_list")
        _narrowed(caller, "notification:read")
        candidates = _contact_candidates(s, reminded(data.care_rule_id))
    elif data.source == "segment":
        if data.segment_id is None or members is None:
            raise _bad("segment_id", "a segment list names its segment", "invalid_call_list")
        candidates = _candidates(s, members(data.segment_id))
    elif data.source == "manual":
        if not data.customer_ids:
            raise _bad("customer_ids", "a manual list names its customers",
                       "invalid_call_list")
        candidates = _candidates(s, data.customer_ids)
    else:
        candidates = _callback_candidates(s)
    for agent_id in data.agent_ids:
        if queries.active_staff(s, agent_id) is None:
            raise _bad("agent_ids", f"no active agent {agent_id}", "unknown_agent")
    keys = {c.contact_id or c.customer_id for c in candidates}
    taken = set(s.scalars(select(CallListEntry.active_key)
                          .where(CallListEntry.active_key.in_(sorted(keys))))) if keys else set()
    kept, left_out = rules.eligible(candidates, data.purpose, taken)
    at = common.now()
    row = CallList(id=str(uuid.uuid4()), name=data.name, purpose=data.purpose,
                   source=data.source, segment_id=data.segment_id,
                   care_rule_id=data.care_rule_id, status="active",
                   max_attempts=data.max_attempts, left_out=dict(left_out),
                   created_by=caller.user_id, version=1, created_at=at, updated_at=at)
    s.add(row)
    s.flush()
    agents = list(data.agent_ids)
    for position, c in enumerate(kept):
        s.add(CallListEntry(
            id=str(uuid.uuid4()), call_list_id=row.id, position=position,
            customer_id=c.customer_id, contact_id=c.contact_id,
            phone=c.phone, callback_id=c.callback_id,
            agent_id=agents[position % len(agents)] if agents else None, status="pending",
            attempts=0, active_key=c.contact_id or c.customer_id, version=1,
            updated_at=at))
    try:
        s.flush()
    except IntegrityError:
        raise Conflict("someone on this list was put on another list at the same time; "
                       "build it again", code="call_list_conflict") from None
    uow.commit()
    return _list_out(s, row)


def _list_out(s: Session, row: CallList) -> dict[str, Any]:
    total, still_open = s.execute(select(
        func.count(), func.count(CallListEntry.active_key))
        .where(CallListEntry.call_list_id == row.id)).one()
    return schemas.CallList(
        id=row.id, name=row.name, purpose=row.purpose, source=row.source,
        segment_id=row.segment_id, care_rule_id=row.care_rule_id, status=row.status,
        max_attempts=row.max_attempts,
        entries=int(total), open_entries=int(still_open), left_out=dict(row.left_out),
        created_by=row.created_by, version=row.version, created_at=row.created_at,
    ).model_dump(mode="json")


def _list(s: Session, call_list_id: str, lock: bool = False) -> CallList:
    found = s.get(CallList, call_list_id, with_for_update=lock or None,
                  populate_existing=lock)
    if found is None:
        raise NotFound("call list not found", code="call_list_not_found")
    return found


def list_call_lists(uow: UnitOfWork, caller: Caller, query: schemas.CallListQuery
                    ) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    q = select(CallList)
    who = _people(caller)
    if who is not None:  # lists they built or have entries on
        q = q.where(or_(CallList.created_by.in_(who), CallList.id.in_(
            select(CallListEntry.call_list_id).where(CallListEntry.agent_id.in_(who)))))
    if query.status is not None:
        q = q.where(CallList.status == query.status)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (CallList.created_at, CallList.id), descending=True)
    return {"items": [_list_out(s, r) for r in rows], "next_cursor": cursor}


def get_call_list(uow: UnitOfWork, caller: Caller, call_list_id: str) -> dict[str, Any]:
    queries.staff_only(caller)
    return _list_out(uow.session, _list(uow.session, call_list_id))


def close_call_list(uow: UnitOfWork, caller: Caller, call_list_id: str) -> dict[str, Any]:
    queries.staff_only(caller)
    s = uow.session
    row = _list(s, call_list_id, lock=True)
    row.status = rules.CALL_LIST.next(row.status, "close")
    row.version += 1
    row.updated_at = common.now()
    s.execute(update(CallListEntry).where(CallListEntry.call_list_id == row.id,
                                          CallListEntry.status.in_(("pending", "callback")))
              .values(status="skipped", active_key=None))
    uow.commit()
    return _list_out(s, row)


def _entries_out(s: Session, rows: list[CallListEntry]) -> list[dict[str, Any]]:
    customers = queries.customer_names(s, (e.customer_id for e in rows))
    contacts = queries.contact_names(s, (e.contact_id for e in rows))
    return [schemas.CallListEntry(
        id=e.id, call_list_id=e.call_list_id, position=e.position,
        customer_id=e.customer_id, customer_name=customers.get(e.customer_id),
        contact_id=e.contact_id, contact_name=contacts.get(e.contact_id or ""),
        phone=e.phone, agent_id=e.agent_id, status=e.status, attempts=e.attempts,
        outcome=e.outcome, callback_at=e.callback_at, last_call_id=e.last_call_id,
        version=e.version).model_dump(mode="json") for e in rows]


def list_entries(uow: UnitOfWork, caller: Caller, call_list_id: str,
                 query: schemas.EntryQuery) -> dict[str, Any]:
    """A list's entries in list order; an agent sees the entries dealt to them."""
    s = uow.session
    _list(s, call_list_id)
    q = select(CallListEntry).where(CallListEntry.call_list_id == call_list_id)
    who = _people(caller)
    if who is not None:
        q = q.where(CallListEntry.agent_id.in_(who))
    if query.status is not None:
        q = q.where(CallListEntry.status == query.status)
    if query.agent_id is not None:
        q = q.where(CallListEntry.agent_id == query.agent_id)
    if query.due is not None:
        due = (CallListEntry.status == "pending") | (
            (CallListEntry.status == "callback") & (CallListEntry.callback_at <= common.now()))
        q = q.where(due if query.due else ~due)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (CallListEntry.position, CallListEntry.id))
    return {"items": _entries_out(s, rows), "next_cursor": cursor}


def record_entry_attempt(uow: UnitOfWork, caller: Caller, call_list_id: str, entry_id: str,
                         data: schemas.EntryAttemptIn) -> dict[str, Any]:
    s = uow.session
    row = _list(s, call_list_id)
    entry = s.get(CallListEntry, entry_id, with_for_update=True, populate_existing=True)
    who = _people(caller)
    if entry is None or entry.call_list_id != row.id or (
            who is not None and entry.agent_id not in who):
        raise NotFound("call list entry not found", code="call_list_entry_not_found")
    rules.CALL_LIST.check(row.status, "work")
    rules.ENTRY.check(entry.status, "attempt")
    if data.call_id is not None:
        _visible(s, caller, data.call_id)
    at = common.now()
    step = rules.entry_after(data.outcome, entry.attempts, data.callback_at, at,
                             row.max_attempts)
    entry.attempts += 1
    entry.outcome = data.outcome
    entry.status = step.status
    entry.callback_at = step.callback_at
    entry.asked_callback = entry.asked_callback or data.outcome == "callback"
    entry.agent_id = entry.agent_id or caller.user_id
    if data.call_id is not None:
        entry.last_call_id = data.call_id
        s.execute(update(Call).where(Call.id == data.call_id)
                  .values(call_list_entry_id=entry.id))
    if step.status in ("done", "unreached"):
        entry.active_key = None
    entry.version += 1
    entry.updated_at = at
    uow.commit()
    return _entries_out(s, [entry])[0]


# -- report ---------------------------------------------------------------------------------
def call_report(uow: UnitOfWork, caller: Caller, query: schemas.CallReportQuery
                ) -> dict[str, Any]:
    s = uow.session
    tz = common.local_zone(s)
    start, end = _period(tz, query.from_, query.to)
    q = select(Call.agent_id, Call.direction, Call.started_at, Call.answered_at,
               Call.duration_seconds).where(Call.started_at >= start, Call.started_at < end)
    rule = _call_scope(caller)
    if rule is not None:
        q = q.where(rule)
    if query.agent_id is not None:
        q = q.where(Call.agent_id == query.agent_id)
    facts = [rules.CallFacts(r.agent_id, r.direction, r.started_at, r.answered_at is not None,
                             r.duration_seconds) for r in s.execute(q)]
    asked = select(CallListEntry.status, func.count()).where(
        CallListEntry.asked_callback.is_(True), CallListEntry.updated_at >= start,
        CallListEntry.updated_at < end)
    who = _people(caller)
    if who is not None:
        asked = asked.where(CallListEntry.agent_id.in_(who))
    counts = dict(s.execute(asked.group_by(CallListEntry.status)).tuples().all())
    report = rules.call_report(facts, tz, callbacks_due=int(counts.get("callback", 0)),
                               callbacks_done=int(counts.get("done", 0)))
    return schemas.CallReport.model_validate(report).model_dump(mode="json")

