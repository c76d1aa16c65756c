"""Membership (CUS-17): tiers, member cards, the points ledger; points earned from the
money billing reports paid on invoices (``payment.received`` / ``payment.allocated``) and
clawed back by its refunds (``payment.refunded``)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, check_version
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
from services.customer.db.models import Customer, MemberCard, MemberTier, PointsEntry
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
        "allowed_actions": rules.CARD.allowed_actions(c.status), "version": c.version,
        "created_at": c.created_at, "updated_at": c.updated_at}).model_dump(mode="json")


def entry_out(e: PointsEntry) -> dict[str, Any]:
    return schemas.PointsEntry.model_validate({
        "id": e.id, "card_id": e.card_id, "customer_id": e.customer_id, "kind": e.kind,
        "points": e.points, "qualifying": e.qualifying, "balance_after": e.balance_after,
        "reason": e.reason, "payment_id": e.payment_id,
        "amount": None if e.amount is None else str(e.amount), "currency": e.currency,
        "reverses_id": e.reverses_id, "created_by": e.created_by,
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
    """A tier's new threshold applies to each card at its next ledger entry."""
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
def _post(uow: UnitOfWork, card: MemberCard, kind: str, entry: rules.Entry, *,
          reason: str | None, created_by: str | None, payment_id: str | None = None,
          amount: Decimal | None = None, currency: str | None = None,
          source_event_id: str | None = None, reverses_id: str | None = None
          ) -> PointsEntry:
    """Append ``entry`` to the card's ledger (the card is locked) and move the card's
    totals and tier with it."""
    s = uow.session
    after = rules.post(rules.Totals(card.balance, card.qualifying_points), entry)
    reached = rules.tier_for(after.qualifying, db.tiers(s))
    row = PointsEntry(
        id=str(uuid.uuid4()), card_id=card.id, customer_id=card.customer_id, kind=kind,
        points=entry.points, qualifying=entry.qualifying, balance_after=after.balance,
        reason=reason, payment_id=payment_id, amount=amount, currency=currency,
        source_event_id=source_event_id, reverses_id=reverses_id, created_by=created_by,
        created_at=utcnow())
    s.add(row)
    before_tier = card.tier_code
    card.balance, card.qualifying_points = after.balance, after.qualifying
    card.tier_code = reached.code if reached else None
    card.version += 1
    card.updated_at = row.created_at
    uow.publish(events.MemberPointsChanged(
        card_id=card.id, customer_id=card.customer_id, entry_id=row.id, kind=kind,
        points=entry.points, balance=after.balance, qualifying_points=after.qualifying,
        reason=reason, payment_id=payment_id))
    if card.tier_code != before_tier:
        uow.publish(events.MemberTierChanged(
            card_id=card.id, customer_id=card.customer_id, from_tier=before_tier,
            to_tier=card.tier_code, qualifying_points=after.qualifying))
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
    amount = _allocated(payment.allocations)
    tier = next((t for t in db.tiers(uow.session) if t.code == card.tier_code), None)
    points = rules.earned_points(amount, Decimal(str(settings["points_per_unit"])),
                                 tier.multiplier if tier else Decimal("1"))
    if points:
        _post(uow, card, rules.EARN, rules.Entry(points, qualifying=True),
              reason=f"paid {amount} {payment.currency}", created_by=None,
              payment_id=payment.payment_id, amount=amount, currency=payment.currency,
              source_event_id=event_id)


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
        _post(uow, card, rules.CLAWBACK, rules.Entry(-points, qualifying=True),
              reason=f"refund: {refund.reason}"[:500], created_by=None,
              payment_id=refund.payment_id, amount=-taken, currency=refund.currency,
              source_event_id=event_id)
