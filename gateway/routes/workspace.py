"""Each employee's workspace (CUS-18): their agenda and the directory.

``GET /me/agenda`` asks every service that holds items for people (``my_agenda``) in
parallel for the caller's own open items due before the window's end, and the late ones
of the members of the teams the caller manages (from the gateway's teams), and merges
them (``crm_platform.agenda``): a service that does not answer in time is marked
unavailable and the rest still shows. ``GET /directory`` finds colleagues and teams (the gateway's
own identity tables) and the contacts of customers the caller may see (the customer
service), by characters, pinyin or initials.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from crm_platform import agenda
from crm_platform.errors import DomainError
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.db.models import Team, User
from gateway.deps import current_principal
from gateway.etag import etag_json
from gateway.principal import Principal
from services.customer.domain.search import name_matches

router = APIRouter(prefix="/api/v1")
SECTION_TIMEOUT = 3.0
# section -> the service answering ``my_agenda`` for it, and the permissions of which the
# reader (their roles, an API key's scopes) needs one: without, the section is
# "forbidden" and not asked
AGENDA_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    # follow-ups due, visits to make
    "customer": ("customer", ("followup:read", "visit:read")),
    # work orders dispatched, callbacks due
    "service_desk": ("service_desk", ("work_order:read", "callback:read")),
    # quotes and orders waiting on approval
    "sales": ("sales", ("quote:read", "order:read")),
    # expenses waiting on approval, invoices falling due
    "billing": ("billing", ("expense:read", "invoice:read")),
    # borrowings of one's documents to decide
    "docs": ("docs", ("document:read",)),
}
# colleagues read to test against a term: the staff of one company, not its customers
STAFF_READ = 5000


# -- models ---------------------------------------------------------------------------------
class AgendaItem(BaseModel):
    kind: str = Field(description="followup, visit, work_order, callback, quote_approval, "
                      "order_approval, expense_approval, access_request, invoice_due")
    id: str
    title: str
    due_at: datetime = Field(description="when it is due; an approval: since when it "
                             "waits; an item due on a date: that day's start (UTC)")
    all_day: bool = Field(description="due on a date, not at a time")
    state: Literal["due", "overdue", "waiting"]
    link: str = Field(description="the API path to act on it")
    section: str = Field(description="the service that holds it")
    assignee_id: str | None = Field(description="a late item of a member of a team the "
                                    "reader manages: whose it is (null: the reader's own)")
    assignee_name: str | None = None
    detail: dict[str, Any]


class AgendaSection(BaseModel):
    status: Literal["ok", "unavailable", "forbidden"]
    reason: str | None = None
    count: int


class AgendaWindowOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime


class Agenda(BaseModel):
    window: AgendaWindowOut
    items: list[AgendaItem]
    sections: dict[str, AgendaSection]
    complete: bool = Field(description="false when a section's service did not answer: "
                           "its items are missing, the rest are shown")


class Colleague(BaseModel):
    id: str
    name: str
    username: str
    team_id: str | None
    team_name: str | None
    phone: str | None
    email: str | None


class DirectoryTeam(BaseModel):
    id: str
    name: str
    kind: str
    manager_id: str | None
    manager_name: str | None


class DirectoryContact(BaseModel):
    id: str
    name: str
    title: str | None
    customer_id: str
    customer_name: str
    phones: list[str]
    emails: list[str]
    link: str


class DirectorySection(BaseModel):
    status: Literal["ok", "unavailable", "forbidden"]
    reason: str | None = None


class Directory(BaseModel):
    colleagues: list[Colleague]
    teams: list[DirectoryTeam]
    contacts: list[DirectoryContact]
    contacts_section: DirectorySection = Field(
        description="whether the customer service answered for contacts")


# -- agenda ---------------------------------------------------------------------------------
def _team_members(engine: Any, manager_id: str) -> dict[str, str]:
    """id → name of the active members of the teams the user manages and their
    sub-teams (not the manager)."""
    with Session(engine) as s:
        teams = list(s.execute(select(Team.id, Team.parent_id, Team.manager_id)))
        managed = {t.id for t in teams if t.manager_id == manager_id}
        grew = True
        while grew:  # sub-teams, to any depth
            below = {t.id for t in teams if t.parent_id in managed} - managed
            managed |= below
            grew = bool(below)
        if not managed:
            return {}
        rows = s.execute(select(User.id, User.display_name)
                         .where(User.team_id.in_(managed), User.is_active.is_(True),
                                User.id != manager_id)
                         .order_by(User.id).limit(agenda.MAX_TEAM_MEMBERS))
        return {row.id: row.display_name for row in rows}


async def _agenda_section(request: Request, principal: Principal, service: str,
                          permissions: tuple[str, ...], before: datetime,
                          members: list[str]) -> agenda.Section:
    if all(principal.scope_for(p) is None for p in permissions):
        return agenda.Section("forbidden", reason=f"needs one of {', '.join(permissions)}")
    context = {"caller": principal.caller_header(None),  # own items only
               "correlation_id": request.state.request_id}
    query = {"before": before.isoformat(), "team_member_ids": members}
    try:
        answer = await request.app.state.runtime.call(
            service, "my_agenda", {"query": query}, context, SECTION_TIMEOUT)
    except DomainError as exc:
        return agenda.Section("unavailable", reason=f"{exc.code}: {exc.detail}")
    except Exception as exc:  # a broken section must not break the agenda
        return agenda.Section("unavailable", reason=type(exc).__name__)
    return agenda.Section("ok", tuple(answer["items"]))


@router.get("/me/agenda", response_model=Agenda, response_model_by_alias=True,
            tags=["workspace"], operation_id="get_my_agenda",
            summary="The caller's agenda: follow-ups, visits, work orders, callbacks, "
            "approvals waiting on them and invoices falling due, by due time; for a "
            "manager also the late items of their teams",
            responses={422: {"description": "a bad window: `invalid_agenda_window`"}})
async def my_agenda(
    request: Request,
    start: Annotated[str | None, Query(
        alias="from", description="a date (YYYY-MM-DD) or a datetime with its offset; "
        "default: today's start (UTC)")] = None,
    end: Annotated[str | None, Query(
        alias="to", description="a date (included) or a datetime; default: a day after "
        "`from`; at most 92 days after it")] = None,
    include_overdue: Annotated[bool, Query(
        description="also open items due before the window that are late or waiting")
    ] = True,
    principal: Principal = Depends(current_principal),
) -> Any:
    now = datetime.now(UTC)
    window = agenda.parse_window(start, end, now)
    members = await run_in_threadpool(_team_members, request.app.state.runtime.engine,
                                      principal.user_id)
    answers = await asyncio.gather(*[
        _agenda_section(request, principal, service, permissions, window.end,
                        sorted(members))
        for service, permissions in AGENDA_SECTIONS.values()])
    merged = agenda.merge(dict(zip(AGENDA_SECTIONS, answers, strict=True)), window, now,
                          include_overdue=include_overdue)
    for entry in merged["items"]:
        entry["assignee_name"] = members.get(entry.get("assignee_id") or "")
    return etag_json(merged)


# -- directory ------------------------------------------------------------------------------
class DirectoryQuery(BaseModel):
    q: str = Field(min_length=1, max_length=100,
                   description="part of a name (characters, full pinyin or initials), "
                   "username, phone or e-mail")
    limit: int = Field(20, ge=1, le=50, description="at most this many of each kind")


def _staff_matches(engine: Any, term: str, limit: int) -> dict[str, list[dict[str, Any]]]:
    with Session(engine) as s:
        teams = {t.id: t for t in s.scalars(select(Team))}
        users = list(s.scalars(select(User).where(User.is_active.is_(True))
                               .order_by(User.display_name, User.id).limit(STAFF_READ)))
    names = {u.id: u.display_name for u in users}
    colleagues = [
        {"id": u.id, "name": u.display_name, "username": u.username, "team_id": u.team_id,
         "team_name": teams[u.team_id].name if u.team_id in teams else None,
         "phone": u.phone, "email": u.email}
        for u in users
        if "portal_contact" not in (u.roles or [])
        and name_matches(term, u.display_name, [u.username, u.email or "", u.phone or ""])
    ][:limit]
    found_teams = [
        {"id": t.id, "name": t.name, "kind": t.kind, "manager_id": t.manager_id,
         "manager_name": names.get(t.manager_id or "")}
        for t in sorted(teams.values(), key=lambda t: (t.name, t.id))
        if name_matches(term, t.name)
    ][:limit]
    return {"colleagues": colleagues, "teams": found_teams}


async def _contacts(request: Request, principal: Principal, query: DirectoryQuery
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if principal.scope_for("customer:read") is None:
        return {"status": "forbidden", "reason": "needs customer:read"}, []
    context = {"caller": principal.caller_header("customer:read"),
               "correlation_id": request.state.request_id}
    try:
        answer = await request.app.state.runtime.call(
            "customer", "search_contacts", {"query": query.model_dump()}, context,
            SECTION_TIMEOUT)
    except DomainError as exc:
        return {"status": "unavailable", "reason": f"{exc.code}: {exc.detail}"}, []
    except Exception as exc:  # colleagues still answer without the customer service
        return {"status": "unavailable", "reason": type(exc).__name__}, []
    return {"status": "ok"}, list(answer["items"])


@router.get("/directory", response_model=Directory, tags=["workspace"],
            operation_id="search_directory", openapi_extra={"x-confidential": True},
            summary="Colleagues and teams (needs user:read), and the contacts of customers "
            "the caller may see, found by name (characters, pinyin or initials)")
async def search_directory(query: Annotated[DirectoryQuery, Query()], request: Request,
                           principal: Principal = Depends(current_principal)) -> Any:
    request.state.confidential = True  # customers' contacts: every search is audited
    principal.require("user:read")  # colleagues; contacts need customer:read besides
    staff, (section, contacts) = await asyncio.gather(
        run_in_threadpool(_staff_matches, request.app.state.runtime.engine, query.q,
                          query.limit),
        _contacts(request, principal, query))
    return etag_json({**staff, "contacts": contacts, "contacts_section": section})
