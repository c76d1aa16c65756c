"""SQL of membership (CUS-17): tiers, cards in the caller's scope, ledger sums."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import NotFound
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.customer.db.models import (
    Customer,
    MemberCard,
    MemberTier,
    PointsBonusRule,
    PointsEntry,
    SegmentRow,
)
from services.customer.db.search import segment_clause, visible
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


def cards_after(s: Session, after_id: str, limit: int) -> list[str]:
    """Ids of cards not cancelled after ``after_id`` (a page of the tier recompute)."""
    return list(s.scalars(select(MemberCard.id).where(MemberCard.status != "cancelled",
                                                      MemberCard.id > after_id)
                          .order_by(MemberCard.id).limit(limit)))


def counted_entries(s: Session, card_id: str, since: date | None) -> list[rules.Counted]:
    """The card's entries as the tier rule sees them, those posted from ``since`` (UTC
    day) on; all of them when None."""
    query = select(PointsEntry.points, PointsEntry.qualifying, PointsEntry.amount,
                   PointsEntry.kind, PointsEntry.created_at
                   ).where(PointsEntry.card_id == card_id)
    if since is not None:
        query = query.where(PointsEntry.created_at >= datetime.combine(since, time(),
                                                                       tzinfo=UTC))
    return [rules.Counted(points, qualifying,
                          None if amount is None or kind not in (rules.EARN, rules.CLAWBACK)
                          else Decimal(str(amount)), at.date())
            for points, qualifying, amount, kind, at in s.execute(query)]


# -- campaign bonus rules ------------------------------------------------------------------
def bonus_rule(s: Session, rule_id: str, *, lock: bool = False) -> PointsBonusRule:
    found = s.get(PointsBonusRule, rule_id, with_for_update=lock)
    if found is None:
        raise NotFound("points bonus rule not found", code="points_bonus_rule_not_found")
    return found


def as_rule(r: PointsBonusRule) -> rules.BonusRule:
    return rules.BonusRule(
        id=r.id, name=r.name, starts_on=r.starts_on, ends_on=r.ends_on,
        multiplier=None if r.multiplier is None else Decimal(str(r.multiplier)),
        fixed_points=r.fixed_points,
        min_amount=None if r.min_amount is None else Decimal(str(r.min_amount)),
        tiers=frozenset(r.tiers or ()), segment_id=r.segment_id, campaign_id=r.campaign_id,
        active=r.active)


def running_bonus_rules(s: Session, on: date) -> list[PointsBonusRule]:
    """Active rules whose dates cover ``on``."""
    return list(s.scalars(select(PointsBonusRule).where(
        PointsBonusRule.active.is_(True), PointsBonusRule.starts_on <= on,
        PointsBonusRule.ends_on >= on).order_by(PointsBonusRule.id)))


def segments_of(s: Session, customer_id: str, segment_ids: Iterable[str]) -> frozenset[str]:
    """Which of the segments the customer is in now (a deleted segment holds nobody)."""
    found: set[str] = set()
    for segment in s.scalars(select(SegmentRow).where(SegmentRow.id.in_(
            sorted(set(segment_ids))))):
        member = s.scalar(select(Customer.id).where(
            Customer.id == customer_id, Customer.status == "active",
            segment_clause(s, segment.conditions)))
        if member is not None:
            found.add(segment.id)
    return frozenset(found)


def fixed_bonus_given(s: Session, payment_id: str) -> frozenset[str]:
    """Rules whose fixed points an earlier part of the payment got already."""
    given: set[str] = set()
    for listed in s.scalars(select(PointsEntry.bonus_rules).where(
            PointsEntry.payment_id == payment_id, PointsEntry.kind == rules.EARN)):
        given.update(b["rule_id"] for b in listed or () if b.get("fixed_points"))
    return frozenset(given)


def bonus_on_payment(s: Session, payment_id: str) -> int:
    """The campaign bonus the payment's earnings included."""
    return int(s.scalar(select(func.sum(PointsEntry.bonus_points)).where(
        PointsEntry.payment_id == payment_id, PointsEntry.kind == rules.EARN)) or 0)
