"""Membership (CUS-17): tiers, member cards, the points ledger; points earned from the
money billing reports paid on invoices (``payment.received`` / ``payment.allocated``) and
clawed back by its refunds (``payment.refunded``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_platform import money
from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, NotFound, ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.states import refused
from crm_platform.uow import UnitOfWork
from sqlalchemy import select

from services.billing.events import (
    AllocationRef,
    PaymentAllocated,
    PaymentReceived,
    PaymentRefunded,
)
from services.customer import events, schemas
from services.customer.db import membership as db
from services.customer.db import queries
from services.customer.db.models import (
    Customer,
    MemberCard,
    MemberTier,
    PointsBonusRule,
    PointsEntry,
    SegmentRow,
)
from services.customer.domain import membership as rules

log = logging.getLogger(__name__)
SETTINGS = "membership"
DEFAULTS: dict[str, Any] = {"currency": "CNY", "points_per_unit": "1"}


# -- shaping -----------------------------------------------------------------------------
def tier_out(t: MemberTier) -> dict[str, Any]:
    return schemas.MemberTier.model_validate({
        "id": t.id, "code": t.code, "name": t.name, "threshold": t.threshold,
        "multiplier": str(t.multiplier), "version": t.version, "created_at": t.created_at,
        "updated_at": t.updated_at}).model_dump(mode="json")


def card_out(c: MemberCard, customer_name: str | None) -> dict[str, Any]:
    return schemas.MemberCard.model_validate({
        "id": c.id, "number": c.number, "customer_id": c.customer_id,
        "customer_name": customer_name, "status": c.status, "tier": c.tier_code,
        "balance": c.balance, "qualifying_points": c.qualifying_points,
        "tier_value": c.tier_value, "allowed_actions": rules.CARD.allowed_actions(c.status),
        "version": c.version,
        "created_at": c.created_at, "updated_at": c.updated_at}).model_dump(mode="json")


def entry_out(e: PointsEntry) -> dict[str, Any]:
    return schemas.PointsEntry.model_validate({
        "id": e.id, "card_id": e.card_id, "customer_id": e.customer_id, "kind": e.kind,
        "points": e.points, "qualifying": e.qualifying, "balance_after": e.balance_after,
        "reason": e.reason, "payment_id": e.payment_id,
        "amount": None if e.amount is None else str(e.amount), "currency": e.currency,
        "reverses_id": e.reverses_id, "bonus_points": e.bonus_points,
        "bonus_rules": e.bonus_rules or [], "created_by": e.created_by,
        "created_at": e.created_at}).model_dump(mode="json")


# -- tiers -------------------------------------------------------------------------------
def _check_tiers(uow: UnitOfWork, changed: rules.Tier) -> None:
    others = [t for t in db.tiers(uow.session) if t.code != changed.code]
    rules.check_tiers([*others, changed])


def create_tier(uow: UnitOfWork, caller: Caller, data: schemas.MemberTierIn) -> dict[str, Any]:
    s = uow.session
    if db.tier_by_code(s, data.code) is not None:
        raise Conflict(f"a tier {data.code} exists", code="member_tier_exists")
    multiplier = Decimal(data.multiplier)
    _check_tiers(uow, rules.Tier(data.code, data.name, data.threshold, multiplier))
    now = utcnow()
    tier = MemberTier(id=str(uuid.uuid4()), code=data.code, name=data.name,
                      threshold=data.threshold, multiplier=multiplier, version=1,
                      created_at=now, updated_at=now)
    s.add(tier)
    uow.commit()
    return tier_out(tier)


def list_tiers(uow: UnitOfWork, caller: Caller, query: schemas.MemberTierQuery
               ) -> dict[str, Any]:
    rows, cursor = keyset_page(uow.session, select(MemberTier), query.limit, query.cursor,
                               (MemberTier.threshold, MemberTier.id),
                               descending=query.sort.startswith("-"))
    return {"items": [tier_out(t) for t in rows], "next_cursor": cursor}


def update_tier(uow: UnitOfWork, caller: Caller, tier_id: str,
                data: schemas.MemberTierUpdate, expected_version: int | None
                ) -> dict[str, Any]:
    """A tier's new threshold applies to each card at its next ledger entry, or to all
    cards at once with the tier recompute (``recompute_tiers``)."""
    tier = db.tier(uow.session, tier_id, lock=True)
    check_version(tier.version, expected_version, "member tier")
    changes = data.model_dump(exclude_unset=True)
    if "multiplier" in changes:
        changes["multiplier"] = Decimal(changes["multiplier"])
    for name, value in changes.items():
        setattr(tier, name, value)
    _check_tiers(uow, rules.Tier(tier.code, tier.name, tier.threshold, tier.multiplier))
    tier.version += 1
    tier.updated_at = utcnow()
    uow.commit()
    return tier_out(tier)


# -- cards -------------------------------------------------------------------------------
def issue_card(uow: UnitOfWork, caller: Caller, data: schemas.MemberCardIn) -> dict[str, Any]:
    s = uow.session
    customer = queries.get_visible(s, caller, data.customer_id, lock=True,
                                   include_archived=False)
    existing = db.card_of_customer(s, customer.id)
    if existing is not None:
        raise Conflict(f"the customer has member card {existing.number}",
                       code="member_card_exists", extra={"card_id": existing.id})
    reached = rules.tier_for(0, db.tiers(s))
    now = utcnow()
    card = MemberCard(
        id=str(uuid.uuid4()), number=f"M{queries.next_sequence(s, 'member-card'):09d}",
        customer_id=customer.id, status="active", tier_code=reached.code if reached else None,
        balance=0, qualifying_points=0, version=1, issued_by=caller.user_id,
        created_at=now, updated_at=now)
    s.add(card)
    s.flush()
    _publish_card(uow, card)
    uow.commit()
    return card_out(card, customer.name)


def _publish_card(uow: UnitOfWork, card: MemberCard) -> None:
    uow.publish(events.MemberCardChanged(
        id=card.id, number=card.number, customer_id=card.customer_id, status=card.status,
        tier=card.tier_code, balance=card.balance, version=card.version))


def get_card(uow: UnitOfWork, caller: Caller, card_id: str) -> dict[str, Any]:
    card, name = db.card(uow.session, caller, card_id)
    return card_out(card, name)


_CARD_SORTS = {"created_at": (MemberCard.created_at, MemberCard.id),
               "number": (MemberCard.number,), "balance": (MemberCard.balance, MemberCard.id)}


def list_cards(uow: UnitOfWork, caller: Caller, query: schemas.MemberCardQuery
               ) -> dict[str, Any]:
    s = uow.session
    q = db.visible_cards(caller)
    if query.customer_id:
        q = q.where(MemberCard.customer_id == query.customer_id)
    if query.status:
        q = q.where(MemberCard.status == query.status)
    if query.tier:
        q = q.where(MemberCard.tier_code == query.tier)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               _CARD_SORTS[query.sort.lstrip("-")],
                               descending=query.sort.startswith("-"))
    names = db.customer_names(s, (r.customer_id for r in rows))
    return {"items": [card_out(r, names.get(r.customer_id)) for r in rows],
            "next_cursor": cursor}


def change_card_status(uow: UnitOfWork, caller: Caller, card_id: str,
                       data: schemas.CardStatusChange, expected_version: int | None
                       ) -> dict[str, Any]:
    card, name = db.card(uow.session, caller, card_id, lock=True)
    check_version(card.version, expected_version, "member card")
    card.status = rules.CARD.next(card.status, data.action)
    card.version += 1
    card.updated_at = utcnow()
    _publish_card(uow, card)
    uow.commit()
    return card_out(card, name)


def move_card(uow: UnitOfWork, merged_id: str, survivor_id: str) -> None:
    """A merged customer's card goes to the survivor with its ledger, unless the survivor
    has a card (then it stays, readable by id; its entries keep the customer they were
    posted for: entries never change)."""
    s = uow.session
    card = db.card_of_customer(s, merged_id, lock=True)
    if card is None or db.card_of_customer(s, survivor_id) is not None:
        return
    card.customer_id = survivor_id
    card.version += 1
    card.updated_at = utcnow()
    _publish_card(uow, card)


# -- the ledger --------------------------------------------------------------------------
def _tier_period(uow: UnitOfWork) -> tuple[str, int | None] | None:
    """(measure, months) of a configured tier period; None: the qualifying points of all
    time (the default)."""
    period = get_settings(uow).get("tier_period")
    if period is None:
        return None
    months = period.get("months")
    return str(period["measure"]), None if months is None else int(months)


def _tier_value(uow: UnitOfWork, card: MemberCard, day: date,
                period: tuple[str, int | None] | None,
                new: rules.Counted | None = None) -> int:
    """What the card's tier is set from on ``day``: under a tier period, the window's
    points or money worked out from the ledger (with ``new``, an entry not yet written);
    otherwise the qualifying points the card holds."""
    if period is None:
        return card.qualifying_points
    measure, months = period
    since = None if months is None else rules.window_start(day, months)
    counted = db.counted_entries(uow.session, card.id, since)
    return rules.tier_measure([*counted, *([new] if new else [])], measure, months, day)


def _publish_tier(uow: UnitOfWork, card: MemberCard, before: str | None,
                  recomputed: bool = False) -> None:
    uow.publish(events.MemberTierChanged(
        card_id=card.id, customer_id=card.customer_id, from_tier=before,
        to_tier=card.tier_code, qualifying_points=card.qualifying_points,
        tier_value=card.tier_value, recomputed=recomputed))


def _post(uow: UnitOfWork, card: MemberCard, kind: str, entry: rules.Entry, *,
          reason: str | None, created_by: str | None, payment_id: str | None = None,
          amount: Decimal | None = None, currency: str | None = None,
          source_event_id: str | None = None, reverses_id: str | None = None,
          bonus_points: int = 0, bonus_rules: list[dict[str, Any]] | None = None
          ) -> PointsEntry:
    """Append ``entry`` to the card's ledger (the card is locked) and move the card's
    totals and tier with it."""
    s = uow.session
    after = rules.post(rules.Totals(card.balance, card.qualifying_points), entry)
    now = utcnow()
    before_tier = card.tier_code
    card.balance, card.qualifying_points = after.balance, after.qualifying
    counted = rules.Counted(entry.points, entry.qualifying,
                            amount if kind in (rules.EARN, rules.CLAWBACK) else None,
                            now.date())
    card.tier_value = _tier_value(uow, card, now.date(), _tier_period(uow), counted)
    reached = rules.tier_for(card.tier_value, db.tiers(s))
    row = PointsEntry(
        id=str(uuid.uuid4()), card_id=card.id, customer_id=card.customer_id, kind=kind,
        points=entry.points, qualifying=entry.qualifying, balance_after=after.balance,
        reason=reason, payment_id=payment_id, amount=amount, currency=currency,
        source_event_id=source_event_id, reverses_id=reverses_id,
        bonus_points=bonus_points, bonus_rules=bonus_rules, created_by=created_by,
        created_at=now)
    s.add(row)
    card.tier_code = reached.code if reached else None
    card.version += 1
    card.updated_at = row.created_at
    uow.publish(events.MemberPointsChanged(
        card_id=card.id, customer_id=card.customer_id, entry_id=row.id, kind=kind,
        points=entry.points, balance=after.balance, qualifying_points=after.qualifying,
        reason=reason, payment_id=payment_id, bonus_points=bonus_points))
    if card.tier_code != before_tier:
        _publish_tier(uow, card, before_tier)
    return row


def _posted(uow: UnitOfWork, row: PointsEntry, card: MemberCard, name: str | None
            ) -> dict[str, Any]:
    uow.commit()
    return {"entry": entry_out(row), "card": card_out(card, name)}


def _usable(card: MemberCard, action: str, states: tuple[str, ...]) -> None:
    if card.status not in states:
        raise refused("member card", card.status, action, states)


def redeem_points(uow: UnitOfWork, caller: Caller, card_id: str, data: schemas.PointsRedeem
                  ) -> dict[str, Any]:
    card, name = db.card(uow.session, caller, card_id, lock=True)
    _usable(card, "redeem", ("active",))
    row = _post(uow, card, rules.REDEEM, rules.redemption(data.points), reason=data.reason,
                created_by=caller.user_id)
    return _posted(uow, row, card, name)


def adjust_points(uow: UnitOfWork, caller: Caller, card_id: str, data: schemas.PointsAdjust
                  ) -> dict[str, Any]:
    card, name = db.card(uow.session, caller, card_id, lock=True)
    _usable(card, "adjust", ("active", "frozen"))
    row = _post(uow, card, rules.ADJUST, rules.adjustment(data.points), reason=data.reason,
                created_by=caller.user_id)
    return _posted(uow, row, card, name)


def reverse_entry(uow: UnitOfWork, caller: Caller, card_id: str, entry_id: str,
                  data: schemas.PointsReverse) -> dict[str, Any]:
    s = uow.session
    card, name = db.card(s, caller, card_id, lock=True)
    _usable(card, "reverse", ("active", "frozen"))
    original = db.entry(s, card.id, entry_id)
    counter = rules.reversal(original.kind, original.points, original.qualifying,
                             db.is_reversed(s, original.id))
    row = _post(uow, card, rules.REVERSAL, counter, reason=data.reason,
                created_by=caller.user_id, payment_id=original.payment_id,
                reverses_id=original.id)
    return _posted(uow, row, card, name)


def list_entries(uow: UnitOfWork, caller: Caller, card_id: str,
                 query: schemas.PointsEntryQuery) -> dict[str, Any]:
    s = uow.session
    card, _ = db.card(s, caller, card_id)
    q = select(PointsEntry).where(PointsEntry.card_id == card.id)
    if query.kind:
        q = q.where(PointsEntry.kind == query.kind)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (PointsEntry.created_at, PointsEntry.id),
                               descending=query.sort.startswith("-"))
    return {"items": [entry_out(r) for r in rows], "next_cursor": cursor}


# -- settings ----------------------------------------------------------------------------
def get_settings(uow: UnitOfWork) -> dict[str, Any]:
    value: dict[str, Any] = schemas.MembershipSettings.model_validate(
        queries.setting(uow.session, SETTINGS, DEFAULTS)).model_dump(mode="json")
    return value


def put_settings(uow: UnitOfWork, caller: Caller, data: schemas.MembershipSettings
                 ) -> dict[str, Any]:
    value: dict[str, Any] = data.model_dump(mode="json")
    queries.put_setting(uow.session, SETTINGS, value)
    uow.commit()
    return value


# -- campaign bonus rules ------------------------------------------------------------------
CampaignLookup = Callable[[str], dict[str, Any]]


def bonus_rule_out(r: PointsBonusRule) -> dict[str, Any]:
    return schemas.PointsBonusRule.model_validate({
        "id": r.id, "name": r.name, "campaign_id": r.campaign_id,
        "campaign_name": r.campaign_name, "starts_on": r.starts_on, "ends_on": r.ends_on,
        "multiplier": None if r.multiplier is None else str(r.multiplier),
        "fixed_points": r.fixed_points,
        "min_amount": None if r.min_amount is None else str(r.min_amount),
        "tiers": r.tiers, "segment_id": r.segment_id, "active": r.active,
        "version": r.version, "created_by": r.created_by, "created_at": r.created_at,
        "updated_at": r.updated_at}).model_dump(mode="json")


def _check_bonus_rule(uow: UnitOfWork, r: PointsBonusRule) -> None:
    rules.check_bonus_rule(r.starts_on, r.ends_on, r.multiplier, r.fixed_points)
    unknown = sorted(set(r.tiers) - {t.code for t in db.tiers(uow.session)})
    if unknown:
        raise ValidationFailed(f"no tier {', '.join(unknown)}", code="unknown_member_tier",
                               extra={"tiers": unknown})
    if r.segment_id and uow.session.get(SegmentRow, r.segment_id) is None:
        raise ValidationFailed("no such segment", code="unknown_segment")


def _campaign(lookup: CampaignLookup | None, campaign_id: str) -> dict[str, Any]:
    """The sales campaign a rule belongs to, asked of the sales service as the caller
    (rules are few and made by hand: no copy of every campaign is kept here)."""
    if lookup is None:  # pragma: no cover - the service always passes one
        raise ValidationFailed("campaigns cannot be looked up", code="unknown_campaign")
    try:
        return lookup(campaign_id)
    except NotFound:
        raise ValidationFailed("no such campaign", code="unknown_campaign",
                               extra={"campaign_id": campaign_id}) from None


def create_bonus_rule(uow: UnitOfWork, caller: Caller, data: schemas.PointsBonusRuleIn,
                      campaigns: CampaignLookup | None = None) -> dict[str, Any]:
    """A rule linked to a campaign runs on the campaign's dates unless it names its own."""
    campaign = _campaign(campaigns, data.campaign_id) if data.campaign_id else {}
    starts_on = data.starts_on or _day(campaign.get("start_date"))
    ends_on = data.ends_on or _day(campaign.get("end_date"))
    if starts_on is None or ends_on is None:
        raise ValidationFailed("a bonus rule needs starts_on and ends_on (or a campaign "
                               "with both dates)", code="bonus_period_required")
    now = utcnow()
    rule = PointsBonusRule(
        id=str(uuid.uuid4()), name=data.name, campaign_id=data.campaign_id,
        campaign_name=campaign.get("name"), starts_on=starts_on, ends_on=ends_on,
        multiplier=None if data.multiplier is None else Decimal(data.multiplier),
        fixed_points=data.fixed_points,
        min_amount=_min_amount(uow, data.min_amount),
        tiers=list(dict.fromkeys(data.tiers)), segment_id=data.segment_id,
        active=data.active, version=1, created_by=caller.user_id, created_at=now,
        updated_at=now)
    _check_bonus_rule(uow, rule)
    uow.session.add(rule)
    uow.commit()
    return bonus_rule_out(rule)


