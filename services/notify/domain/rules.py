"""Notification rules (NTF-02): which events become which messages, to whom, how.

Rules are data. A rule names an event type (``invoice.overdue``; a pattern such as
``ticket.*`` also works), an optional condition over the event, the recipients as roles
the event names, the channels, the template and the message's category. Events of a
service that lands later (the service desk's ``work_order.dispatched``) need only a rule
row: recipients are read from the payload by field name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CHANNELS = ("inbox", "email", "sms", "wechat")
EXTERNAL_CHANNELS = ("email", "sms", "wechat")

# a role the event names by a ``<role>_id`` field: owner → data.owner_id
STAFF_ROLES = ("owner", "assignee", "technician", "approver", "manager", "submitter",
               "agent", "holder", "escalated_to", "requester")
OWNER_MANAGER = "owner_manager"  # the manager of the owner's team (its parent's, if the
#                                  owner manages it)
CUSTOMER_CONTACTS = "customer_contacts"  # a company's contacts, or a person customer
# everyone holding a platform role, whoever the event names (archive managers decide
# every borrowing, not only the document's owner)
ROLE_GROUPS = {"archivists": "archivist"}
RECIPIENTS = (*STAFF_ROLES, OWNER_MANAGER, CUSTOMER_CONTACTS, *ROLE_GROUPS)

# pseudo event types the scheduler raises itself
BIRTHDAY = "schedule.birthday"
HOLIDAY = "schedule.holiday"
SCHEDULED = (BIRTHDAY, HOLIDAY)

_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*(\.([a-z0-9_]+|\*))*$|^\*$")


def valid_event_pattern(pattern: str) -> bool:
    """``invoice.issued``, ``invoice.*``, ``*`` (a ``*`` is one whole segment)."""
    return bool(_PATTERN.match(pattern)) and len(pattern) <= 200


def matches(pattern: str, event_type: str) -> bool:
    """``*`` matches every type; ``invoice.*`` every type under ``invoice.`` (at any
    depth, as in AMQP's ``#``); otherwise the type itself."""
    if pattern == "*" or pattern == event_type:
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return False


def customer_id_of(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The customer an event is about: ``customer_id``, or a customer event's own id."""
    value = data.get("customer_id")
    if value is None and event_type.startswith("customer."):
        value = data.get("id")
    return None if value is None else str(value)


def staff_ids(role: str, data: Mapping[str, Any]) -> list[str]:
    value = data.get(f"{role}_id")
    return [str(value)] if value else []


@dataclass(frozen=True)
class Timing:
    """When a rule's message goes, relative to a date or time in the event:
    ``field`` (``due_on``, ``planned_at``, ``delivered_on``), ``offset_minutes`` from it,
    at the local time ``at`` when the field is a date, repeated every ``repeat_days``."""

    field: str
    offset_minutes: int = 0
    at: time | None = None
    repeat_days: int | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Timing | None:
        if not raw:
            return None
        return cls(str(raw["field"]), int(raw.get("offset_minutes") or 0),
                   time.fromisoformat(raw["at"]) if raw.get("at") else None,
                   int(raw["repeat_days"]) if raw.get("repeat_days") else None)

    def first(self, data: Mapping[str, Any], timezone: str) -> datetime | None:
        """When the first message is due (UTC), or None if the event lacks the field."""
        raw = data.get(self.field)
        if raw is None:
            return None
        zone = ZoneInfo(timezone)
        if isinstance(raw, str):
            raw = datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
        if isinstance(raw, datetime):
            at = raw if raw.tzinfo else raw.replace(tzinfo=zone)
        elif isinstance(raw, date):
            at = datetime.combine(raw, self.at or time(9, 0), tzinfo=zone)
        else:
            return None
        return (at + timedelta(minutes=self.offset_minutes)).astimezone(ZoneInfo("UTC"))

    def next_after(self, previous: datetime) -> datetime | None:
        if not self.repeat_days:
            return None
        return previous + timedelta(days=self.repeat_days)


def birthday_matches(today: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays celebrated ``today``: 29 February on the 28th in a
    year without one."""
    found = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28):
        try:
            date(today.year, 2, 29)
        except ValueError:
            found.append((2, 29))
    return found


def local_due(today: date, at: time | None, timezone: str) -> datetime:
    """``today`` at the local time ``at`` (09:00 by default), in UTC."""
    return datetime.combine(today, at or time(9, 0),
                            tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))
