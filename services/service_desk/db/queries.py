"""SQL of the service desk: scope, lookups by id, names, settings, sequences, clocks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import is_postgres, next_in_sequence, read_setting, write_setting
from crm_platform.errors import Forbidden, NotFound
from crm_platform.read_models import follow_merges, manager_of
from sqlalchemy import ColumnElement, String, cast, exists, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from services.service_desk.db.models import (
    NO_DUE,
    BusinessCalendarRow,
    Contact,
    Customer,
    NumberSequence,
    Setting,
    SlaClock,
    SlaPolicy,
    Staff,
    Team,
    Ticket,
    WorkOrder,
)
from services.service_desk.domain import sla
from services.service_desk.domain.calendar import BusinessCalendar, calendar_from

SETTINGS = "service_desk"
DEFAULTS: dict[str, Any] = {"callback_hours": 72, "callback_max_attempts": 3,
                            "timezone": "Asia/Shanghai", "default_team_id": None,
                            "service_manager_id": None}


def settings(s: Session) -> dict[str, Any]:
    return read_setting(s, Setting, SETTINGS, DEFAULTS)


def put_settings(s: Session, value: dict[str, Any]) -> None:
    write_setting(s, Setting, SETTINGS, value)


def next_number(s: Session, series: str) -> int:
    return next_in_sequence(s, NumberSequence, series)


# -- who may see what ----------------------------------------------------------------------
def staff_only(caller: Caller) -> None:
    """Staff operations are not for portal contacts, whatever their roles say."""
    if caller.portal_customer_id is not None:
        raise Forbidden("portal accounts reach only the portal", code="portal_only")


def _owned_customers(owners: Iterable[str]) -> Any:
    return select(Customer.id).where(Customer.owner_id.in_(sorted(owners)))


def ticket_scope(caller: Caller) -> ColumnElement[bool] | None:
    """Tickets the caller may see; None: all. ``own``: assigned to them, logged by them,
    with a work order of theirs, or of a customer they own; ``team``: the same for
    everyone in their teams, plus the teams' queues."""
    staff_only(caller)
    people = caller.visible_owner_ids()
    if people is None:
        return None
    who = sorted(people)
    rules: list[ColumnElement[bool]] = [
        Ticket.assignee_id.in_(who),
        Ticket.created_by.in_(who),
        Ticket.customer_id.in_(_owned_customers(who)),
        exists().where(WorkOrder.ticket_id == Ticket.id, WorkOrder.technician_id.in_(who)),
    ]
    if caller.scope == "team" and caller.team_ids:
        rules.append(Ticket.team_id.in_(sorted(caller.team_ids)))
    return or_(*rules)


def work_order_scope(caller: Caller) -> ColumnElement[bool] | None:
    """Work orders the caller may see: their own as technician or dispatcher, or those of
    tickets they see."""
    staff_only(caller)
    people = caller.visible_owner_ids()
    if people is None:
        return None
    who = sorted(people)
    tickets = select(Ticket.id)
    rule = ticket_scope(caller)
    if rule is not None:
        tickets = tickets.where(rule)
    return or_(WorkOrder.technician_id.in_(who), WorkOrder.created_by.in_(who),
               WorkOrder.ticket_id.in_(tickets))


def visible_ticket(s: Session, caller: Caller, ticket_id: str, *, lock: bool = False
                   ) -> Ticket:
    query = select(Ticket).where(Ticket.id == ticket_id)
    rule = ticket_scope(caller)
    if rule is not None:
        query = query.where(rule)
    if lock:
        query = query.with_for_update()
    found = s.scalar(query)
    if found is None:
        raise NotFound("ticket not found", code="ticket_not_found")
    if lock:
        s.refresh(found)  # another writer may have committed while we waited for the lock
    return found


def customer_visible(s: Session, caller: Caller, customer_id: str) -> Customer:
    """The customer (following merges) if the caller's scope covers its owner."""
    found = follow_merges(s, Customer, customer_id)
    if found is None or not caller.can_see_owner(found.owner_id):
        raise NotFound("customer not found", code="customer_not_found")
    return found  # type: ignore[no-any-return]


def portal_customer(s: Session, caller: Caller) -> tuple[str, str]:
    """(customer id, contact id) a portal contact acts for; their customer's survivor if
    it was merged. A contact the customer service deleted reaches nothing."""
    if caller.portal_customer_id is None or caller.portal_contact_id is None:
        raise Forbidden("the portal is for customers' contacts", code="portal_contact_only")
    contact = s.get(Contact, caller.portal_contact_id)
    if contact is not None and contact.is_deleted:
        raise Forbidden("this contact was removed by the customer's account team",
                        code="portal_contact_removed")
    customer = follow_merges(s, Customer, caller.portal_customer_id)
    customer_id = customer.id if customer is not None else caller.portal_customer_id
    if contact is not None:
        contact_customer = follow_merges(s, Customer, contact.customer_id)
        if contact_customer is not None and contact_customer.id != customer_id:
            raise Forbidden("this contact no longer belongs to the customer",
                            code="portal_contact_removed")
    return customer_id, caller.portal_contact_id


# -- names and people ----------------------------------------------------------------------
def names(s: Session, model: Any, ids: Iterable[str | None],
          column: str = "display_name") -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    name = getattr(model, column)
    return dict(s.execute(select(model.id, name).where(model.id.in_(wanted))).tuples().all())


def staff_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return names(s, Staff, ids)


def team_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return names(s, Team, ids, "name")


def customer_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return names(s, Customer, ids, "name")


def contact_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return names(s, Contact, ids, "name")


def active_staff(s: Session, user_id: str) -> Staff | None:
    found = s.get(Staff, user_id)
    return found if found is not None and found.is_active else None