def _min_amount(uow: UnitOfWork, value: Any) -> Decimal | None:
    """A minimum in the earning rule's currency (its decimals, not negative)."""
    return None if value is None else money.parse(
        value, str(get_settings(uow)["currency"]), field="min_amount")


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value)[:10])


def get_bonus_rule(uow: UnitOfWork, caller: Caller, rule_id: str) -> dict[str, Any]:
    return bonus_rule_out(db.bonus_rule(uow.session, rule_id))


def list_bonus_rules(uow: UnitOfWork, caller: Caller, query: schemas.PointsBonusRuleQuery
                     ) -> dict[str, Any]:
    q = select(PointsBonusRule)
    if query.campaign_id:
        q = q.where(PointsBonusRule.campaign_id == query.campaign_id)
    if query.active is not None:
        q = q.where(PointsBonusRule.active.is_(query.active))
    if query.running_on:
        q = q.where(PointsBonusRule.starts_on <= query.running_on,
                    PointsBonusRule.ends_on >= query.running_on)
    rows, cursor = keyset_page(uow.session, q, query.limit, query.cursor,
                               (PointsBonusRule.starts_on, PointsBonusRule.id),
                               descending=query.sort.startswith("-"))
    return {"items": [bonus_rule_out(r) for r in rows], "next_cursor": cursor}


