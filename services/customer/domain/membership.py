"""Membership (CUS-17): tiers, member cards and the points ledger, as rules without I/O.

- a card's points are the sum of its ledger entries; an entry is never changed, a
  mistake is undone by a counter-entry (a reversal) that names the entry it undoes;
- the balance never goes below zero: a redemption or a manual deduction larger than
  the balance is refused (422 ``insufficient_points``); a claw-back arriving by event
  (a refund) cannot be refused, so it takes at most what is left;
- the tier follows the qualifying points (what was earned, less claw-backs and manual
  adjustments; redemptions do not lower a tier): the highest tier whose threshold the
  card reaches;
- points are earned on money paid on invoices: whole points, rounded down, per unit of
  the rule's currency times the tier's multiplier;
- points may expire (off unless configured): with ``years`` N, points posted in calendar
  year Y can be used until 31 December of year Y+N and expire the day after (N = 0: at
  the end of the year they were posted). Spending takes the oldest points first, so what
  expires is what is left of the oldest points; the expiry is itself a ledger entry
  (kind ``expire``, not qualifying: like a redemption it does not lower the tier), and
  since it consumes the points it expires, working it out again expires nothing more;
- campaign bonus rules (积分活动) add to what a payment earns while they run: a rule gives
  its ``multiplier`` on the payment's points (2 = double points: the bonus is the
  extra) and/or ``fixed_points`` once per payment, when the payment was received within
  the rule's dates, reaches its ``min_amount`` and the card's tier / the customer's
  segment is the one it names. Every rule that matches applies, each worked out on the
  payment's own points (rules never compound). The bonus is part of the earn entry and
  shown apart (``bonus_points``); it is clawed back in the same share as the rest;
- the tier may follow a rolling period (``tier_period``: the qualifying points, or the
  money paid, in the last N months) instead of the points of all time; then the tier
  is worked out again whenever the window moves (a timer and an admin run), not only at
  the card's next entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from crm_platform.errors import ValidationFailed
from crm_platform.states import StateMachine

CARD = StateMachine("member card", {
    "freeze": ("active", "frozen"),
    "unfreeze": ("frozen", "active"),
    "cancel": ("active frozen", "cancelled"),
})

# entry kinds; ``qualifying``: whether the entry counts towards the tier
EARN, CLAWBACK, ADJUST, REDEEM, REVERSAL = "earn", "clawback", "adjust", "redeem", "reversal"
EXPIRE = "expire"
QUALIFYING_KINDS = frozenset({EARN, CLAWBACK, ADJUST})


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    threshold: int
    multiplier: Decimal


@dataclass(frozen=True)
class Entry:
    """A ledger entry as the rules see it."""

    points: int
    qualifying: bool


@dataclass(frozen=True)
class Totals:
    balance: int
    qualifying: int


def tier_for(qualifying_points: int, tiers: Iterable[Tier]) -> Tier | None:
    """The highest tier whose threshold the points reach (None below every tier)."""
    reached = [t for t in tiers if qualifying_points >= t.threshold]
    return max(reached, key=lambda t: (t.threshold, t.code)) if reached else None


def check_tiers(tiers: Sequence[Tier]) -> None:
    """Two tiers at one threshold would make the tier depend on their codes."""
    seen: dict[int, str] = {}
    for t in tiers:
        if t.threshold in seen and seen[t.threshold] != t.code:
            raise ValidationFailed(
                f"tiers {seen[t.threshold]} and {t.code} have the same threshold "
                f"({t.threshold})", code="duplicate_tier_threshold",
                extra={"threshold": t.threshold})
        seen[t.threshold] = t.code


def earned_points(amount: Decimal, points_per_unit: Decimal, multiplier: Decimal) -> int:
    """Whole points for ``amount`` paid (rounded down; nothing for a non-positive amount)."""
    if amount <= 0:
        return 0
    return int((amount * points_per_unit * multiplier).to_integral_value(ROUND_FLOOR))


def clawback_points(earned: int, earned_amount: Decimal, taken_back: Decimal,
                    clawed_already: int) -> int:
    """Points a refund of ``taken_back`` takes from a payment that earned ``earned``
    points on ``earned_amount``: the same share, rounded up (a full refund takes all),
    never more than is left to take."""
    if earned <= 0 or earned_amount <= 0 or taken_back <= 0:
        return 0
    share = (Decimal(earned) * min(taken_back, earned_amount) / earned_amount)
    points = int(share.to_integral_value(rounding="ROUND_CEILING"))
    return max(0, min(points, earned - clawed_already))


def totals(entries: Iterable[Entry]) -> Totals:
    """The balance is the ledger's sum; so are the qualifying points."""
    balance = qualifying = 0
    for e in entries:
        balance += e.points
        if e.qualifying:
            qualifying += e.points
    return Totals(balance, qualifying)


