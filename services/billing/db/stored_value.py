"""SQL of stored value (BIL-09): accounts in the caller's scope, sums of entries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from crm_platform.auth import Caller
from crm_platform.errors import NotFound
from sqlalchemy import func, select
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


def of_customer(s: Session, customer_id: str, currency: str) -> StoredValueAccount | None:
    found: StoredValueAccount | None = s.scalar(select(StoredValueAccount).where(
        StoredValueAccount.customer_id == customer_id,
        StoredValueAccount.currency == currency))
    return found


def balance_before(s: Session, account_id: str, before: datetime, currency: str) -> Decimal:
    """The sum of the account's entries made before ``before``."""
    return queries.money(s.scalar(select(func.sum(StoredValueEntry.amount)).where(
        StoredValueEntry.account_id == account_id, StoredValueEntry.created_at < before)),
        currency)


def entries_between(s: Session, account_id: str, start: datetime, end: datetime
                    ) -> list[StoredValueEntry]:
    return list(s.scalars(select(StoredValueEntry).where(
        StoredValueEntry.account_id == account_id, StoredValueEntry.created_at >= start,
        StoredValueEntry.created_at < end)
        .order_by(StoredValueEntry.created_at, StoredValueEntry.id)))