def update_bonus_rule(uow: UnitOfWork, caller: Caller, rule_id: str,
                      data: schemas.PointsBonusRuleUpdate, expected_version: int | None
                      ) -> dict[str, Any]:
    """A change applies to payments earning from then on; points earned stay as posted."""
    rule = db.bonus_rule(uow.session, rule_id, lock=True)
    check_version(rule.version, expected_version, "points bonus rule")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("multiplier") is not None:
        changes["multiplier"] = Decimal(changes["multiplier"])
    if "min_amount" in changes:
        changes["min_amount"] = _min_amount(uow, changes["min_amount"])
    if "tiers" in changes:
        changes["tiers"] = list(dict.fromkeys(changes["tiers"]))
    for name, value in changes.items():
        setattr(rule, name, value)
    _check_bonus_rule(uow, rule)
    rule.version += 1
    rule.updated_at = utcnow()
    uow.commit()
    return bonus_rule_out(rule)


def delete_bonus_rule(uow: UnitOfWork, caller: Caller, rule_id: str,
                      expected_version: int | None = None) -> dict[str, Any]:
    """Entries that a rule gave keep its id and name (they never change)."""
    rule = db.bonus_rule(uow.session, rule_id, lock=True)
    check_version(rule.version, expected_version, "points bonus rule")
    out = bonus_rule_out(rule)
    uow.session.delete(rule)
    uow.commit()
    return out