def team_manager(s: Session, assignee_id: str | None, team_id: str | None) -> str | None:
    """The manager of the assignee's team (of the ticket's team with nobody assigned)."""
    if assignee_id:
        return manager_of(s, Staff, Team, assignee_id)
    return manager_of(s, Staff, Team, None, team_id) if team_id else None


def with_role(role: str) -> ColumnElement[bool]:
    """Active staff holding ``role``: the copy keeps roles as a JSON list of names,
    stored as its text (``["technician", …]``) on both backends."""
    return Staff.is_active.is_(True) & cast(Staff.roles, String).like(f'%"{role}"%')


def service_manager(s: Session, configured: str | None) -> str | None:
    """The configured service manager, else the first active user with that role."""
    if configured and active_staff(s, configured) is not None:
        return configured
    found = s.scalar(select(Staff.id).where(with_role("service_manager"))
                     .order_by(Staff.display_name, Staff.id).limit(1))
    return str(found) if found else None


# -- SLA -----------------------------------------------------------------------------------
def policies(s: Session) -> list[sla.Policy]:
    return [sla.Policy(p.id, p.name, p.category, p.priority, p.first_response_minutes,
                       p.resolution_minutes, p.dispatch_minutes, p.calendar_id)
            for p in s.scalars(select(SlaPolicy))]


def calendar(s: Session, calendar_id: str | None) -> BusinessCalendar | None:
    if calendar_id is None:
        return None
    row = s.get(BusinessCalendarRow, calendar_id)
    if row is None:  # a deleted calendar: the clocks run around the clock
        return None
    return calendar_row(row)


def calendar_row(row: BusinessCalendarRow) -> BusinessCalendar:
    return calendar_from(row.timezone, [tuple(h) for h in row.hours],  # type: ignore[misc]
                         [_day(d) for d in row.holidays], [_day(d) for d in row.workdays])


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _us(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


def clock_of(row: SlaClock) -> sla.Clock:
    return sla.Clock(
        target=row.target,  # type: ignore[arg-type]
        budget=timedelta(minutes=row.budget_minutes), business_hours=row.business_hours,
        consumed=timedelta(microseconds=row.consumed_us), running_since=row.running_since,
        paused_at=row.paused_at, paused_total=timedelta(microseconds=row.paused_us),
        due_at=row.due_at, met_at=row.met_at, breached_at=row.breached_at)


def clock_rows(s: Session, ticket_id: str, *, lock: bool = False) -> list[SlaClock]:
    query = select(SlaClock).where(SlaClock.ticket_id == ticket_id).order_by(SlaClock.target)
    if lock:
        query = query.with_for_update()
    return list(s.scalars(query))


def clocks(s: Session, ticket_id: str) -> list[sla.Clock]:
    return [clock_of(r) for r in clock_rows(s, ticket_id)]


def save_clocks(s: Session, ticket: Ticket, clocks_now: list[sla.Clock],
                loaded: list[SlaClock] | None = None) -> None:
    """Write the ticket's clocks and what the ticket keeps of them (its place in the due
    order, the breached flag); ``loaded``: its clock rows, if the caller has them."""
    rows = {r.target: r for r in (clock_rows(s, ticket.id) if loaded is None else loaded)}
    for clock in clocks_now:
        row = rows.get(clock.target)
        if row is None:
            row = SlaClock(ticket_id=ticket.id, target=clock.target)
            s.add(row)
        row.budget_minutes = int(clock.budget.total_seconds() // 60)
        row.business_hours = clock.business_hours
        row.consumed_us = _us(clock.consumed)
        row.running_since = clock.running_since
        row.paused_at = clock.paused_at
        row.paused_us = _us(clock.paused_total)
        row.due_at = clock.due_at
        row.met_at = clock.met_at
        row.breached_at = clock.breached_at
    ticket.due_key = sla.next_due(clocks_now) or NO_DUE
    ticket.breached = any(sla.breached(c) for c in clocks_now)


def breachable(now: datetime, limit: int) -> Any:
    """Ids of tickets with a clock past due and not yet recorded as breached, earliest
    first (walks ``ix_sla_clocks_breachable``)."""
    return (select(SlaClock.ticket_id)
            .where(SlaClock.met_at.is_(None), SlaClock.breached_at.is_(None),
                   SlaClock.due_at.is_not(None), SlaClock.due_at <= now)
            .order_by(SlaClock.due_at).limit(limit))



# -- the call centre (SVC-08) ---------------------------------------------------------------
def _has_phone(s: Session, column: Any, phone: str) -> ColumnElement[bool]:
    """``column`` (a JSON list of E.164 numbers) holds ``phone``: on PostgreSQL through
    the GIN index on ``(phones::jsonb)`` (migration 0002); SQLite scans the text."""
    if is_postgres(s):
        return cast(column, JSONB).contains([phone])
    return cast(column, String).like(f'%"{phone}"%')


def customers_with_phone(s: Session, phone: str, limit: int = 20) -> list[Customer]:
    return list(s.scalars(select(Customer).where(
        _has_phone(s, Customer.phones, phone), Customer.status != "merged")
        .order_by(Customer.id).limit(limit)))


def contacts_with_phone(s: Session, phone: str, limit: int = 20) -> list[Contact]:
    return list(s.scalars(select(Contact).where(
        _has_phone(s, Contact.phones, phone), Contact.is_deleted.is_(False))
        .order_by(Contact.id).limit(limit)))


def customer_contacts(s: Session, customer_ids: Iterable[str]) -> list[Contact]:
    wanted = sorted(set(customer_ids))
    if not wanted:
        return []
    return list(s.scalars(select(Contact).where(Contact.customer_id.in_(wanted))
                          .order_by(Contact.customer_id, Contact.id)))
