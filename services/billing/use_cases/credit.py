"""Credit management (BIL-05): limit, hold, rating from payment history, exposure and the
credit check the sales service calls before it confirms an order."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from crm_platform import money
from crm_platform.auth import Caller
from crm_platform.db import insert_ignore, utcnow
from crm_platform.errors import check_version
from crm_platform.read_models import Fetch
from crm_platform.uow import UnitOfWork
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db import queries
from services.billing.db.models import (
    CreditProfile,
    CreditReservation,
    Installment,
    Invoice,
    Payment,
    PaymentPlan,
)
from services.billing.domain import credit as rules
from services.billing.domain.invoices import OPEN_STATUSES
from services.billing.use_cases.common import billing_settings, text, today


def thresholds(s: Session) -> rules.RatingThresholds:
    return rules.RatingThresholds.from_settings(billing_settings(s).get("rating") or {})


# A confirmation's order.confirmed arrives within seconds of its credit check; a check
# whose confirmation failed afterwards stops counting after this long.
RESERVATION_TTL = timedelta(minutes=15)


def exposure_parts(s: Session, customer_id: str, currency: str,
                   exclude_order_id: str | None = None) -> tuple[Decimal, Decimal, Decimal]:
    """(open receivables, confirmed orders not invoiced yet, orders being confirmed whose
    payment plan is not made yet) in ``currency``; the order being checked is left out so
    a re-check does not count it twice."""
    open_q = select(func.sum(Invoice.amount - Invoice.paid_amount)).where(
        Invoice.customer_id == customer_id, Invoice.currency == currency,
        Invoice.status.in_(OPEN_STATUSES))
    pending_q = select(func.sum(Installment.amount)).join(
        PaymentPlan, PaymentPlan.id == Installment.plan_id).where(
        PaymentPlan.customer_id == customer_id, PaymentPlan.currency == currency,
        PaymentPlan.status == "active", Installment.status == "pending")
    confirming_q = select(func.sum(CreditReservation.amount)).outerjoin(
        PaymentPlan, PaymentPlan.order_id == CreditReservation.order_id).where(
        CreditReservation.customer_id == customer_id, CreditReservation.currency == currency,
        CreditReservation.reserved_at > utcnow() - RESERVATION_TTL, PaymentPlan.id.is_(None))
    if exclude_order_id:
        open_q = open_q.where(or_none(Invoice.order_id, exclude_order_id))
        pending_q = pending_q.where(PaymentPlan.order_id != exclude_order_id)
        confirming_q = confirming_q.where(CreditReservation.order_id != exclude_order_id)
    # one statement, so one snapshot even on a read-only session (a statement each): a
    # payment plan committed between two statements would leave the order in neither part
    row = s.execute(select(open_q.scalar_subquery(), pending_q.scalar_subquery(),
                           confirming_q.scalar_subquery())).one()
    return (queries.money(row[0], currency), queries.money(row[1], currency),
            queries.money(row[2], currency))


def or_none(column: Any, value: str) -> Any:
    """``column != value`` that keeps NULLs (SQL's != drops them)."""
    from sqlalchemy import or_

    return or_(column.is_(None), column != value)


def credit_balance(s: Session, customer_id: str, currency: str) -> Decimal:
    return queries.money(s.scalar(select(func.sum(Payment.unallocated_amount)).where(
        Payment.customer_id == customer_id, Payment.currency == currency)), currency)


def _profile_out(s: Session, customer_id: str, name: str | None,
                 profile: CreditProfile | None) -> dict[str, Any]:
    currency = profile.currency if profile else billing_settings(s)["default_currency"]
    receivables, uninvoiced, confirming = exposure_parts(s, customer_id, currency)
    exposure = rules.exposure(receivables, uninvoiced, confirming)
    limit = profile.credit_limit if profile else None
    data = {
        "customer_id": customer_id, "customer_name": name,
        "limit": text(limit, currency) if limit is not None else None,
        "currency": currency, "hold": bool(profile and profile.hold),
        "hold_reason": profile.hold_reason if profile else None,
        "rating": profile.rating if profile else None,
        "on_time_ratio": str(profile.on_time_ratio) if profile and
        profile.on_time_ratio is not None else None,
        "average_days_late": str(profile.average_days_late) if profile and
        profile.average_days_late is not None else None,
        "rated_at": profile.rated_at if profile else None,
        "open_receivables": text(receivables, currency),
        "uninvoiced_orders": text(uninvoiced, currency),
        "confirming_orders": text(confirming, currency),
        "computing": confirming > 0,
        "exposure": text(exposure, currency),
        "available": text(limit - exposure, currency) if limit is not None else None,
        "credit_balance": text(credit_balance(s, customer_id, currency), currency),
        "version": profile.version if profile else 0,
        "updated_at": profile.updated_at if profile else None,
    }
    return schemas.CreditProfile.model_validate(data).model_dump(mode="json")


def get_credit(uow: UnitOfWork, caller: Caller, customer_id: str,
               fetch: Fetch | None = None) -> dict[str, Any]:
    s = uow.session
    customer = queries.visible_customer(s, caller, customer_id, fetch)
    uow.commit()  # keeps a copy fetched just now
    return _profile_out(s, customer.id, customer.name, s.get(CreditProfile, customer.id))


def _profile(s: Session, customer_id: str, currency: str | None = None) -> CreditProfile:
    profile = s.get(CreditProfile, customer_id, with_for_update=True)
    if profile is None:
        insert_ignore(s, CreditProfile.__table__, {  # type: ignore[arg-type]
            "customer_id": customer_id, "hold": False, "version": 1,
            "currency": currency or billing_settings(s)["default_currency"],
            "updated_at": utcnow()})
        profile = s.get(CreditProfile, customer_id, with_for_update=True,
                        populate_existing=True)
    assert profile is not None
    return profile


def put_credit(uow: UnitOfWork, caller: Caller, customer_id: str,
               data: schemas.CreditUpdate, expected_version: int | None,
               fetch: Fetch | None = None) -> dict[str, Any]:
    s = uow.session
    customer = queries.visible_customer(s, caller, customer_id, fetch)
    existed = s.get(CreditProfile, customer.id) is not None
    profile = _profile(s, customer.id, data.currency)
    check_version(profile.version if existed else 0, expected_version, "credit profile")
    profile.currency = data.currency
    profile.credit_limit = None if data.limit is None else money.parse(
        data.limit, data.currency, field="limit")
    if data.hold is not None:
        profile.hold = data.hold
        profile.hold_reason = data.hold_reason if data.hold else None
    if existed:
        profile.version += 1
    profile.updated_by = caller.user_id
    profile.updated_at = utcnow()
    uow.publish(events.CreditUpdated(
        customer_id=customer.id, currency=profile.currency, hold=profile.hold,
        limit=text(profile.credit_limit, profile.currency)
        if profile.credit_limit is not None else None, version=profile.version))
    uow.commit()
    return _profile_out(s, customer.id, customer.name, profile)


def check_credit(uow: UnitOfWork, customer_id: str, amount: str, currency: str,
                 order_id: str | None = None, *, confirming: bool = False,
                 override: bool = False) -> dict[str, Any]:
    """The credit check before an order is confirmed. No limit: allowed. A refusal
    publishes ``credit.limit_exceeded`` (so it commits). ``confirming``: the sales
    service checks as it confirms ``order_id`` (with a manager's ``override`` it confirms
    whatever the answer): an order that will be confirmed reserves its amount until its
    payment plan is made."""
    s = uow.session
    value = money.parse(amount, currency)
    customer = queries.customer(s, customer_id)
    cid = customer.id if customer else customer_id
    # confirmations of one customer's orders are checked one at a time: each sees the
    # room the one before it reserved
    profile = s.get(CreditProfile, cid, with_for_update=confirming)
    limit_currency = profile.currency if profile else currency
    receivables, uninvoiced, confirming_now = exposure_parts(s, cid, limit_currency,
                                                             order_id)
    exposure = rules.exposure(receivables, uninvoiced, confirming_now)
    limit = profile.credit_limit if profile else None
    decision = rules.check(limit, limit_currency, bool(profile and profile.hold), exposure,
                           value, currency)
    result = {
        "allowed": decision.allowed, "reason": decision.reason,
        "limit": text(limit, limit_currency) if limit is not None else None,
        "exposure": text(exposure, limit_currency),
        "available": text(decision.available, limit_currency)
        if decision.available is not None else None,
        "rating": profile.rating if profile else None, "currency": limit_currency,
        "detail": decision.detail,
    }
    if not decision.allowed:
        uow.publish(events.CreditLimitExceeded(
            customer_id=cid, owner_id=customer.owner_id if customer else None,
            order_id=order_id, amount=text(value, currency), currency=currency,
            limit=result["limit"], exposure=result["exposure"],
            available=result["available"], reason=decision.reason))
    if confirming and order_id and (decision.allowed or override):
        _reserve(s, order_id, cid, value, currency)
    if not decision.allowed or (confirming and order_id):
        uow.commit()
    return schemas.CreditCheckResult.model_validate(result).model_dump(mode="json")


def _reserve(s: Session, order_id: str, customer_id: str, amount: Decimal,
             currency: str) -> None:
    now = utcnow()
    s.execute(delete(CreditReservation).where(
        CreditReservation.reserved_at <= now - RESERVATION_TTL))
    row = s.get(CreditReservation, order_id, with_for_update=True)
    if row is None:
        insert_ignore(s, CreditReservation.__table__, {  # type: ignore[arg-type]
            "order_id": order_id, "customer_id": customer_id, "amount": amount,
            "currency": currency, "reserved_at": now})
        return
    row.customer_id, row.amount, row.currency, row.reserved_at = (customer_id, amount,
                                                                 currency, now)


def release_reservation(uow: UnitOfWork, order_id: str) -> None:
    """The order's plan is made (or the order cancelled): its reservation has served."""
    uow.session.execute(delete(CreditReservation).where(
        CreditReservation.order_id == order_id))


def check_customer_credit(uow: UnitOfWork, caller: Caller, customer_id: str,
                          data: schemas.CreditCheckRequest, fetch: Fetch | None = None
                          ) -> dict[str, Any]:
    customer = queries.visible_customer(uow.session, caller, customer_id, fetch)
    return check_credit(uow, customer.id, data.amount, data.currency, data.order_id)


def refresh_rating(uow: UnitOfWork, customer_id: str, as_of: date | None = None) -> bool:
    """Re-rate a customer from their invoices; publish ``credit.rating_changed`` when the
    grade moves. Called when an invoice is paid, reopened or goes overdue."""
    s = uow.session
    rows = s.execute(select(Invoice.due_date, Invoice.status, Invoice.paid_at).where(
        Invoice.customer_id == customer_id, Invoice.status != "void")).all()
    records = [rules.PaymentRecord(due, paid_at.date() if status == "paid" and paid_at
                                   else None) for due, status, paid_at in rows]
    result = rules.rate(records, as_of or today(), thresholds(s))
    profile = _profile(s, customer_id)
    previous = profile.rating
    profile.on_time_ratio = result.on_time_ratio
    profile.average_days_late = result.average_days_late
    profile.rated_at = utcnow()
    if previous == result.rating:
        return False
    profile.rating = result.rating
    uow.publish(events.CreditRatingChanged(
        customer_id=customer_id, previous_rating=previous, rating=result.rating,
        on_time_ratio=None if result.on_time_ratio is None else str(result.on_time_ratio),
        average_days_late=None if result.average_days_late is None
        else str(result.average_days_late)))
    return True


def rerate_all(uow: UnitOfWork, as_of: date, customer_id: str | None = None) -> int:
    """The rating moves as unpaid invoices age: re-rate customers with overdue money."""
    s = uow.session
    query = select(Invoice.customer_id).where(Invoice.status == "overdue").distinct()
    if customer_id:
        query = query.where(Invoice.customer_id == customer_id)
    changed = sum(refresh_rating(uow, cid, as_of) for cid in list(s.scalars(query)))
    uow.commit()
    return changed