# -- tiers over a rolling period -------------------------------------------------------------
RECOMPUTE_PAGE = 200
RECOMPUTED = "membership-tier-recompute"


def recompute_tiers(uow: UnitOfWork, as_of: date | None = None) -> dict[str, Any]:
    """Set each card's tier from what counts on ``as_of`` (default today, UTC): under a
    rolling tier period, points or money leave the window as days pass, and a card's tier
    follows without waiting for its next entry. A transaction per card with the card
    locked, and ``member.tier_changed`` only when the tier changes: a second run (or two
    replicas at once) on the same day changes and publishes nothing more."""
    day = as_of or datetime.now(UTC).date()
    period = _tier_period(uow)
    s = uow.session
    tiers = db.tiers(s)
    checked = changed = 0
    after = ""
    while page := db.cards_after(s, after, RECOMPUTE_PAGE):
        uow.commit()  # the page's read ends; each card is its own transaction
        for card_id in page:
            card = db.locked_card(s, card_id)
            if card is not None and card.status != "cancelled":
                checked += 1
                value = _tier_value(uow, card, day, period)
                reached = rules.tier_for(value, tiers)
                code = reached.code if reached else None
                if (value, code) != (card.tier_value, card.tier_code):
                    before = card.tier_code
                    card.tier_value, card.tier_code = value, code
                    card.version += 1
                    card.updated_at = utcnow()
                    if code != before:
                        _publish_tier(uow, card, before, recomputed=True)
                        changed += 1
            uow.commit()
        after = page[-1]
    return schemas.TierRecomputeResult(as_of=day, cards=checked, changed=changed
                                       ).model_dump(mode="json")