def post(current: Totals, entry: Entry) -> Totals:
    """The totals after ``entry``; refused when it would take the balance below zero."""
    balance = current.balance + entry.points
    if balance < 0:
        raise ValidationFailed(
            f"the card has {current.balance} points; {-entry.points} cannot be taken",
            code="insufficient_points",
            extra={"balance": current.balance, "requested": -entry.points})
    return Totals(balance, current.qualifying + (entry.points if entry.qualifying else 0))


def bounded_deduction(balance: int, points: int) -> int:
    """What an event-driven deduction (a claw-back) can take: at most the balance."""
    return max(0, min(points, balance))


def redemption(points: int) -> Entry:
    if points <= 0:
        raise ValidationFailed("points to redeem must be positive", code="invalid_points")
    return Entry(-points, qualifying=False)


def adjustment(points: int) -> Entry:
    if points == 0:
        raise ValidationFailed("an adjustment of zero points changes nothing",
                               code="invalid_points")
    return Entry(points, qualifying=True)


def reversal(kind: str, points: int, qualifying: bool, already_reversed: bool) -> Entry:
    """The counter-entry undoing an entry; a reversal itself, or an entry reversed
    already, cannot be reversed (the ledger would not say what stands)."""
    if kind == REVERSAL:
        raise ValidationFailed("a reversal cannot be reversed: post a new entry",
                               code="entry_not_reversible")
    if already_reversed:
        raise ValidationFailed("this entry was reversed already", code="entry_reversed")
    return Entry(-points, qualifying)


@dataclass(frozen=True)
class Dated:
    """A ledger entry as the expiry rule sees it: its signed points and the (UTC) day it
    was posted."""

    points: int
    on: date


def last_usable_day(posted_on: date, years: int) -> date:
    """The last day points posted on ``posted_on`` can be used: 31 December of the
    ``years``-th calendar year after."""
    return date(posted_on.year + years, 12, 31)


def points_to_expire(entries: Iterable[Dated], years: int, as_of: date) -> int:
    """Points of the ledger due to expire on ``as_of``.

    Every positive entry (an earning, a positive adjustment, the reversal of a spending)
    is a lot of points dated the day it was posted; every negative entry (a redemption,
    a deduction, a claw-back, an expiry) consumes the oldest lots first. Lots are in date
    order and the balance never went below zero, so the negatives' total consumes a prefix
    of the lots; the lots past their last usable day are a prefix too: what is due is what
    the negatives left of them. Expiries posted before are negatives, hence a second run on
    the same day finds nothing due."""
    if years < 0:
        raise ValueError("years must not be negative")
    outdated = consumed = 0
    for e in entries:
        if e.points > 0:
            if last_usable_day(e.on, years) < as_of:
                outdated += e.points
        else:
            consumed -= e.points
    return max(0, outdated - consumed)


def expiry(points: int) -> Entry:
    """The ledger entry expiring ``points`` (not qualifying: the tier stays)."""
    if points <= 0:
        raise ValueError("nothing to expire")
    return Entry(-points, qualifying=False)


# -- campaign bonus rules ------------------------------------------------------------------
MAX_BONUS_MULTIPLIER = Decimal("10")


@dataclass(frozen=True)
class BonusRule:
    """A campaign bonus rule as the earning rule sees it. ``tiers`` empty: every tier;
    ``segment_id`` None: every customer."""

    id: str
    name: str
    starts_on: date
    ends_on: date
    multiplier: Decimal | None = None
    fixed_points: int = 0
    min_amount: Decimal | None = None
    tiers: frozenset[str] = frozenset()
    segment_id: str | None = None
    campaign_id: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Bonus:
    """What a rule adds to a payment's points; ``fixed_points`` the part of it that is
    the rule's once-per-payment points."""

    rule_id: str
    points: int
    fixed_points: int = 0


