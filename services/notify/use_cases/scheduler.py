"""Reminders and care (NTF-03): what the scheduler sends when its time comes.

- Reminders kept from events (:class:`Schedule` rows: a follow-up's date, a visit's
  time, maintenance after a delivery and then every N days) are claimed with SKIP
  LOCKED and planned with the occurrence's time as key.
- Calendar rules (birthdays, the admin's holidays) fan out once per day or holiday: the
  :class:`ScheduleRun` row of that occurrence is inserted in the same transaction as its
  deliveries, so of two replicas running at once one does it, and a restart does not
  do it again.

Both run as of ``now`` in the configured time zone (Asia/Shanghai by default).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from crm_platform.db import insert_ignore, utcnow
from crm_platform.uow import UnitOfWork
from sqlalchemy import select

from services.notify.db import queries
from services.notify.db.models import Holiday, Rule, ScheduleRun
from services.notify.domain import rules
from services.notify.domain.rules import Timing
from services.notify.use_cases.planning import (
    Occurrence,
    Plan,
    contact_recipient,
    plan_rule,
    policy,
)


def run_due_reminders(uow: UnitOfWork, now: datetime | None = None, batch: int = 50) -> int:
    """Plan up to ``batch`` due reminders; how many were due."""
    now = now or utcnow()
    s = uow.session
    due = queries.due_schedules(s, now, batch)
    result = Plan()
    for row in due:
        rule = s.get(Rule, row.rule_id)
        timing = Timing.from_json(rule.timing) if rule is not None else None
        if rule is None or not rule.enabled or timing is None:
            s.delete(row)
            continue
        event, data = row.event["event"], row.event["data"]
        plan_rule(uow, rule, Occurrence(f"rule:{rule.id}",
                                        f"{row.subject_key}@{row.next_at.isoformat()}",
                                        event, data, rule.id,
                                        {"occurrence": {"at": row.next_at.isoformat(),
                                                        "number": row.occurrence}}),
                  now, result)
        following = timing.next_after(row.next_at)
        if following is None:
            s.delete(row)
        else:
            row.next_at, row.occurrence = following, row.occurrence + 1
    uow.commit()
    return len(due)


def run_calendar(uow: UnitOfWork, now: datetime | None = None) -> int:
    """Birthdays and holidays due today (local time); how many messages were planned."""
    now = now or utcnow()
    s = uow.session
    zone = policy(s).timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    planned = 0
    for rule in queries.calendar_rules(s):
        timing = Timing.from_json(rule.timing)
        if now < rules.local_due(today, timing.at if timing else None, zone):
            continue
        if rule.event_type == rules.BIRTHDAY:
            occasions = [(f"birthday:{today.isoformat()}", {},
                          queries.contacts_with_birthday(s, rules.birthday_matches(today)))]
        else:
            holidays = s.scalars(select(Holiday).where(Holiday.date == today)).all()
            occasions = [(f"holiday:{h.id}", {"holiday": {"name": h.name,
                                                          "date": h.date.isoformat()}},
                          None) for h in holidays]
        for key, extra, contacts in occasions:
            if not insert_ignore(s, ScheduleRun.__table__, {
                    "rule_id": rule.id, "occurrence": key, "ran_at": now, "planned": 0}):
                continue  # another replica (or an earlier run) did this one
            people = [contact_recipient(c) for c in
                      (contacts if contacts is not None else queries.all_contacts(s))]
            info = {"id": key, "type": rule.event_type, "source": "/crm/notify",
                    "subject": key, "time": now.isoformat()}
            result = Plan()
            plan_rule(uow, rule, Occurrence(f"rule:{rule.id}", key, info,
                                            {"date": today.isoformat()}, rule.id, extra),
                      now, result, recipients=people)
            planned += result.created + result.suppressed
    uow.commit()
    return planned
