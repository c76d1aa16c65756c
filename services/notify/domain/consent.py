"""Consent (NTF-05): whether a message may go now, later, or not at all.

- A recipient who opted out of marketing gets no marketing and no care message on any
  channel; transactional messages (a dunning letter, an assignment) still go.
- Quiet hours defer a message to the end of the quiet period (the morning), never drop it.
- Frequency caps suppress what exceeds ``max`` messages of a category on a channel in
  ``period_days``.

Every refusal has a reason, logged on the delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

Category = Literal["transactional", "care", "marketing"]
CATEGORIES: tuple[Category, ...] = ("transactional", "care", "marketing")
CONSENTED: frozenset[str] = frozenset({"care", "marketing"})  # what an opt-out refuses


@dataclass(frozen=True)
class Cap:
    category: str
    channel: str
    max: int
    period_days: int


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    channels: frozenset[str]
    categories: frozenset[str]

    def covers(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight

    def ends_after(self, now_local: datetime) -> datetime:
        """The first end of quiet hours after ``now_local`` (a local, aware time)."""
        end = datetime.combine(now_local.date(), self.end, tzinfo=now_local.tzinfo)
        if end <= now_local:
            end += timedelta(days=1)
        return end


@dataclass(frozen=True)
class Policy:
    timezone: str = "Asia/Shanghai"
    quiet_hours: QuietHours | None = None
    caps: Sequence[Cap] = field(default_factory=tuple)

    def cap_for(self, category: str, channel: str) -> Cap | None:
        for cap in self.caps:
            if cap.category in (category, "*") and cap.channel in (channel, "*"):
                return cap
        return None


DEFAULT_SETTINGS: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "quiet_hours": {"start": "21:00", "end": "08:00",
                    "channels": ["sms", "wechat", "email"],
                    "categories": ["marketing", "care"]},
    "caps": [{"category": "marketing", "channel": "sms", "max": 2, "period_days": 7},
             {"category": "marketing", "channel": "email", "max": 4, "period_days": 7},
             {"category": "marketing", "channel": "wechat", "max": 4, "period_days": 7}],
}


def policy_from(settings: dict[str, Any]) -> Policy:
    quiet = settings.get("quiet_hours")
    return Policy(
        timezone=str(settings.get("timezone") or "Asia/Shanghai"),
        quiet_hours=None if not quiet else QuietHours(
            time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]),
            frozenset(quiet.get("channels", ())), frozenset(quiet.get("categories", ()))),
        caps=tuple(Cap(c["category"], c["channel"], int(c["max"]), int(c["period_days"]))
                   for c in settings.get("caps", ())),
    )


@dataclass(frozen=True)
class Decision:
    status: Literal["queued", "suppressed"]
    due_at: datetime
    reason: str | None = None


def decide(policy: Policy, *, category: str, channel: str, opted_out: bool,
           now: datetime, sent_in_period: int | None, has_address: bool = True) -> Decision:
    """What happens to one message to one recipient on one channel, at ``now`` (UTC).
    ``sent_in_period``: the recipient's messages counted by the channel's cap (None: no
    cap applies)."""
    if not has_address:
        return Decision("suppressed", now, "no_address")
    if opted_out and category in CONSENTED:
        return Decision("suppressed", now, "opted_out")
    cap = policy.cap_for(category, channel)
    if cap is not None and sent_in_period is not None and sent_in_period >= cap.max:
        return Decision("suppressed", now,
                        f"frequency_cap: {cap.max} {category} {channel} per "
                        f"{cap.period_days} days")
    quiet = policy.quiet_hours
    if quiet is not None and channel in quiet.channels and category in quiet.categories:
        local = now.astimezone(ZoneInfo(policy.timezone))
        if quiet.covers(local.time()):
            return Decision("queued", quiet.ends_after(local).astimezone(now.tzinfo),
                            "quiet_hours")
    return Decision("queued", now)
