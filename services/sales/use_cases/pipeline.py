"""Leads (SAL-01), pipeline stages and opportunities (SAL-02), analytics (SAL-03)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    ValidationFailed,
    check_version,
)
from crm_platform.money import ZERO
from crm_platform.pagination import PageQuery, keyset_page
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from services.notify.events import InboundLeadReceived
from services.sales import events, schemas
from services.sales.db import queries, rollups
from services.sales.db.models import Lead, Opportunity, PipelineStage, Staff, StageChange
from services.sales.db.repositories import SqlStages
from services.sales.domain import analytics, workflow
from services.sales.repositories import SalesWork, Stages
from services.sales.use_cases.common import (
    FetchCustomer,
    amount,
    customer_for,
)

log = logging.getLogger(__name__)

# ``create_customer(data)`` creates the customer through the customer service (its
# duplicate guard applies) and returns the created record.
CreateCustomer = Callable[[dict[str, Any]], dict[str, Any]]
# ``create_contact(customer_id, data, contact_id)`` adds a contact to a company customer
# through the customer service; a second call with the same id finds the first contact.
CreateContact = Callable[[str, dict[str, Any], str], dict[str, Any]]


def _out(model: type[Any], row: Any, **extra: Any) -> dict[str, Any]:
    return model.model_validate({**{k: getattr(row, k) for k in model.model_fields
                                    if hasattr(row, k)}, **extra}).model_dump(mode="json")


# -- leads ---------------------------------------------------------------------------------------
def lead_out(lead: Lead) -> dict[str, Any]:
    return _out(schemas.Lead, lead)


def create_lead(uow: SalesWork, caller: Caller, data: schemas.LeadIn) -> dict[str, Any]:
    owner = data.owner_id or caller.user_id
    if not caller.can_see_owner(owner):
        raise Forbidden("you may only create leads for people in your scope",
                        code="owner_out_of_scope")
    now = utcnow()
    fields = data.model_dump(exclude={"owner_id"})
    if data.estimated_amount is not None:
        fields["estimated_amount"] = amount(data.estimated_amount, data.currency,
                                            "estimated_amount")
    lead = Lead(id=str(uuid.uuid4()), status="new", owner_id=owner,
                owner_team_id=uow.repos.people.team_of(owner), created_by=caller.user_id,
                created_at=now, updated_at=now, version=1, **fields)
    uow.repos.leads.add(lead)
    uow.publish(events.LeadCreated(id=lead.id, name=lead.name, source=lead.source,
                                   campaign_id=lead.campaign_id, owner_id=owner))
    uow.commit()
    return lead_out(lead)


def create_inbound_lead(uow: SalesWork, received: InboundLeadReceived) -> None:
    """A lead captured by the notification service's inbound webhook, entered as the
    platform for the source's owner through :func:`create_lead` (its checks apply). Its
    input was checked against the same limits when it arrived; a lead the rules refuse
    now is logged and dropped, not retried: retrying cannot make it acceptable."""
    fields = received.model_dump(include={"name", "kind", "contact_name", "phone", "email",
                                          "province", "industry", "note", "campaign_id",
                                          "owner_id"})
    fields["source"] = f"inbound:{received.source}"
    try:
        create_lead(uow, Caller.system("notify"), schemas.LeadIn.model_validate(fields))
    except (DomainError, ValidationError) as exc:
        log.warning("inbound lead %s from %s refused: %s", received.external_id,
                    received.source, exc)


def get_lead(uow: SalesWork, caller: Caller, lead_id: str) -> dict[str, Any]:
    return lead_out(uow.repos.leads.visible(caller, lead_id))


def list_leads(uow: UnitOfWork, caller: Caller, q: schemas.LeadQuery) -> dict[str, Any]:
    query = queries.visible(select(Lead), Lead, caller)
    for name in ("status", "owner_id", "campaign_id"):
        if getattr(q, name):
            query = query.where(getattr(Lead, name) == getattr(q, name))
    if q.q:
        like = f"%{q.q}%"
        query = query.where(or_(Lead.name.ilike(like), Lead.contact_name.ilike(like),
                                Lead.phone.ilike(like)))
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            (Lead.created_at, Lead.id), descending=True)
    return {"items": [lead_out(r) for r in rows], "next_cursor": nxt}


def _touch(row: Any, expected_version: int | None, what: str) -> None:
    check_version(row.version, expected_version, what)
    bump(row)


def update_lead(uow: SalesWork, caller: Caller, lead_id: str, data: schemas.LeadUpdate,
                expected_version: int | None) -> dict[str, Any]:
    lead = uow.repos.leads.visible(caller, lead_id, lock=True)
    workflow.LEAD.check(lead.status, "edit")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("estimated_amount") is not None:
        # as on create: no more decimals than the lead's currency has (0.001 CNY, 1.5 JPY)
        changes["estimated_amount"] = amount(changes["estimated_amount"], lead.currency,
                                             "estimated_amount")
    for name, value in changes.items():
        setattr(lead, name, value)
    _touch(lead, expected_version, "lead")
    uow.commit()
    return lead_out(lead)


def assign_lead(uow: SalesWork, caller: Caller, lead_id: str, data: schemas.LeadAssign
                ) -> dict[str, Any]:
    lead = uow.repos.leads.visible(caller, lead_id, lock=True)
    if caller.scope == "own" and data.owner_id != caller.user_id:
        raise Forbidden("only a manager assigns leads to others", code="owner_out_of_scope")
    if not caller.can_see_owner(data.owner_id):
        raise Forbidden("that user is outside your scope", code="owner_out_of_scope")
    staff = uow.repos.people.get(data.owner_id)
    if staff is not None and not staff.is_active:
        raise ValidationFailed("the new owner is inactive", code="invalid_owner")
    workflow.LEAD.check(lead.status, "assign")
    lead.owner_id = data.owner_id
    lead.owner_team_id = uow.repos.people.team_of(data.owner_id)
    _touch(lead, None, "lead")
    uow.commit()
    return lead_out(lead)


def move_lead(uow: SalesWork, caller: Caller, lead_id: str, action: str,
              reason: str | None = None) -> dict[str, Any]:
    lead = uow.repos.leads.visible(caller, lead_id, lock=True)
    lead.status = workflow.LEAD.next(lead.status, action)
    lead.disqualify_reason = workflow.require_reason(reason, "disqualification reason") \
        if action == "disqualify" else None
    _touch(lead, None, "lead")
    uow.commit()
    return lead_out(lead)


def convert_lead(uow: SalesWork, caller: Caller, lead_id: str, data: schemas.LeadConvert,
                 create_customer: CreateCustomer, create_contact: CreateContact,
                 fetch: FetchCustomer) -> dict[str, Any]:
    """Lead → customer (created by the customer service, so a company that already belongs
    to another rep is refused naming its owner) with the lead's contact person as its
    contact, + an opportunity at the first stage with that contact."""
    lead = uow.repos.leads.visible(caller, lead_id, lock=True)
    converted = workflow.LEAD.next(lead.status, "convert")
    stage = _stage(uow, data.stage_id)
    body: dict[str, Any] = {"name": lead.name, "kind": lead.kind, "owner_id": lead.owner_id,
                            "source": lead.source or "lead"}
    if lead.phone:
        body["phone"] = lead.phone
    if lead.email:
        body["email"] = lead.email
    if lead.province:
        body["region"] = {"province": lead.province}
    if lead.industry:
        body["industry"] = lead.industry
    try:
        created = create_customer(body)
    except Conflict as exc:
        existing = exc.extra.get("existing_customer_id")
        owner = (exc.extra.get("owner") or {}).get("id")
        if exc.code != "duplicate_customer" or not existing or owner != lead.owner_id:
            raise  # another rep's customer: refused, naming the owner
        created = {"id": existing}  # the lead's own rep has it already: convert into it
    customer = customer_for(uow, caller, created["id"], fetch)
    contact_id = _convert_contact(lead, customer.id, create_contact)
    now = utcnow()
    opp_amount = data.amount if data.amount is not None else (lead.estimated_amount or ZERO)
    opportunity = Opportunity(
        id=str(uuid.uuid4()), name=data.opportunity_name or lead.name,
        customer_id=customer.id, owner_id=customer.owner_id,
        owner_team_id=customer.owner_team_id,
        amount=amount(opp_amount, lead.currency, "amount"), currency=lead.currency,
        stage_id=stage.id, expected_close_date=data.expected_close_date, status="open",
        lead_id=lead.id, contact_id=contact_id, campaign_id=lead.campaign_id,
        created_at=now, updated_at=now, version=1)
    uow.repos.opportunities.add(opportunity)
    uow.repos.totals.move(None, rollups.snapshot(opportunity))
    _stage_change(uow, caller, opportunity, None, None)
    lead.status = converted
    lead.customer_id, lead.opportunity_id, lead.converted_at = customer.id, opportunity.id, now
    _touch(lead, None, "lead")
    uow.publish(events.LeadConverted(id=lead.id, customer_id=customer.id,
                                     opportunity_id=opportunity.id,
                                     campaign_id=lead.campaign_id, owner_id=lead.owner_id))
    uow.commit()
    return {"customer_id": customer.id, "opportunity_id": opportunity.id,
            "lead": lead_out(lead)}


def _convert_contact(lead: Lead, customer_id: str, create_contact: CreateContact
                     ) -> str | None:
    """The lead's contact person as a contact of the company it became; its id is the
    lead's, so converting again after a failure finds the contact made the first time.
    A person's lead has no contact person: the customer is the person."""
    if lead.kind != "company" or not lead.contact_name:
        return None
    body: dict[str, Any] = {"name": lead.contact_name}
    if lead.phone:
        body["phones"] = [lead.phone]
    if lead.email:
        body["emails"] = [lead.email]
    contact = create_contact(customer_id, body, str(uuid.uuid5(_LEAD_CONTACTS, lead.id)))
    return str(contact["id"])


