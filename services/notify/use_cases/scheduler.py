"""Reminders and care (NTF-03): what the scheduler sends when its time comes.

- Reminders kept from events (:class:`Schedule` rows: a follow-up's date, a visit's
  time, maintenance after a delivery and then every N days) are claimed with SKIP
  LOCKED and planned with the occurrence's time as key.
- Calendar rules (birthdays, the admin's holidays) fan out per day or holiday: the
  :class:`ScheduleRun` row of that occasion is locked while it runs, so of two replicas
  running at once one does it while the other waits, and then finds nothing new.

Both run as of ``now`` in the configured time zone (Asia/Shanghai by default).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from crm_platform.db import insert_ignore, utcnow
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

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
    """Birthdays and holidays due today (local time); how many messages were planned.

    Each occasion keeps a :class:`ScheduleRun` row, locked while it runs, so replicas
    take turns; a later run of the same day looks only at contacts copied since the
    previous one (a contact added at noon still gets its birthday greeting), and the
    deliveries' keys make sure nobody is greeted twice."""
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
            occasions = [(f"birthday:{today.isoformat()}", {}, True)]
        else:
            holidays = s.scalars(select(Holiday).where(Holiday.date == today)).all()
            occasions = [(f"holiday:{h.id}", {"holiday": {"name": h.name,
                                                          "date": h.date.isoformat()}}, False)
                         for h in holidays]
        for key, extra, birthdays in occasions:
            run = _locked_run(s, rule.id, key)
            since = None if run.planned == 0 and run.ran_at is None \
                else run.ran_at - RACE_MARGIN
            contacts = queries.contacts_with_birthday(s, rules.birthday_matches(today), since) \
                if birthdays else queries.all_contacts(s, since)
            info = {"id": key, "type": rule.event_type, "source": "/crm/notify",
                    "subject": key, "time": now.isoformat()}
            result = Plan()
            plan_rule(uow, rule, Occurrence(f"rule:{rule.id}", key, info,
                                            {"date": today.isoformat()}, rule.id, extra),
                      now, result, recipients=[contact_recipient(c) for c in contacts])
            run.ran_at, run.planned = utcnow(), run.planned + result.created
            planned += result.created + result.suppressed
            uow.commit()
    uow.commit()
    return planned


# contacts copied this long before a run's start may have committed after its query
RACE_MARGIN = timedelta(minutes=5)


def _locked_run(s: Session, rule_id: str, key: str) -> ScheduleRun:
    run = s.get(ScheduleRun, (rule_id, key), with_for_update=True)
    if run is None:
        insert_ignore(s, ScheduleRun.__table__, {"rule_id": rule_id, "occurrence": key,
                                                 "ran_at": None, "planned": 0})
        run = s.get(ScheduleRun, (rule_id, key), with_for_update=True,
                    populate_existing=True)
    assert run is not None
    return run