def check_bonus_rule(starts_on: date, ends_on: date, multiplier: Decimal | None,
                     fixed_points: int) -> None:
    """A rule must run for at least a day and give something."""
    if ends_on < starts_on:
        raise ValidationFailed("the rule ends before it starts", code="invalid_period",
                               extra={"starts_on": starts_on.isoformat(),
                                      "ends_on": ends_on.isoformat()})
    if multiplier is not None and not Decimal("1") < multiplier <= MAX_BONUS_MULTIPLIER:
        raise ValidationFailed(f"a bonus multiplier is above 1 and at most "
                               f"{MAX_BONUS_MULTIPLIER}", code="invalid_bonus_rule")
    if multiplier is None and fixed_points <= 0:
        raise ValidationFailed("a bonus rule gives a multiplier above 1 or fixed points",
                               code="invalid_bonus_rule")


def rule_applies(rule: BonusRule, *, amount: Decimal, paid_on: date, tier_code: str | None,
                 segments: frozenset[str]) -> bool:
    """Whether the rule covers a payment of ``amount`` received on ``paid_on`` by a card in
    ``tier_code`` of a customer in ``segments`` (the rules' segments it belongs to)."""
    return (rule.active and rule.starts_on <= paid_on <= rule.ends_on and amount > 0
            and (rule.min_amount is None or amount >= rule.min_amount)
            and (not rule.tiers or tier_code in rule.tiers)
            and (rule.segment_id is None or rule.segment_id in segments))


def campaign_bonuses(bonus_rules: Iterable[BonusRule], *, amount: Decimal, paid_on: date,
                     points_per_unit: Decimal, tier_multiplier: Decimal,
                     tier_code: str | None, segments: frozenset[str],
                     awarded: frozenset[str] = frozenset()) -> list[Bonus]:
    """The bonus each matching rule adds to a payment's points: a multiplier's bonus is
    the points at the raised rate less the points at the tier's rate (each rule on the
    payment's own points: two rules of 2x give +1x each, not 4x); fixed points come once
    per payment, so a rule in ``awarded`` (its fixed points given on an earlier part of
    the same payment) gives none again."""
    base = earned_points(amount, points_per_unit, tier_multiplier)
    found: list[Bonus] = []
    for rule in sorted(bonus_rules, key=lambda r: r.id):
        if not rule_applies(rule, amount=amount, paid_on=paid_on, tier_code=tier_code,
                            segments=segments):
            continue
        raised = 0 if rule.multiplier is None else earned_points(
            amount, points_per_unit, tier_multiplier * rule.multiplier) - base
        fixed = rule.fixed_points if rule.fixed_points > 0 and rule.id not in awarded else 0
        if raised + fixed > 0:
            found.append(Bonus(rule.id, raised + fixed, fixed))
    return found


# -- tiers over a rolling period -----------------------------------------------------------
POINTS, SPEND = "points", "spend"


@dataclass(frozen=True)
class Counted:
    """A ledger entry as the rolling tier rule sees it: its points, whether they qualify,
    the money it was earned on (positive) or clawed back for (negative), and its day."""

    points: int
    qualifying: bool
    amount: Decimal | None
    on: date


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day when it is
    shorter: 31 May less 3 months is 28 or 29 February)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


def window_start(as_of: date, months: int) -> date:
    """The first day counted on ``as_of``: the day after the same day ``months`` earlier
    (12 months on 6 December 2026: 7 December 2025 to 6 December 2026)."""
    if months < 1:
        raise ValueError("a rolling period is at least a month")
    return months_before(as_of, months) + timedelta(days=1)


def tier_measure(entries: Iterable[Counted], measure: str, months: int | None,
                 as_of: date) -> int:
    """What the tier is set from on ``as_of``: the qualifying points (``points``) or the
    whole units of money paid, less refunds (``spend``), of the entries posted in the
    rolling window; of all entries when ``months`` is None. Never below zero."""
    start = None if months is None else window_start(as_of, months)
    points, spent = 0, Decimal("0")
    for e in entries:
        if (start is not None and e.on < start) or e.on > as_of:
            continue
        if e.qualifying:
            points += e.points
        if e.amount is not None:
            spent += e.amount
    if measure == SPEND:
        return max(0, int(spent.to_integral_value(ROUND_FLOOR)))
    if measure != POINTS:
        raise ValueError(f"unknown tier measure {measure}")
    return max(0, points)
