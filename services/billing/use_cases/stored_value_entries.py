"""Posting to a stored-value account (BIL-09), shared by its own operations and by the
refund of a stored-value payment (``payments.refund_payment``): one entry, the balance
moved with it under the account's row lock, ``stored_value.changed`` published."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.money import rounded
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db.models import StoredValueAccount, StoredValueEntry
from services.billing.domain import stored_value as rules
from services.billing.use_cases.common import text


def account_out(a: StoredValueAccount, customer_name: str | None) -> dict[str, Any]:
    return schemas.StoredValueAccount.model_validate({
        "id": a.id, "customer_id": a.customer_id, "customer_name": customer_name,
        "currency": a.currency, "balance": text(a.balance, a.currency), "version": a.version,
        "created_at": a.created_at, "updated_at": a.updated_at}).model_dump(mode="json")


def entry_out(e: StoredValueEntry, currency: str) -> dict[str, Any]:
    return schemas.StoredValueEntry.model_validate({
        "id": e.id, "account_id": e.account_id, "kind": e.kind,
        "amount": text(e.amount, currency), "currency": currency,
        "balance_after": text(e.balance_after, currency), "method": e.method,
        "reference": e.reference, "reason": e.reason, "invoice_id": e.invoice_id,
        "payment_id": e.payment_id, "created_by": e.created_by,
        "created_at": e.created_at}).model_dump(mode="json")


def post(uow: UnitOfWork, caller: Caller, account: StoredValueAccount, kind: str,
         amount: Decimal, **fields: Any) -> StoredValueEntry:
    """Append a movement of ``amount`` (positive; its kind gives the sign) to the locked
    ``account``; refused (422 ``insufficient_balance``) below zero."""
    current = rounded(account.balance, account.currency)
    signed, after = rules.movement(kind, current, amount)
    now = utcnow()
    entry = StoredValueEntry(id=str(uuid.uuid4()), account_id=account.id, kind=kind,
                             amount=signed, balance_after=after, created_by=caller.user_id,
                             created_at=now, **fields)
    uow.session.add(entry)
    account.balance = after
    account.version += 1
    account.updated_at = now
    c = account.currency
    uow.publish(events.StoredValueChanged(
        account_id=account.id, customer_id=account.customer_id, entry_id=entry.id,
        kind=kind, amount=text(signed, c), currency=c, balance=text(after, c),
        invoice_id=fields.get("invoice_id"), payment_id=fields.get("payment_id")))
    return entry


def spent_by(s: Session, payment_id: str) -> StoredValueAccount | None:
    """The account a stored-value payment was spent from, locked."""
    account_id = s.scalar(select(StoredValueEntry.account_id).where(
        StoredValueEntry.payment_id == payment_id, StoredValueEntry.kind == rules.SPEND))
    if account_id is None:
        return None
    found: StoredValueAccount | None = s.get(StoredValueAccount, account_id,
                                             with_for_update=True)
    return found