_LEAD_CONTACTS = uuid.UUID("7c1f3a52-4b8e-4d7a-9c55-0e6f2b9d8a11")


# -- pipeline stages ---------------------------------------------------------------------------
def stage_out(st: PipelineStage) -> dict[str, Any]:
    return _out(schemas.Stage, st)


def _stage(uow: SalesWork, stage_id: str | None) -> PipelineStage:
    if stage_id is None:
        first = uow.repos.stages.first_active()
        if first is None:
            raise ValidationFailed("no pipeline stage is configured", code="no_stages")
        return first
    st = uow.repos.stages.get(stage_id)
    if st is None or not st.is_active:
        raise ValidationFailed("unknown or inactive stage", code="invalid_stage",
                               extra={"stage_id": stage_id})
    return st


def list_stages(uow: UnitOfWork, page: PageQuery) -> dict[str, Any]:
    rows, cursor = keyset_page(uow.session, select(PipelineStage), page.limit, page.cursor,
                               (PipelineStage.position, PipelineStage.id))
    return {"items": [stage_out(r) for r in rows], "next_cursor": cursor}


def create_stage(uow: UnitOfWork, data: schemas.StageIn) -> dict[str, Any]:
    st = PipelineStage(id=str(uuid.uuid4()), name=data.name, probability=data.probability,
                       position=data.position, is_active=True, version=1)
    uow.session.add(st)
    _flush_unique(uow, "a stage with that name exists")
    uow.commit()
    return stage_out(st)


