"""An employee's agenda (CUS-18): the window asked for, the items each service holds for
them, merged into one list sorted by due time.

Each service answers ``my_agenda(query={"before": …})`` with its open items for the caller
due before the window's end (overdue ones included), built with :func:`item`; the
gateway fans out and :func:`merge` keeps the window, marks overdue items and sorts. A
section whose service did not answer is reported as such, and the rest still shows. A
manager's agenda also has the late items of the members of the teams they manage
(``team_member_ids``; each such item names its ``assignee_id``).
Plain Python, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from crm_platform import wire
from crm_platform.errors import ValidationFailed

DEFAULT_SPAN = timedelta(days=1)
MAX_SPAN = timedelta(days=92)  # a quarter: a longer agenda is a report, not a day's work
MAX_ITEMS_PER_SECTION = 200  # what one service returns at most (the earliest due first)
MAX_TEAM_MEMBERS = 1000  # whose late items a manager's agenda gathers

# what an item is; approvals wait on the reader since they were asked (their due time),
# so they are "waiting", never "overdue"
AgendaKind = Literal["followup", "visit", "work_order", "callback", "quote_approval",
                     "order_approval", "expense_approval", "access_request",
                     "invoice_due"]
APPROVAL_KINDS = frozenset({"quote_approval", "order_approval", "expense_approval",
                            "access_request"})


@dataclass(frozen=True)
class AgendaWindow:
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {"from": wire.timestamp(self.start), "to": wire.timestamp(self.end)}


def _bad(detail: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed(detail, code="invalid_agenda_window", extra=extra)


def _moment(value: str, name: str, *, end: bool) -> datetime:
    """A date (the day's start, or for ``to`` the next day's start: ``to`` a date
    includes that day) or a datetime with its UTC offset."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad(f"'{name}' is a date (YYYY-MM-DD) or a datetime with its offset",
                   field=name, value=value) from exc
    if moment.tzinfo is None:
        raise _bad(f"'{name}' needs its UTC offset (e.g. 2026-12-05T09:00:00+08:00)",
                   field=name, value=value)
    return moment.astimezone(UTC)


def parse_window(start: str | None, end: str | None, now: datetime) -> AgendaWindow:
    """The window asked for: ``from`` by default today's start (UTC), ``to`` by default
    one day after ``from``."""
    begin = (_moment(start, "from", end=False) if start
             else datetime.combine(now.astimezone(UTC).date(), time(), UTC))
    finish = _moment(end, "to", end=True) if end else begin + DEFAULT_SPAN
    if finish <= begin:
        raise ValidationFailed("'to' must be after 'from'", code="invalid_agenda_window",
                               extra={"from": wire.timestamp(begin), "to": wire.timestamp(finish)})
    if finish - begin > MAX_SPAN:
        raise _bad(f"the window is at most {MAX_SPAN.days} days",
                   max_days=MAX_SPAN.days)
    return AgendaWindow(begin, finish)


