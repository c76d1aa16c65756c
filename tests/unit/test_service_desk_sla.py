"""SLA clocks and business-hours calendars (SVC-03), no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from crm_platform.errors import ValidationFailed

from services.service_desk.domain import sla
from services.service_desk.domain.calendar import BusinessCalendar, calendar_from
from services.service_desk.domain.tickets import clocks_after

SH = ZoneInfo("Asia/Shanghai")
# Monday to Friday 09:00-12:00 and 13:00-18:00 (a lunch break), Shanghai time
OFFICE = calendar_from("Asia/Shanghai", [(d, s, e) for d in range(5)
                                         for s, e in (("09:00", "12:00"), ("13:00", "18:00"))],
                       holidays=[date(2026, 10, 1), date(2026, 10, 2)],
                       workdays=[date(2026, 9, 27)])  # a Sunday worked (调休)
AROUND_THE_CLOCK = calendar_from("Asia/Shanghai", [(d, "00:00", "24:00") for d in range(7)])


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def test_working_time_skips_the_lunch_break_and_the_night() -> None:
    assert OFFICE.add(sh(2026, 9, 22, 11, 0), timedelta(hours=2)) == sh(2026, 9, 22, 14, 0)
    assert OFFICE.add(sh(2026, 9, 22, 17, 0), timedelta(hours=2)) == sh(2026, 9, 23, 10, 0)
    # starting outside working hours starts at the next opening
    assert OFFICE.add(sh(2026, 9, 22, 7, 30), timedelta(minutes=30)) == sh(2026, 9, 22, 9, 30)
    assert OFFICE.elapsed(sh(2026, 9, 22, 11, 0), sh(2026, 9, 22, 14, 0)) == timedelta(hours=2)


def test_a_weekend_is_not_counted() -> None:
    friday_five = sh(2026, 9, 18, 17, 0)  # Friday
    assert OFFICE.add(friday_five, timedelta(hours=2)) == sh(2026, 9, 21, 10, 0)  # Monday
    assert OFFICE.elapsed(friday_five, sh(2026, 9, 21, 10, 0)) == timedelta(hours=2)


def test_holidays_and_worked_weekend_days() -> None:
    # National Day: Thursday 1 and Friday 2 October are holidays; the clock waits until
    # Monday the 5th
    assert OFFICE.add(sh(2026, 9, 30, 17, 0), timedelta(hours=2)) == sh(2026, 10, 5, 10, 0)
    # Sunday 27 September is worked with Monday's hours
    assert OFFICE.add(sh(2026, 9, 26, 12, 0), timedelta(hours=1)) == sh(2026, 9, 27, 10, 0)
    assert OFFICE.elapsed(sh(2026, 9, 27, 0, 0), sh(2026, 9, 28, 0, 0)) == timedelta(hours=8)


def test_the_clock_runs_on_across_midnight() -> None:
    late = sh(2026, 9, 22, 23, 30)
    assert AROUND_THE_CLOCK.add(late, timedelta(hours=1)) == sh(2026, 9, 23, 0, 30)
    assert AROUND_THE_CLOCK.elapsed(late, sh(2026, 9, 23, 0, 30)) == timedelta(hours=1)
    # a night shift split at midnight: 22:00-24:00 then 00:00-06:00 the next day
    night = calendar_from("Asia/Shanghai", [(1, "22:00", "24:00"), (2, "00:00", "06:00")])
    tuesday_late = sh(2026, 9, 22, 23, 0)  # a Tuesday
    assert night.add(tuesday_late, timedelta(hours=3)) == sh(2026, 9, 23, 2, 0)
    assert night.add(tuesday_late, timedelta(hours=8)) == sh(2026, 9, 29, 23, 0)
    # a moment exactly at midnight belongs to the new day's first interval
    assert night.add(sh(2026, 9, 23, 0, 0), timedelta(minutes=1)) == sh(2026, 9, 23, 0, 1)


def test_times_are_exact_and_in_utc() -> None:
    start = datetime(2026, 9, 22, 2, 0, 0, 123456, tzinfo=UTC)  # 10:00:00.123456 Shanghai
    due = OFFICE.add(start, timedelta(microseconds=7))
    assert due == start + timedelta(microseconds=7)
    assert OFFICE.elapsed(start, due) == timedelta(microseconds=7)


def test_zoneinfo_handles_a_zone_with_daylight_saving() -> None:
    berlin = calendar_from("Europe/Berlin", [(d, "00:00", "24:00") for d in range(7)])
    # 29 March 2026 has 23 hours in Berlin: a day of working time ends at 01:00 next day
    start = datetime(2026, 3, 29, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert berlin.add(start, timedelta(hours=24)) == datetime(
        2026, 3, 30, 1, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def test_calendars_are_checked() -> None:
    with pytest.raises(ValidationFailed):
        calendar_from("Asia/Shanghai", [])
    with pytest.raises(ValidationFailed):
        calendar_from("Mars/Olympus", [(0, "09:00", "18:00")])
    with pytest.raises(ValidationFailed):
        calendar_from("Asia/Shanghai", [(0, "18:00", "09:00")])
    with pytest.raises(ValidationFailed):
        calendar_from("Asia/Shanghai", [(0, "09:00", "13:00"), (0, "12:00", "18:00")])
    with pytest.raises(ValidationFailed):
        BusinessCalendar("Asia/Shanghai", OFFICE.hours, frozenset({date(2026, 1, 1)}),
                         frozenset({date(2026, 1, 1)}))
    holidays_forever = calendar_from("Asia/Shanghai", [(0, "09:00", "10:00")],
                                     holidays=[date(2026, 9, 21) + timedelta(weeks=w)
                                               for w in range(200)])
    with pytest.raises(ValidationFailed):
        holidays_forever.add(sh(2026, 9, 21, 0, 0), timedelta(hours=1))


# -- clocks -------------------------------------------------------------------------------
def test_pause_and_resume_move_the_due_time_by_exactly_the_pause() -> None:
    received = datetime(2026, 9, 22, 1, 0, 0, 1, tzinfo=UTC)
    clock = sla.start("resolution", 240, True, received, None)
    assert clock.due_at == received + timedelta(hours=4)
    paused_at = received + timedelta(minutes=37, microseconds=3)
    resumed_at = paused_at + timedelta(hours=5, microseconds=999)
    paused = sla.pause(clock, paused_at, None)
    assert paused.due_at is None and paused.paused and not sla.is_due(paused, resumed_at)
    resumed = sla.resume(paused, resumed_at, None)
    assert resumed.due_at == clock.due_at + (resumed_at - paused_at)
    assert sla.paused_for(resumed, resumed_at) == resumed_at - paused_at


def test_a_paused_business_clock_resumes_with_the_working_time_left() -> None:
    received = sh(2026, 9, 18, 16, 0)  # Friday 16:00, 2 h of the 4 h left at 18:00
    clock = sla.start("resolution", 240, True, received, OFFICE)
    assert clock.due_at == sh(2026, 9, 21, 11, 0)
    paused = sla.pause(clock, sh(2026, 9, 18, 17, 0), OFFICE)  # 1 h used
    resumed = sla.resume(paused, sh(2026, 9, 21, 15, 0), OFFICE)  # Monday 15:00
    assert resumed.consumed == timedelta(hours=1)
    assert resumed.due_at == sh(2026, 9, 21, 18, 0)


def test_dispatch_counts_around_the_clock_whatever_the_calendar() -> None:
    targets = sla.targets_for([], "complaint", "normal")
    assert targets.minutes == {"first_response": 240, "resolution": 1440, "dispatch": 60}
    received = sh(2026, 9, 19, 23, 0)  # a Saturday night
    clocks = {c.target: c for c in sla.start_clocks(targets, received, OFFICE)}
    assert clocks["dispatch"].due_at == received + timedelta(minutes=60)
    assert clocks["first_response"].due_at == sh(2026, 9, 21, 14, 0)  # lunch 12-13


def test_met_clocks_do_not_breach_and_reopening_runs_resolution_again() -> None:
    received = datetime(2026, 9, 22, 0, 0, tzinfo=UTC)
    clock = sla.start("resolution", 60, False, received, None)
    met = sla.meet(clock, received + timedelta(minutes=20), None)
    assert met.consumed == timedelta(minutes=20)
    assert not sla.is_due(met, received + timedelta(days=1))
    reopened = sla.restart(met, received + timedelta(hours=5), None)
    assert reopened.due_at == received + timedelta(hours=5, minutes=40)
    late = received + timedelta(hours=6)
    assert sla.is_due(reopened, late)
    breached = sla.breach(reopened, late)
    assert sla.breached(breached) and not sla.is_due(breached, late)


def test_a_clock_that_ran_out_before_a_pause_is_due_on_resume() -> None:
    received = datetime(2026, 9, 22, 0, 0, tzinfo=UTC)
    clock = sla.start("first_response", 10, False, received, None)
    paused = sla.pause(clock, received + timedelta(minutes=15), None)
    resumed = sla.resume(paused, received + timedelta(hours=1), None)
    assert resumed.due_at == received + timedelta(hours=1)
    assert sla.is_due(resumed, received + timedelta(hours=1))


def test_retarget_moves_a_running_due_time() -> None:
    received = datetime(2026, 9, 22, 0, 0, tzinfo=UTC)
    clock = sla.start("resolution", 1440, False, received, None)
    assert sla.retarget(clock, 240, None).due_at == received + timedelta(hours=4)


def test_ticket_steps_pause_resume_and_meet() -> None:
    received = datetime(2026, 9, 22, 0, 0, tzinfo=UTC)
    clocks = sla.start_clocks(sla.targets_for([], "fault", "high"), received, None)
    t1, t2, t3 = (received + timedelta(minutes=m) for m in (10, 70, 100))
    pending = clocks_after("set_pending", "open", "pending", clocks, t1, None)
    assert all(c.paused and c.due_at is None for c in pending)
    opened = clocks_after("open", "pending", "open", pending, t2, None)
    assert [c.due_at for c in opened] == [c.due_at + timedelta(minutes=60)  # type: ignore[operator]
                                          for c in clocks]
    resolved = clocks_after("resolve", "open", "resolved", opened, t3, None)
    assert all(c.met_at == t3 for c in resolved)
    assert sla.view(resolved, sla.targets_for([], "fault", "high"), t3)["paused_seconds"] \
        == 3600.0


def test_policies_match_most_specific_first() -> None:
    def policy(pid: str, category: str | None, priority: str | None) -> sla.Policy:
        return sla.Policy(pid, pid, category, priority, 10, 100, None, None)

    policies = [policy("any", None, None), policy("urgent", None, "urgent"),
                policy("fault", "fault", None), policy("fault-urgent", "fault", "urgent")]
    assert sla.match_policy(policies, "fault", "urgent").id == "fault-urgent"  # type: ignore[union-attr]
    assert sla.match_policy(policies, "fault", "low").id == "fault"  # type: ignore[union-attr]
    assert sla.match_policy(policies, "consultation", "urgent").id == "urgent"  # type: ignore[union-attr]
    assert sla.match_policy(policies, "consultation", "low").id == "any"  # type: ignore[union-attr]
    assert sla.match_policy(policies[1:2], "fault", "low") is None
    with pytest.raises(ValidationFailed):
        sla.check_minutes([0])
