"""Stored value (BIL-09): prepaid accounts, top-ups, spending on invoices as a payment
of method ``stored_value`` in the normal allocation, refunds of unused balance, and
statements for any period."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, NotFound, ValidationFailed
from crm_platform.money import ZERO, rounded
from crm_platform.pagination import keyset_page
from crm_platform.read_models import Fetch
from crm_platform.uow import UnitOfWork
from sqlalchemy import select

from services.billing import schemas
from services.billing.db import queries
from services.billing.db import stored_value as db
from services.billing.db.models import StoredValueAccount, StoredValueEntry
from services.billing.db.repositories import billing_work
from services.billing.domain import stored_value as rules
from services.billing.use_cases.common import day_end, day_start, positive, text
from services.billing.use_cases.payments import receive
from services.billing.use_cases.stored_value_entries import account_out, entry_out, post


def _name(uow: UnitOfWork, a: StoredValueAccount) -> str | None:
    return queries.customer_names(uow.session, [a.customer_id]).get(a.customer_id)


def _posted(uow: UnitOfWork, account: StoredValueAccount, entry: StoredValueEntry
            ) -> dict[str, Any]:
    uow.commit()
    return {"entry": entry_out(entry, account.currency),
            "account": account_out(account, _name(uow, account))}


def open_account(uow: UnitOfWork, caller: Caller, data: schemas.StoredValueAccountIn,
                 fetch: Fetch | None = None) -> dict[str, Any]:
    s = uow.session
    customer = queries.visible_customer(s, caller, data.customer_id, fetch)
    existing = db.of_customer(s, customer.id, data.currency)
    if existing is not None:
        raise Conflict(f"the customer has a {data.currency} stored value account",
                       code="stored_value_account_exists", extra={"account_id": existing.id})
    now = utcnow()
    account = StoredValueAccount(id=str(uuid.uuid4()), customer_id=customer.id,
                                 currency=data.currency, balance=ZERO, version=1,
                                 created_by=caller.user_id, created_at=now, updated_at=now)
    s.add(account)
    uow.commit()
    return account_out(account, customer.name)


def get_account(uow: UnitOfWork, caller: Caller, account_id: str) -> dict[str, Any]:
    account = db.account(uow.session, caller, account_id)
    return account_out(account, _name(uow, account))


_SORTS = {"created_at": (StoredValueAccount.created_at, StoredValueAccount.id),
          "balance": (StoredValueAccount.balance, StoredValueAccount.id)}


def list_accounts(uow: UnitOfWork, caller: Caller, query: schemas.StoredValueAccountQuery
                  ) -> dict[str, Any]:
    s = uow.session
    q = queries.scoped(select(StoredValueAccount), StoredValueAccount.customer_id, caller)
    if query.customer_id:
        found = queries.customer(s, query.customer_id)
        q = q.where(StoredValueAccount.customer_id == (found.id if found
                                                       else query.customer_id))
    if query.currency:
        q = q.where(StoredValueAccount.currency == query.currency)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor, _SORTS[query.sort.lstrip("-")],
                               descending=query.sort.startswith("-"))
    names = queries.customer_names(s, (r.customer_id for r in rows))
    return {"items": [account_out(r, names.get(r.customer_id)) for r in rows],
            "next_cursor": cursor}


def top_up(uow: UnitOfWork, caller: Caller, account_id: str, data: schemas.TopUpIn
           ) -> dict[str, Any]:
    account = db.account(uow.session, caller, account_id, lock=True)
    rules.check_currency(account.currency, data.currency)
    entry = post(uow, caller, account, rules.TOP_UP, positive(data.amount, data.currency),
                 method=data.method, reference=data.reference)
    return _posted(uow, account, entry)


def spend(uow: UnitOfWork, caller: Caller, account_id: str, data: schemas.SpendIn
          ) -> dict[str, Any]:
    """Pay an invoice of the account's customer from the balance: the account is locked
    first, so a second spend waits and sees what this one left."""
    s = uow.session
    account = db.account(s, caller, account_id, lock=True)
    rules.check_currency(account.currency, data.currency)
    amount = positive(data.amount, data.currency)
    # refused before the payment is made
    rules.movement(rules.SPEND, rounded(account.balance, account.currency), amount)
    customer = queries.customer(s, account.customer_id)
    if customer is None:  # the account was opened on the copy: it is there
        raise NotFound("the account's customer is unknown", code="customer_not_found")
    payment = receive(billing_work(uow), caller, customer, amount, account.currency,
                      "stored_value", utcnow(),
                      [schemas.AllocationIn(invoice_id=data.invoice_id, amount=data.amount)],
                      reference=f"stored value {account.id}")
    entry = post(uow, caller, account, rules.SPEND, amount, invoice_id=data.invoice_id,
                 payment_id=payment.id)
    return _posted(uow, account, entry)


def refund(uow: UnitOfWork, caller: Caller, account_id: str,
           data: schemas.StoredValueRefundIn) -> dict[str, Any]:
    account = db.account(uow.session, caller, account_id, lock=True)
    rules.check_currency(account.currency, data.currency)
    entry = post(uow, caller, account, rules.REFUND, positive(data.amount, data.currency),
                 method=data.method, reason=data.reason)
    return _posted(uow, account, entry)


def list_entries(uow: UnitOfWork, caller: Caller, account_id: str,
                 query: schemas.StoredValueEntryQuery) -> dict[str, Any]:
    s = uow.session
    account = db.account(s, caller, account_id)
    q = select(StoredValueEntry).where(StoredValueEntry.account_id == account.id)
    if query.kind:
        q = q.where(StoredValueEntry.kind == query.kind)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor,
                               (StoredValueEntry.created_at, StoredValueEntry.id),
                               descending=query.sort.startswith("-"))
    return {"items": [entry_out(r, account.currency) for r in rows], "next_cursor": cursor}


def statement(uow: UnitOfWork, caller: Caller, query: schemas.StoredValueStatementQuery
              ) -> dict[str, Any]:
    """Entries from the start of ``from`` to the end of ``to`` (UTC days)."""
    s = uow.session
    account = db.account(s, caller, query.account_id)
    if query.to < query.from_:
        raise ValidationFailed("to is before from", code="invalid_period")
    start, end = day_start(query.from_), day_end(query.to)
    c = account.currency
    opening = db.balance_before(s, account.id, start, c)
    entries = db.entries_between(s, account.id, start, end)
    totals = rules.statement(opening, (e.amount for e in entries))
    return schemas.StoredValueStatement.model_validate({
        "account_id": account.id, "customer_id": account.customer_id, "currency": c,
        "from": query.from_, "to": query.to, "opening_balance": text(totals.opening, c),
        "total_credit": text(totals.credits, c), "total_debit": text(totals.debits, c),
        "closing_balance": text(totals.closing, c),
        "entries": [entry_out(e, c) for e in entries]}).model_dump(mode="json", by_alias=True)


