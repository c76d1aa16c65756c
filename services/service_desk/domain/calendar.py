"""Business-hours calendars (SVC-03): when an SLA clock runs.

A calendar is a time zone, working intervals per weekday, holidays (no work that day,
whatever the weekday) and make-up working days (调休: a weekend day that is worked, with
Monday's hours). Intervals are local wall times in the calendar's zone, worked out with
:mod:`zoneinfo`, so a zone with daylight saving is handled; Asia/Shanghai has none.

An interval never crosses midnight: a night shift is two intervals (22:00–24:00 and
00:00–06:00 the next weekday), and ``24:00`` ends a day. A clock without a calendar runs
around the clock (:func:`add_time` and :func:`elapsed_time` with ``None``).

Every moment in and out is an aware datetime; durations are :class:`timedelta`, exact to
the microsecond, so a clock paused and resumed moves its due time by exactly the pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_platform.errors import ValidationFailed

DEFAULT_TIMEZONE = "Asia/Shanghai"
ZERO = timedelta(0)
# how far ahead a due time is looked for: a calendar that has no working time for a year
# is a mistake, not a calendar (saving one with no hours at all is refused)
MAX_DAYS = 3 * 366
MONDAY = 0
END_OF_DAY = "24:00"


@dataclass(frozen=True)
class WorkingHours:
    """``weekday`` Monday 0 … Sunday 6; ``end`` None is the end of the day (24:00)."""

    weekday: int
    start: time
    end: time | None


def parse_clock(text: str, *, end: bool = False) -> time | None:
    """``"HH:MM"`` as a time; ``"24:00"`` (only as an end) is None, the end of the day."""
    if end and text == END_OF_DAY:
        return None
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a time of day (HH:MM)",
                               code="invalid_working_hours") from None


def working_hours(weekday: int, start: str, end: str) -> WorkingHours:
    """One interval from its text form, checked: start before end, within the day."""
    begins = parse_clock(start)
    ends = parse_clock(end, end=True)
    if begins is None or not 0 <= weekday <= 6:
        raise ValidationFailed("an interval needs a weekday 0-6 and a start",
                               code="invalid_working_hours")
    if ends is not None and ends <= begins:
        raise ValidationFailed(f"{start}-{end}: an interval ends after it starts, on the "
                               "same day (split a night shift at 24:00)",
                               code="invalid_working_hours")
    return WorkingHours(weekday, begins, ends)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown time zone {name!r}", code="invalid_timezone") from None


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str
    hours: tuple[WorkingHours, ...]
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        zone(self.timezone)
        if not self.hours:
            raise ValidationFailed("a calendar needs working hours", code="no_working_hours")
        if self.holidays & self.workdays:
            raise ValidationFailed("a day cannot be both a holiday and a working day",
                                   code="invalid_calendar")
        by_day: dict[int, list[WorkingHours]] = {}
        for h in self.hours:
            by_day.setdefault(h.weekday, []).append(h)
        for intervals in by_day.values():
            ordered = sorted(intervals, key=lambda h: h.start)
            for before, after in zip(ordered, ordered[1:], strict=False):
                if before.end is None or before.end > after.start:
                    raise ValidationFailed("working intervals of one day overlap",
                                           code="invalid_working_hours")

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of one local day as aware UTC datetimes, in order."""
        if day in self.holidays:
            return []
        weekday = MONDAY if day in self.workdays else day.weekday()
        tz = self.tz
        found = []
        for h in sorted((h for h in self.hours if h.weekday == weekday),
                        key=lambda h: h.start):
            start = datetime.combine(day, h.start, tzinfo=tz).astimezone(UTC)
            end = (datetime.combine(day, h.end, tzinfo=tz) if h.end is not None
                   else datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
                   ).astimezone(UTC)
            if end > start:  # a DST gap can swallow a short interval
                found.append((start, end))
        return found

    def _intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        # the day before too: its last interval may end after ``moment`` (24:00)
        day = moment.astimezone(self.tz).date() - timedelta(days=1)
        for offset in range(MAX_DAYS):
            for start, end in self.intervals_on(day + timedelta(days=offset)):
                if end > moment:
                    yield max(start, moment), end
        raise ValidationFailed(f"the calendar has no working time within {MAX_DAYS} days",
                               code="no_working_hours")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start``."""
        if duration <= ZERO:
            return start
        remaining = duration
        for begins, ends in self._intervals_from(start):
            available = ends - begins
            if remaining <= available:
                return begins + remaining
            remaining -= available
        raise AssertionError("unreachable: _intervals_from raises when it runs out")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two moments (zero if ``end`` is not after ``start``)."""
        total = ZERO
        if end <= start:
            return total
        for begins, ends in self._intervals_from(start):
            if begins >= end:
                break
            total += min(ends, end) - begins
        return total


def add_time(calendar: BusinessCalendar | None, start: datetime,
             duration: timedelta) -> datetime:
    """``start`` plus ``duration`` of the calendar's working time (any time without one)."""
    return start + max(duration, ZERO) if calendar is None else calendar.add(start, duration)


def elapsed_time(calendar: BusinessCalendar | None, start: datetime,
                 end: datetime) -> timedelta:
    if calendar is None:
        return max(end - start, ZERO)
    return calendar.elapsed(start, end)


def calendar_from(timezone: str, hours: Iterable[tuple[int, str, str]],
                  holidays: Iterable[date] = (), workdays: Iterable[date] = ()
                  ) -> BusinessCalendar:
    """A calendar from its stored form: ``(weekday, "HH:MM", "HH:MM")`` intervals."""
    return BusinessCalendar(timezone, tuple(working_hours(*h) for h in hours),
                            frozenset(holidays), frozenset(workdays))
