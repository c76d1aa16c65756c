"""The call centre (呼叫中心, SVC-08): who is calling, what a call was, and the outbound
call lists agents work through.

- A number is looked up in E.164, the form the customer service keeps phones in, so a
  caller's ``0086 138-0013-8000`` finds the customer stored as ``13800138000``.
- A call's lifecycle follows the telephony events: ringing → answered → ended, or
  ringing → missed. Each event of a call is applied once; a late or repeated one is
  told apart from a refused one (:func:`telephony_step`).
- An entry of a call list is worked until reached, given up or due for a callback; a
  contact who opted out of marketing is never put on a telemarketing list, and nobody is
  on two active lists at once (:func:`eligible`).
"""

from __future__ import annotations

import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers
from crm_platform.errors import ValidationFailed
from crm_platform.states import StateMachine

DEFAULT_REGION = "CN"
Direction = Literal["inbound", "outbound"]
TelephonyKind = Literal["ringing", "answered", "ended", "missed"]
# what became of a call, as the agent (or the telephony, for missed calls) records it
CallOutcome = Literal["answered", "missed", "no_answer", "busy", "voicemail",
                      "wrong_number", "resolved", "ticket", "follow_up", "callback",
                      "interested", "not_interested", "do_not_call"]
# outcomes of an attempt on a call list entry
EntryOutcome = Literal["reached", "interested", "not_interested", "no_answer", "busy",
                       "voicemail", "wrong_number", "callback", "do_not_call"]
ListPurpose = Literal["service", "care", "telemarketing"]
ListSource = Literal["callbacks", "care", "segment", "manual"]

CALL = StateMachine("call", {
    "answer": ("ringing", "answered"),
    "end": ("ringing answered", "ended"),
    "miss": ("ringing", "missed"),
    "annotate": ("ringing answered ended missed", None),
})
TELEPHONY_ACTION: dict[str, str] = {"answered": "answer", "ended": "end", "missed": "miss"}
# how far along the lifecycle each state is: an event for an earlier state arriving
# after a later one (``answered`` after ``ended``) is stale, not a refusal
STATE_RANK = {"ringing": 0, "answered": 1, "ended": 2, "missed": 2}

CALL_LIST = StateMachine("call list", {
    "work": ("active", None),
    "close": ("active", "closed"),
})
ENTRY = StateMachine("call list entry", {
    "attempt": ("pending callback", None),
    "skip": ("pending callback", "skipped"),
})
# entry outcomes that end the entry (the person was reached or must not be called)
REACHED = frozenset({"reached", "interested", "not_interested"})
FINAL = REACHED | {"wrong_number", "do_not_call"}
DEFAULT_MAX_ATTEMPTS = 3