def recompute_tiers_daily(uow: UnitOfWork) -> None:
    """The timer's run: once a day, and only when the tier follows a rolling period (the
    window moves; the points of all time move only with entries)."""
    period = _tier_period(uow)
    today = datetime.now(UTC).date()
    if period is None or period[1] is None:
        return
    if queries.setting(uow.session, RECOMPUTED, {}).get("day") == today.isoformat():
        return
    recompute_tiers(uow, today)
    queries.put_setting(uow.session, RECOMPUTED, {"day": today.isoformat()})
    uow.commit()


# -- expiry ------------------------------------------------------------------------------
EXPIRY_PAGE = 200


def expiry_years(uow: UnitOfWork) -> int | None:
    """The expiry rule's years, or None when points do not expire."""
    rule = get_settings(uow).get("points_expiry")
    return None if rule is None else int(rule["years"])


def expire_points(uow: UnitOfWork, as_of: date | None = None) -> dict[str, Any]:
    """Post one ``expire`` entry on each card with points past their last usable day on
    ``as_of`` (default today, UTC), a transaction per card with the card locked: what is
    due is worked out from the ledger under the lock, so a second run (or two replicas'
    timers at once) on the same day expires nothing more. Off unless configured."""
    day = as_of or datetime.now(UTC).date()
    years = expiry_years(uow)
    cards = points = 0
    if years is not None:
        s = uow.session
        after = ""
        while page := db.cards_with_points(s, after, EXPIRY_PAGE):
            uow.commit()  # the page's read ends; each card is its own transaction
            for card_id in page:
                card = db.locked_card(s, card_id)
                due = 0 if card is None else rules.points_to_expire(
                    db.dated_entries(s, card_id), years, day)
                if card is not None and due:
                    _post(uow, card, rules.EXPIRE, rules.expiry(due),
                          reason=f"points expired as of {day.isoformat()}", created_by=None)
                    cards, points = cards + 1, points + due
                uow.commit()
            after = page[-1]
    return schemas.PointsExpiryResult(as_of=day, cards=cards, points=points
                                      ).model_dump(mode="json")


