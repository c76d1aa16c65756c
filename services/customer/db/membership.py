"""SQL of membership (CUS-17): tiers, cards in the caller's scope, ledger sums."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import NotFound
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.customer.db.models import Customer, MemberCard, MemberTier, PointsEntry
from services.customer.db.search import visible
from services.customer.domain import membership as rules


def tiers(s: Session) -> list[rules.Tier]:
    return [rules.Tier(t.code, t.name, t.threshold, t.multiplier)
            for t in s.scalars(select(MemberTier).order_by(MemberTier.threshold))]


def tier(s: Session, tier_id: str, *, lock: bool = False) -> MemberTier:
    found = s.get(MemberTier, tier_id, with_for_update=lock)
    if found is None:
        raise NotFound("member tier not found", code="member_tier_not_found")
    return found


def tier_by_code(s: Session, code: str) -> MemberTier | None:
    found: MemberTier | None = s.scalar(select(MemberTier).where(MemberTier.code == code))
    return found


def visible_cards(caller: Caller) -> Select[Any]:
    """Cards of the customers the caller sees."""
    return visible(select(MemberCard).join(Customer, Customer.id == MemberCard.customer_id),
                   caller)


def customer_names(s: Session, customer_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(customer_ids))
    if not wanted:
        return {}
    return dict(s.execute(select(Customer.id, Customer.name)  # type: ignore[arg-type]
                          .where(Customer.id.in_(wanted))).all())


def card(s: Session, caller: Caller, card_id: str, *, lock: bool = False
         ) -> tuple[MemberCard, str]:
    """The card and its customer's name; out of scope looks like unknown (404)."""
    query = visible_cards(caller).where(MemberCard.id == card_id)
    if lock:
        query = query.with_for_update(of=MemberCard)
    found: MemberCard | None = s.scalar(query)
    if found is None:
        raise NotFound("member card not found", code="member_card_not_found")
    return found, customer_names(s, [found.customer_id]).get(found.customer_id, "")


def card_of_customer(s: Session, customer_id: str, *, lock: bool = False
                     ) -> MemberCard | None:
    query = select(MemberCard).where(MemberCard.customer_id == customer_id)
    if lock:
        query = query.with_for_update()
    found: MemberCard | None = s.scalar(query)
    return found


def entry(s: Session, card_id: str, entry_id: str) -> PointsEntry:
    found = s.get(PointsEntry, entry_id)
    if found is None or found.card_id != card_id:
        raise NotFound("points entry not found", code="points_entry_not_found")
    return found


def is_reversed(s: Session, entry_id: str) -> bool:
    return s.scalar(select(PointsEntry.id).where(PointsEntry.reverses_id == entry_id)) \
        is not None


def earned_on_payment(s: Session, payment_id: str) -> tuple[int, Decimal, int]:
    """(points earned, money they were earned on, points clawed back) for a payment."""
    rows = s.execute(select(PointsEntry.kind, func.sum(PointsEntry.points),
                            func.sum(PointsEntry.amount))
                     .where(PointsEntry.payment_id == payment_id,
                            PointsEntry.kind.in_((rules.EARN, rules.CLAWBACK)))
                     .group_by(PointsEntry.kind)).all()
    sums = {kind: (int(points or 0), Decimal(str(amount or 0))) for kind, points, amount in rows}
    earned, amount = sums.get(rules.EARN, (0, Decimal("0")))
    clawed = -sums.get(rules.CLAWBACK, (0, Decimal("0")))[0]
    return earned, amount, clawed


def ledger_totals(s: Session, card_id: str) -> rules.Totals:
    """The card's totals summed from its ledger (what the card's columns must equal)."""
    return rules.totals(rules.Entry(points, qualifying) for points, qualifying in s.execute(
        select(PointsEntry.points, PointsEntry.qualifying)
        .where(PointsEntry.card_id == card_id)))


def cards_with_points(s: Session, after_id: str, limit: int) -> list[str]:
    """Ids of cards with a positive balance after ``after_id`` (a page of the expiry run)."""
    return list(s.scalars(select(MemberCard.id).where(MemberCard.balance > 0,
                                                      MemberCard.id > after_id)
                          .order_by(MemberCard.id).limit(limit)))


def locked_card(s: Session, card_id: str) -> MemberCard | None:
    found: MemberCard | None = s.get(MemberCard, card_id, with_for_update=True)
    return found


def dated_entries(s: Session, card_id: str) -> list[rules.Dated]:
    """The card's ledger as the expiry rule sees it (the UTC day each entry was posted)."""
    return [rules.Dated(points, at.date()) for points, at in s.execute(
        select(PointsEntry.points, PointsEntry.created_at)
        .where(PointsEntry.card_id == card_id))]
