"""Posting to a stored-value account (BIL-09), shared by its own operations and by the
refund of a stored-value payment (``payments.refund_payment``): one entry, the balance
moved with it under the account's row lock, ``stored_value.changed`` published."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.money import ZERO, quantum, rounded
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.billing import events, schemas
from services.billing.db.models import StoredValueAccount, StoredValueEntry
from services.billing.domain import stored_value as rules
from services.billing.use_cases.common import text


def account_out(a: StoredValueAccount, customer_name: str | None) -> dict[str, Any]:
    c = a.currency
    return schemas.StoredValueAccount.model_validate({
        "id": a.id, "customer_id": a.customer_id, "customer_name": customer_name,
        "card_id": a.card_id, "card_number": a.card_number, "card_status": a.card_status,
        "currency": c,
        "balance": text(a.balance, c), "principal_balance": text(a.balance - a.bonus_balance, c),
        "bonus_balance": text(a.bonus_balance, c), "version": a.version,
        "created_at": a.created_at, "updated_at": a.updated_at}).model_dump(mode="json")


def entry_out(e: StoredValueEntry, currency: str) -> dict[str, Any]:
    return schemas.StoredValueEntry.model_validate({
        "id": e.id, "account_id": e.account_id, "kind": e.kind,
        "amount": text(e.amount, currency),
        "principal_amount": text(e.amount - e.bonus_amount, currency),
        "bonus_amount": text(e.bonus_amount, currency), "currency": currency,
        "balance_after": text(e.balance_after, currency),
        "principal_after": text(e.balance_after - e.bonus_after, currency),
        "bonus_after": text(e.bonus_after, currency), "method": e.method,
        "reference": e.reference, "reason": e.reason, "invoice_id": e.invoice_id,
        "payment_id": e.payment_id, "created_by": e.created_by,
        "created_at": e.created_at}).model_dump(mode="json")


def held(account: StoredValueAccount) -> rules.Parts:
    """What the account holds, as principal and bonus."""
    c = account.currency
    total, bonus = rounded(account.balance, c), rounded(account.bonus_balance, c)
    return rules.Parts(total - bonus, bonus)


def post(uow: UnitOfWork, caller: Caller, account: StoredValueAccount, kind: str,
         amount: Decimal, *, bonus: Decimal = ZERO, **fields: Any) -> StoredValueEntry:
    """Append a movement of ``amount`` (positive; its kind gives the sign), ``bonus`` of
    it the bonus part, to the locked ``account``; refused (422 ``insufficient_balance``)
    when the balance, or either part of it, would go below zero, or (409
    ``invalid_transition``) when the account's frozen or cancelled card does not allow
    it."""
    rules.check_card(account.card_status, kind)
    c = account.currency
    before = held(account)
    signed, after = rules.movement(kind, before.total, amount)
    sign = rules.SIGNS[kind]
    parts = rules.apply(before, rules.Parts(sign * (amount - bonus), sign * bonus))
    now = utcnow()
    entry = StoredValueEntry(id=str(uuid.uuid4()), account_id=account.id, kind=kind,
                             amount=signed, balance_after=after, bonus_amount=sign * bonus,
                             bonus_after=parts.bonus, created_by=caller.user_id,
                             created_at=now, **fields)
    uow.session.add(entry)
    account.balance, account.bonus_balance = after, parts.bonus
    account.version += 1
    account.updated_at = now
    uow.publish(events.StoredValueChanged(
        account_id=account.id, customer_id=account.customer_id, entry_id=entry.id,
        kind=kind, amount=text(signed, c), currency=c, balance=text(after, c),
        bonus_amount=text(sign * bonus, c), bonus_balance=text(parts.bonus, c),
        card_id=account.card_id, invoice_id=fields.get("invoice_id"),
        payment_id=fields.get("payment_id")))
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


def give_back(uow: UnitOfWork, caller: Caller, account: StoredValueAccount, amount: Decimal,
              payment_id: str, reason: str | None) -> StoredValueEntry:
    """A refund of a stored-value payment puts back its spend's principal and bonus in
    the spend's proportion (the account is locked)."""
    s = uow.session
    c = account.currency
    spend = s.scalar(select(StoredValueEntry).where(
        StoredValueEntry.payment_id == payment_id, StoredValueEntry.kind == rules.SPEND))
    returned = s.scalar(select(func.sum(StoredValueEntry.amount)).where(
        StoredValueEntry.payment_id == payment_id,
        StoredValueEntry.kind == rules.PAYMENT_REFUND))
    spent = rules.Parts(ZERO, ZERO) if spend is None else rules.Parts(
        rounded(-(spend.amount - spend.bonus_amount), c), rounded(-spend.bonus_amount, c))
    parts = rules.returned_parts(amount, rounded(Decimal(str(returned or 0)), c), spent,
                                 quantum(c))
    return post(uow, caller, account, rules.PAYMENT_REFUND, amount, bonus=parts.bonus,
                payment_id=payment_id, reason=reason)
