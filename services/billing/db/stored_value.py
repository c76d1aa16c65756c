"""SQL of stored value (BIL-09): accounts in the caller's scope, sums of entries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from crm_platform.auth import Caller
from crm_platform.errors import NotFound
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.billing.db import queries
from services.billing.db.models import StoredValueAccount, StoredValueEntry


def account(s: Session, caller: Caller, account_id: str, *, lock: bool = False
            ) -> StoredValueAccount:
    """Out of scope looks like unknown (404)."""
    query = queries.scoped(select(StoredValueAccount).where(StoredValueAccount.id == account_id),
                           StoredValueAccount.customer_id, caller)
    if lock:
        query = query.with_for_update()
    found: StoredValueAccount | None = s.scalar(query)
    if found is None:
        raise NotFound("stored value account not found",
                       code="stored_value_account_not_found")
    return found


def of_customer(s: Session, customer_id: str, currency: str, card_id: str | None = None
                ) -> StoredValueAccount | None:
    """The customer's own account in ``currency``; with ``card_id``, that card's."""
    query = select(StoredValueAccount).where(StoredValueAccount.currency == currency)
    query = query.where(StoredValueAccount.card_id == card_id) if card_id else query.where(
        StoredValueAccount.customer_id == customer_id, StoredValueAccount.card_id.is_(None))
    found: StoredValueAccount | None = s.scalar(query)
    return found


def of_customer_all(s: Session, customer_id: str) -> list[StoredValueAccount]:
    """The customer's accounts: its own first, then its cards' by number."""
    return list(s.scalars(select(StoredValueAccount).where(
        StoredValueAccount.customer_id == customer_id).order_by(
        StoredValueAccount.currency, StoredValueAccount.card_id.is_not(None),
        StoredValueAccount.card_number)))


def balance_before(s: Session, account_id: str, before: datetime, currency: str
                   ) -> tuple[Decimal, Decimal]:
    """The sum of the account's entries made before ``before``, and of their bonus
    parts."""
    total, bonus = s.execute(select(func.sum(StoredValueEntry.amount),
                                    func.sum(StoredValueEntry.bonus_amount)).where(
        StoredValueEntry.account_id == account_id, StoredValueEntry.created_at < before)).one()
    return queries.money(total, currency), queries.money(bonus, currency)


def entries_between(s: Session, account_id: str, start: datetime, end: datetime
                    ) -> list[StoredValueEntry]:
    return list(s.scalars(select(StoredValueEntry).where(
        StoredValueEntry.account_id == account_id, StoredValueEntry.created_at >= start,
        StoredValueEntry.created_at < end)
        .order_by(StoredValueEntry.created_at, StoredValueEntry.id)))


def follow_card(s: Session, card_id: str, status: str, version: int) -> int:
    """The card's accounts take its status, unless they hold a newer one already."""
    result = s.execute(update(StoredValueAccount)
                       .where(StoredValueAccount.card_id == card_id,
                              StoredValueAccount.card_version < version)
                       .values(card_status=status, card_version=version))
    return int(result.rowcount)  # type: ignore[attr-defined]