def due_at(value: datetime | date) -> datetime:
    """A due time in UTC; a due date (a follow-up's day, an invoice's due date) sorts at
    that day's start (and is late when the day is over: ``all_day``)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given as a due time")
        return value.astimezone(UTC)
    return datetime.combine(value, time(), UTC)


def item(kind: AgendaKind, item_id: str, title: str, due: datetime | date, link: str,
         *, assignee_id: str | None = None, **detail: Any) -> dict[str, Any]:
    """One agenda item as a service returns it: what it is, when it is due, and the API
    path to act on it; ``assignee_id``: a team member's late item on their manager's
    agenda (None: the reader's own); ``detail`` (customer, status, number…) as the
    service has it."""
    return {"kind": kind, "id": item_id, "title": title,
            "due_at": wire.timestamp(due_at(due)), "all_day": not isinstance(due, datetime),
            "link": link, "assignee_id": assignee_id,
            "detail": {k: v for k, v in detail.items() if v is not None}}


@dataclass(frozen=True)
class Section:
    """What one service answered: its items, or why it could not."""

    status: Literal["ok", "unavailable", "forbidden"]
    items: tuple[dict[str, Any], ...] = ()
    reason: str | None = None


def _state(entry: Mapping[str, Any], due: datetime, now: datetime) -> str:
    """An item due on a date is late once that day is over; one due at a time, after
    it."""
    if entry["kind"] in APPROVAL_KINDS:
        return "waiting"
    late_from = due + timedelta(days=1) if entry.get("all_day") else due
    return "overdue" if late_from <= now else "due"


def merge(sections: Mapping[str, Section], window: AgendaWindow, now: datetime,
          *, include_overdue: bool = True) -> dict[str, Any]:
    """The agenda: items due in the window, and (``include_overdue``) open items due
    before it that are overdue or waiting; each marked ``due`` / ``overdue`` /
    ``waiting``; sorted by due time (then kind and id: the same order every time); the
    same item from two sections once. ``sections`` says per section whether it answered;
    ``complete`` is false when one did not."""
    seen: set[tuple[str, str]] = set()
    kept: list[tuple[datetime, dict[str, Any]]] = []
    for name, section in sections.items():
        for entry in section.items:
            key = (entry["kind"], entry["id"])
            if key in seen:
                continue
            due = datetime.fromisoformat(entry["due_at"]).astimezone(UTC)
            if due >= window.end:
                continue
            state = _state(entry, due, now)
            if entry.get("assignee_id") and state != "overdue":
                continue  # of the team's items, a manager sees those that are late
            if due < window.start and not (include_overdue and state != "due"):
                continue
            seen.add(key)
            kept.append((due, {**entry, "due_at": wire.timestamp(due), "state": state,
                               "section": name}))
    kept.sort(key=lambda pair: (pair[0], pair[1]["kind"], pair[1]["id"]))
    return {
        "window": window.as_dict(),
        "items": [entry for _, entry in kept],
        "sections": {name: {"status": s.status, "reason": s.reason,
                            "count": sum(1 for e in kept if e[1]["section"] == name)}
                     for name, s in sections.items()},
        "complete": all(s.status != "unavailable" for s in sections.values()),
    }


def sorted_by_due(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A service's own items, earliest first and at most :data:`MAX_ITEMS_PER_SECTION`
    (a service merges several kinds before answering)."""
    return sorted(items, key=lambda e: (datetime.fromisoformat(e["due_at"]), e["kind"],
                                        e["id"]))[:MAX_ITEMS_PER_SECTION]


def team_members(query: Mapping[str, Any] | None) -> list[str]:
    """The members of the teams the reader manages (``team_member_ids``, given by the
    gateway from its teams): their late items are on the manager's agenda too."""
    members = (query or {}).get("team_member_ids") or []
    if not isinstance(members, list) or len(members) > MAX_TEAM_MEMBERS:
        raise _bad(f"team_member_ids is a list of at most {MAX_TEAM_MEMBERS} user ids",
                   field="team_member_ids")
    return [str(m) for m in members]


def late_before(before: datetime, now: datetime | None = None) -> datetime:
    """Up to when a team member's item is late: now, or the window's end if earlier."""
    return min(before, now or datetime.now(UTC))


def window_end(query: Mapping[str, Any] | None) -> datetime:
    """The ``before`` a service's ``my_agenda`` gets (an ISO datetime with offset)."""
    raw = (query or {}).get("before")
    if not raw:
        raise _bad("'before' is required", field="before")
    return _moment(str(raw), "before", end=False)


# the items of some people due before a time: ``(user ids, before, team)``
Items = Callable[[list[str], datetime, bool], list[dict[str, Any]]]


def own_and_team(caller_id: str, query: Mapping[str, Any] | None, items: Items
                 ) -> dict[str, Any]:
    """A service's ``my_agenda`` answer: the caller's own items due before the window's
    end (only their own, whatever their roles), and the late ones of the members of the
    teams they manage."""
    before = window_end(query)
    found = items([caller_id], before, False)
    members = team_members(query)
    if members:
        found += items(members, late_before(before), True)
    return {"items": sorted_by_due(found)}