# -- billing events ----------------------------------------------------------------------
def _card_for(uow: UnitOfWork, customer_id: str) -> MemberCard | None:
    """The card of the customer, or of the survivor it was merged into."""
    s = uow.session
    customer = s.get(Customer, customer_id)
    while customer is not None and customer.merged_into_id:
        customer = s.get(Customer, customer.merged_into_id)
    return db.card_of_customer(s, customer.id, lock=True) if customer else None


def _allocated(allocations: list[AllocationRef]) -> Decimal:
    total = Decimal("0")
    for a in allocations:
        try:
            total += Decimal(a.amount)
        except (InvalidOperation, ValueError):
            log.warning("allocation without a decimal amount: %s", a)
    return total


def earn(uow: UnitOfWork, event_id: str, payment: PaymentReceived | PaymentAllocated
         ) -> None:
    """Money paid on invoices earns points on an active card (money kept as a credit
    balance earns when it is allocated)."""
    settings = queries.setting(uow.session, SETTINGS, DEFAULTS)
    if payment.currency != settings["currency"]:
        return
    card = _card_for(uow, payment.customer_id)
    if card is None or card.status != "active":
        return
    s = uow.session
    amount = _allocated(payment.allocations)
    tier = next((t for t in db.tiers(s) if t.code == card.tier_code), None)
    per_unit = Decimal(str(settings["points_per_unit"]))
    multiplier = tier.multiplier if tier else Decimal("1")
    points = rules.earned_points(amount, per_unit, multiplier)
    # the day the money came in (credit applied later: the day it was applied)
    paid_on = (payment.received_at.astimezone(UTC).date()
               if isinstance(payment, PaymentReceived) else datetime.now(UTC).date())
    running = db.running_bonus_rules(s, paid_on)
    bonuses = rules.campaign_bonuses(
        [db.as_rule(r) for r in running], amount=amount, paid_on=paid_on,
        points_per_unit=per_unit, tier_multiplier=multiplier, tier_code=card.tier_code,
        segments=db.segments_of(s, card.customer_id,
                                (r.segment_id for r in running if r.segment_id)),
        awarded=db.fixed_bonus_given(s, payment.payment_id) if running else frozenset())
    names = {r.id: r for r in running}
    bonus = sum(b.points for b in bonuses)
    if points + bonus:
        reason = f"paid {amount} {payment.currency}"
        if bonus:
            reason += f"; campaign bonus {bonus}: " + ", ".join(
                names[b.rule_id].name for b in bonuses)
        _post(uow, card, rules.EARN, rules.Entry(points + bonus, qualifying=True),
              reason=reason[:500], created_by=None, payment_id=payment.payment_id,
              amount=amount, currency=payment.currency, source_event_id=event_id,
              bonus_points=bonus, bonus_rules=[{
                  "rule_id": b.rule_id, "name": names[b.rule_id].name,
                  "campaign_id": names[b.rule_id].campaign_id, "points": b.points,
                  "fixed_points": b.fixed_points} for b in bonuses])


def claw_back(uow: UnitOfWork, event_id: str, refund: PaymentRefunded) -> None:
    """A refund taking money back from invoices takes back the same share of what the
    payment earned (at most the card's balance: the points may be spent)."""
    card = _card_for(uow, refund.customer_id)
    if card is None:
        return
    earned, earned_on, clawed = db.earned_on_payment(uow.session, refund.payment_id)
    taken = _allocated(refund.allocations)
    points = rules.bounded_deduction(
        card.balance, rules.clawback_points(earned, earned_on, taken, clawed))
    if points:
        # the campaign bonus goes back in the share it had of what the payment earned
        bonus = db.bonus_on_payment(uow.session, refund.payment_id)
        bonus_back = min(bonus, points * bonus // earned) if earned else 0
        _post(uow, card, rules.CLAWBACK, rules.Entry(-points, qualifying=True),
              reason=f"refund: {refund.reason}"[:500], created_by=None,
              payment_id=refund.payment_id, amount=-taken, currency=refund.currency,
              source_event_id=event_id, bonus_points=-bonus_back)