def update_stage(uow: UnitOfWork, stage_id: str, data: schemas.StageUpdate,
                 expected_version: int | None) -> dict[str, Any]:
    st = uow.session.get(PipelineStage, stage_id, with_for_update=True)
    if st is None:
        raise NotFound("stage not found", code="stage_not_found")
    check_version(st.version, expected_version, "stage")
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(st, name, value)
    st.version += 1
    _flush_unique(uow, "a stage with that name exists")
    uow.commit()
    return stage_out(st)


def _flush_unique(uow: UnitOfWork, message: str) -> None:
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict(message, code="duplicate") from None


# -- opportunities -------------------------------------------------------------------------------
def opportunity_out(stages: Stages, o: Opportunity) -> dict[str, Any]:
    st = stages.get(o.stage_id)
    return _out(schemas.Opportunity, o, stage_name=st.name if st else None,
                probability=st.probability if st else None)


def _opportunity_event(o: Opportunity, cls: type[events.OpportunityEvent], **extra: Any
                       ) -> events.OpportunityEvent:
    return cls(id=o.id, customer_id=o.customer_id, owner_id=o.owner_id, stage_id=o.stage_id,
               status=o.status, amount=o.amount, currency=o.currency,
               campaign_id=o.campaign_id, **extra)


def _stage_change(uow: SalesWork, caller: Caller, o: Opportunity, from_stage: str | None,
                  from_status: str | None) -> None:
    uow.repos.stage_changes.add(StageChange(opportunity_id=o.id, from_stage_id=from_stage,
                                to_stage_id=o.stage_id, from_status=from_status,
                                to_status=o.status, amount=o.amount,
                                changed_by=caller.user_id, changed_at=utcnow()))