def lookup_number(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form of a number written any common way (``13800138000``,
    ``+86 138-0013-8000``, ``0086 138…``, ``010-12345678``); None when it is not a
    phone number (a withheld caller id, letters)."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text or any(ch.isalpha() for ch in text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def required_number(raw: str, field: str = "phone") -> str:
    found = lookup_number(raw)
    if found is None:
        raise ValidationFailed(f"not a phone number: {raw!r}", code="invalid_phone",
                               extra={"errors": [{"field": field,
                                                  "message": "not a phone number"}]})
    return found


@dataclass(frozen=True)
class Step:
    """What a telephony event does to a call: ``apply`` it (moving to ``state``), or
    ignore it as ``stale`` (the call is already past it)."""

    apply: bool
    state: str


def telephony_step(current: str | None, kind: TelephonyKind) -> Step:
    """The call's state after ``kind``. ``current`` None: the call is not known yet —
    any event starts it (a connector that sends ``ended`` only still logs the call).
    An event behind the call's state is stale; one that contradicts it (``answered`` on
    a ``missed`` call) is a refused transition."""
    if current is None:
        return Step(True, "ringing" if kind == "ringing" else
                    CALL.next("ringing", TELEPHONY_ACTION[kind]))
    if kind == "ringing":
        return Step(False, current)
    target = CALL.transitions[TELEPHONY_ACTION[kind]].target
    assert target is not None
    if current == target or STATE_RANK[current] > STATE_RANK[target]:
        if STATE_RANK[current] == STATE_RANK[target] and current != target:
            CALL.check(current, TELEPHONY_ACTION[kind])  # ended vs missed: refused
        return Step(False, current)
    return Step(True, CALL.next(current, TELEPHONY_ACTION[kind]))


def duration_seconds(answered_at: datetime | None, ended_at: datetime | None,
                     reported: int | None = None) -> int | None:
    """Talk time: the telephony's figure when it sends one, else answered → ended."""
    if reported is not None:
        if reported < 0:
            raise ValidationFailed("a duration is not negative", code="invalid_duration")
        return reported
    if answered_at is None or ended_at is None:
        return None
    return max(0, int((ended_at - answered_at).total_seconds()))


def check_times(started_at: datetime, answered_at: datetime | None,
                ended_at: datetime | None) -> None:
    """A call is answered after it starts and ends after both."""
    if answered_at is not None and answered_at < started_at:
        raise ValidationFailed("a call is answered after it starts", code="invalid_call_times")
    if ended_at is not None and ended_at < (answered_at or started_at):
        raise ValidationFailed("a call ends after it starts and is answered",
                               code="invalid_call_times")


# -- outbound call lists -------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """Someone a list could call: a contact (or a customer with no contact) and a number."""

    customer_id: str
    contact_id: str | None
    phone: str | None
    marketing_opt_out: bool = False
    deleted: bool = False
    callback_id: str | None = None


def eligible(candidates: Iterable[Candidate], purpose: ListPurpose,
             on_active_lists: set[str]) -> tuple[list[Candidate], Counter[str]]:
    """Who goes on a new list, and why the others do not (counted by reason): no number,
    deleted, opted out of marketing (telemarketing lists only), already on an active
    list (``on_active_lists``: contact ids, or customer ids of customers without a
    contact), or twice in the source."""
    taken = set(on_active_lists)
    kept: list[Candidate] = []
    left_out: Counter[str] = Counter()
    for c in candidates:
        who = c.contact_id or c.customer_id
        if c.deleted:
            left_out["deleted"] += 1
        elif not c.phone:
            left_out["no_phone"] += 1
        elif purpose == "telemarketing" and c.marketing_opt_out:
            left_out["marketing_opt_out"] += 1
        elif who in taken:
            left_out["already_on_a_list"] += 1
        else:
            taken.add(who)
            kept.append(c)
    return kept, left_out


@dataclass(frozen=True)
class EntryStep:
    status: Literal["pending", "callback", "done", "unreached"]
    callback_at: datetime | None


def entry_after(outcome: EntryOutcome, attempts_before: int, callback_at: datetime | None,
                now: datetime, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> EntryStep:
    """An entry after one more attempt: reached (or must not be called) → done; a
    callback the person asked for → due then; not reached → tried again until
    ``max_attempts``, then unreached."""
    if outcome == "callback":
        if callback_at is None or callback_at <= now:
            raise ValidationFailed("a callback needs a time in the future",
                                   code="invalid_callback_time",
                                   extra={"errors": [{"field": "callback_at",
                                                      "message": "required, in the future"}]})
        return EntryStep("callback", callback_at)
    if callback_at is not None:
        raise ValidationFailed("callback_at goes with the outcome callback",
                               code="invalid_callback_time")
    if outcome in FINAL:
        return EntryStep("done", None)
    if attempts_before + 1 >= max_attempts:
        return EntryStep("unreached", None)
    return EntryStep("pending", None)


# -- report --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallFacts:
    agent_id: str | None
    direction: str
    started_at: datetime
    answered: bool
    duration_seconds: int | None


def call_report(calls: Sequence[CallFacts], tz: ZoneInfo,
                callbacks_due: int, callbacks_done: int) -> dict[str, object]:
    """Calls per agent and hour (local time), the inbound answer rate, the average
    handling time of answered calls, and callback completion of call list entries."""
    per_agent_hour: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c in calls:
        hour = c.started_at.astimezone(tz).strftime("%Y-%m-%dT%H:00")
        counts = per_agent_hour[(c.agent_id or "", hour)]
        counts["calls"] += 1
        counts["answered"] += int(c.answered)
    inbound = [c for c in calls if c.direction == "inbound"]
    talked = [c.duration_seconds for c in calls if c.answered and c.duration_seconds is not None]
    asked = callbacks_due + callbacks_done
    return {
        "calls": len(calls),
        "inbound": len(inbound),
        "outbound": len(calls) - len(inbound),
        "answer_rate_percent": round(100 * sum(c.answered for c in inbound) / len(inbound), 1)
        if inbound else None,
        "average_handling_seconds": round(statistics.fmean(talked), 1) if talked else None,
        "callback_completion_percent": round(100 * callbacks_done / asked, 1)
        if asked else None,
        "by_agent_hour": [{"agent_id": agent or None, "hour": hour, "calls": n["calls"],
                           "answered": n["answered"]}
                          for (agent, hour), n in sorted(per_agent_hour.items())],
    }