def create_opportunity(uow: SalesWork, caller: Caller, data: schemas.OpportunityIn,
                       fetch: FetchCustomer) -> dict[str, Any]:
    customer = customer_for(uow, caller, data.customer_id, fetch)
    stage = _stage(uow, data.stage_id)
    now = utcnow()
    o = Opportunity(id=str(uuid.uuid4()), name=data.name, customer_id=customer.id,
                    owner_id=customer.owner_id, owner_team_id=customer.owner_team_id,
                    amount=amount(data.amount, data.currency, "amount"),
                    currency=data.currency, stage_id=stage.id,
                    expected_close_date=data.expected_close_date, status="open",
                    campaign_id=data.campaign_id, created_at=now, updated_at=now, version=1)
    uow.repos.opportunities.add(o)
    uow.repos.totals.move(None, rollups.snapshot(o))
    _stage_change(uow, caller, o, None, None)
    uow.commit()
    return opportunity_out(uow.repos.stages, o)


def get_opportunity(uow: SalesWork, caller: Caller, opportunity_id: str) -> dict[str, Any]:
    return opportunity_out(uow.repos.stages,
                           uow.repos.opportunities.visible(caller, opportunity_id))


def list_opportunities(uow: UnitOfWork, caller: Caller, q: schemas.OpportunityQuery
                       ) -> dict[str, Any]:
    query = queries.visible(select(Opportunity), Opportunity, caller)
    for name in ("status", "stage_id", "owner_id", "customer_id"):
        if getattr(q, name):
            query = query.where(getattr(Opportunity, name) == getattr(q, name))
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            (Opportunity.created_at, Opportunity.id), descending=True)
    stages = SqlStages(uow.session)
    return {"items": [opportunity_out(stages, r) for r in rows], "next_cursor": nxt}


def update_opportunity(uow: SalesWork, caller: Caller, opportunity_id: str,
                       data: schemas.OpportunityUpdate, expected_version: int | None
                       ) -> dict[str, Any]:
    o = uow.repos.opportunities.visible(caller, opportunity_id, lock=True)
    workflow.OPPORTUNITY.check(o.status, "edit")
    before = rollups.snapshot(o)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(o, name, amount(value, o.currency, "amount") if name == "amount" else value)
    _touch(o, expected_version, "opportunity")
    uow.repos.totals.move(before, rollups.snapshot(o))
    uow.commit()
    return opportunity_out(uow.repos.stages, o)


def move_opportunity(uow: SalesWork, caller: Caller, opportunity_id: str, action: str,
                     stage_id: str | None = None, reason: str | None = None) -> dict[str, Any]:
    o = uow.repos.opportunities.visible(caller, opportunity_id, lock=True)
    from_stage, from_status = o.stage_id, o.status
    before = rollups.snapshot(o)
    o.status = workflow.OPPORTUNITY.next(o.status, action)
    if action == "stage":
        target = _stage(uow, stage_id)
        if target.id == o.stage_id:
            raise Conflict("the opportunity is at that stage already", code="same_stage")
        o.stage_id = target.id
    if action == "lose":
        o.lost_reason = workflow.require_reason(reason, "loss reason")
    if action == "reopen":
        o.lost_reason, o.closed_at = None, None
    if action in ("win", "lose"):
        o.closed_at = utcnow()
    _touch(o, None, "opportunity")
    uow.repos.totals.move(before, rollups.snapshot(o))
    _stage_change(uow, caller, o, from_stage, from_status)
    if action == "stage":
        uow.publish(_opportunity_event(o, events.OpportunityStageChanged,
                                       from_stage_id=from_stage))
    elif action == "win":
        uow.publish(_opportunity_event(o, events.OpportunityWon))
    elif action == "lose":
        uow.publish(_opportunity_event(o, events.OpportunityLost, lost_reason=o.lost_reason))
    uow.commit()
    return opportunity_out(uow.repos.stages, o)


def stage_history(uow: UnitOfWork, caller: Caller, opportunity_id: str, page: PageQuery
                  ) -> dict[str, Any]:
    queries.get_visible(uow.session, Opportunity, opportunity_id, caller, "opportunity")
    query = select(StageChange).where(StageChange.opportunity_id == opportunity_id)
    rows, cursor = keyset_page(uow.session, query, page.limit, page.cursor, (StageChange.id,))
    return {"items": [_out(schemas.StageChange, r) for r in rows], "next_cursor": cursor}


# -- analytics -------------------------------------------------------------------------------------
def _owner_filter(uow: UnitOfWork, q: schemas.AnalyticsQuery) -> set[str] | None:
    owners: set[str] | None = None
    if q.team_id:
        teams = queries.team_and_subteams(uow.session, q.team_id)
        owners = set(uow.session.scalars(select(Staff.id).where(Staff.team_id.in_(teams))))
    if q.owner_id:
        owners = {q.owner_id} if owners is None else owners & {q.owner_id}
    return owners


def funnel(uow: UnitOfWork, caller: Caller, q: schemas.AnalyticsQuery) -> dict[str, Any]:
    first, last = _months(q.period)
    totals = queries.funnel_totals(uow.session, caller, q.currency, _owner_filter(uow, q),
                                   first, last)
    return analytics.funnel([
        analytics.StageTotal(st.id, st.name, st.position, st.probability, n, total)
        for st, n, total in totals], q.currency)


def _months(period: str | None) -> tuple[str | None, str | None]:
    if not period:
        return None, None
    first, last = analytics.period_range(period)
    return first.strftime("%Y-%m"), last.strftime("%Y-%m")


def win_loss(uow: UnitOfWork, caller: Caller, q: schemas.WinLossQuery) -> dict[str, Any]:
    first, last = _months(q.period)
    owners = _owner_filter(uow, q)
    s = uow.session
    total = queries.win_loss(s, caller, q.currency, owners, first, last, None)
    group = {"rep": "owner_id", "team": "team_id", "period": "closed_month"}.get(q.group_by)
    group_rows = queries.win_loss(s, caller, q.currency, owners, first, last, group) \
        if group else []
    rows = [analytics.win_loss_row(key, won, lost, won_amount, days, q.currency)
            for key, won, lost, won_amount, days in sorted(group_rows,
                                                          key=lambda r: str(r[0]))]
    _, won, lost, won_amount, days = total[0] if total else (None, 0, 0, ZERO, ZERO)
    return {"currency": q.currency, "group_by": q.group_by, "rows": rows,
            "total": analytics.win_loss_row(None, won, lost, won_amount, days, q.currency)}


def forecast(uow: UnitOfWork, caller: Caller, q: schemas.AnalyticsQuery) -> dict[str, Any]:
    """Open pipeline by expected close month, amount and probability-weighted amount."""
    s = uow.session
    probability = {st.id: st.probability for st in s.scalars(select(PipelineStage))}
    first, last = _months(q.period)
    rows = queries.forecast(s, caller, q.currency, _owner_filter(uow, q), first, last)
    return analytics.forecast([(month or "undated", probability.get(stage_id, ZERO), n, total)
                               for month, stage_id, n, total in rows], q.currency)


def rebuild_totals(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
    """Recompute the analytics rollups from the opportunities (after a bulk load)."""
    if caller.scope != "all":
        raise Forbidden("only admins rebuild analytics", code="permission_denied")
    rollups.rebuild(uow.session)
    uow.commit()
    return {"rebuilt": True}
