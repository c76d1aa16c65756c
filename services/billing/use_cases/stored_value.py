"""Stored value (BIL-09): prepaid accounts, top-ups, spending on invoices as a payment
of method ``stored_value`` in the normal allocation, refunds of unused balance, and
statements for any period."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from crm_platform import money
from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, NotFound, ValidationFailed
from crm_platform.money import ZERO, quantum, rounded
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
from services.billing.use_cases.stored_value_entries import account_out, entry_out, held, post
from services.customer.events import MemberCardChanged


def _name(uow: UnitOfWork, a: StoredValueAccount) -> str | None:
    return queries.customer_names(uow.session, [a.customer_id]).get(a.customer_id)


def _posted(uow: UnitOfWork, account: StoredValueAccount, entry: StoredValueEntry
            ) -> dict[str, Any]:
    uow.commit()
    return {"entry": entry_out(entry, account.currency),
            "account": account_out(account, _name(uow, account))}


CardLookup = Callable[[str], dict[str, Any] | None]


def open_account(uow: UnitOfWork, caller: Caller, data: schemas.StoredValueAccountIn,
                 fetch: Fetch | None = None, cards: CardLookup | None = None
                 ) -> dict[str, Any]:
    """The customer's own account, or with ``card_id`` one of its member cards' (the card
    asked of the customer service as the caller: it must be the customer's, not
    cancelled)."""
    s = uow.session
    customer = queries.visible_customer(s, caller, data.customer_id, fetch)
    card = None
    if data.card_id:
        card = cards(data.card_id) if cards else None
        if card is None:
            raise ValidationFailed("no such member card", code="unknown_member_card",
                                   extra={"card_id": data.card_id})
        if card["customer_id"] != customer.id or card["status"] == "cancelled":
            raise ValidationFailed("the card is not an active card of the customer",
                                   code="card_not_of_customer",
                                   extra={"card_id": data.card_id})
    existing = db.of_customer(s, customer.id, data.currency, data.card_id)
    if existing is not None:
        raise Conflict(f"the {'card' if card else 'customer'} has a {data.currency} "
                       "stored value account", code="stored_value_account_exists",
                       extra={"account_id": existing.id})
    now = utcnow()
    account = StoredValueAccount(id=str(uuid.uuid4()), customer_id=customer.id,
                                 currency=data.currency, balance=ZERO, bonus_balance=ZERO,
                                 card_id=card["id"] if card else None,
                                 card_number=card["number"] if card else None,
                                 card_status=card["status"] if card else None,
                                 card_version=card["version"] if card else 0, version=1,
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
    if query.card_id:
        q = q.where(StoredValueAccount.card_id == query.card_id)
    if query.currency:
        q = q.where(StoredValueAccount.currency == query.currency)
    rows, cursor = keyset_page(s, q, query.limit, query.cursor, _SORTS[query.sort.lstrip("-")],
                               descending=query.sort.startswith("-"))
    names = queries.customer_names(s, (r.customer_id for r in rows))
    return {"items": [account_out(r, names.get(r.customer_id)) for r in rows],
            "next_cursor": cursor}


def top_up(uow: UnitOfWork, caller: Caller, account_id: str, data: schemas.TopUpIn
           ) -> dict[str, Any]:
    """Money paid in, and the bonus of the tier it reaches (held apart)."""
    account = db.account(uow.session, caller, account_id, lock=True)
    rules.check_currency(account.currency, data.currency)
    amount = positive(data.amount, data.currency)
    bonus = rounded(rules.top_up_bonus(amount, bonus_tiers(uow, account.currency)),
                    account.currency)
    entry = post(uow, caller, account, rules.TOP_UP, amount + bonus, bonus=bonus,
                 method=data.method, reference=data.reference)
    return _posted(uow, account, entry)


def spend(uow: UnitOfWork, caller: Caller, account_id: str, data: schemas.SpendIn
          ) -> dict[str, Any]:
    """Pay an invoice of the account's customer from the balance: the account is locked
    first, so a second spend waits and sees what this one left."""
    s = uow.session
    account = db.account(s, caller, account_id, lock=True)
    rules.check_currency(account.currency, data.currency)
    rules.check_card(account.card_status, rules.SPEND)
    amount = positive(data.amount, data.currency)
    # refused before the payment is made
    parts = rules.spend_parts(amount, held(account), quantum(account.currency))
    customer = queries.customer(s, account.customer_id)
    if customer is None:  # the account was opened on the copy: it is there
        raise NotFound("the account's customer is unknown", code="customer_not_found")
    payment = receive(billing_work(uow), caller, customer, amount, account.currency,
                      "stored_value", utcnow(),
                      [schemas.AllocationIn(invoice_id=data.invoice_id, amount=data.amount)],
                      reference=f"stored value {account.id}")
    entry = post(uow, caller, account, rules.SPEND, amount, bonus=parts.bonus,
                 invoice_id=data.invoice_id, payment_id=payment.id)
    return _posted(uow, account, entry)


def refund(uow: UnitOfWork, caller: Caller, account_id: str,
           data: schemas.StoredValueRefundIn) -> dict[str, Any]:
    """Unused principal paid out; the bonus forfeited in the same share."""
    account = db.account(uow.session, caller, account_id, lock=True)
    rules.check_currency(account.currency, data.currency)
    parts = rules.refund_parts(positive(data.amount, data.currency), held(account),
                               quantum(account.currency))
    entry = post(uow, caller, account, rules.REFUND, parts.total, bonus=parts.bonus,
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
    opening, opening_bonus = db.balance_before(s, account.id, start, c)
    entries = db.entries_between(s, account.id, start, end)
    totals = rules.statement(opening, (e.amount for e in entries))
    bonus = rules.statement(opening_bonus, (e.bonus_amount for e in entries))
    principal = rules.statement(opening - opening_bonus,
                                (e.amount - e.bonus_amount for e in entries))

    def part(st: rules.Statement) -> dict[str, str]:
        return {"opening": text(st.opening, c), "credit": text(st.credits, c),
                "debit": text(st.debits, c), "closing": text(st.closing, c)}
    return schemas.StoredValueStatement.model_validate({
        "account_id": account.id, "customer_id": account.customer_id, "currency": c,
        "from": query.from_, "to": query.to, "opening_balance": text(totals.opening, c),
        "total_credit": text(totals.credits, c), "total_debit": text(totals.debits, c),
        "closing_balance": text(totals.closing, c), "principal": part(principal),
        "bonus": part(bonus), "entries": [entry_out(e, c) for e in entries]}
    ).model_dump(mode="json", by_alias=True)


# -- settings: the top-up bonus ----------------------------------------------------------------
SETTINGS = "stored-value"


def bonus_tiers(uow: UnitOfWork, currency: str) -> list[rules.BonusTier]:
    value = queries.setting(uow.session, SETTINGS, {"top_up_bonus": []})
    return [rules.BonusTier(Decimal(t["min_amount"]), Decimal(t["bonus"]))
            for t in value.get("top_up_bonus") or () if t["currency"] == currency]


def get_settings(uow: UnitOfWork) -> dict[str, Any]:
    value = queries.setting(uow.session, SETTINGS, {"top_up_bonus": []})
    out: dict[str, Any] = schemas.StoredValueSettings.model_validate(value).model_dump(
        mode="json")
    return out


def put_settings(uow: UnitOfWork, caller: Caller, data: schemas.StoredValueSettings
                 ) -> dict[str, Any]:
    """The tiers apply to top-ups from then on; bonuses given stay."""
    by_currency: dict[str, list[rules.BonusTier]] = {}
    for t in data.top_up_bonus:
        # the currency's decimals; zero and below are refused by the tiers' rule
        money.parse(t.min_amount, t.currency, field="min_amount", allow_negative=True)
        money.parse(t.bonus, t.currency, field="bonus", allow_negative=True)
        by_currency.setdefault(t.currency, []).append(rules.BonusTier(t.min_amount, t.bonus))
    for tiers in by_currency.values():
        rules.check_bonus_tiers(tiers)
    value = {"top_up_bonus": [
        {"currency": t.currency, "min_amount": text(t.min_amount, t.currency),
         "bonus": text(t.bonus, t.currency)}
        for t in sorted(data.top_up_bonus, key=lambda t: (t.currency, t.min_amount))]}
    queries.put_setting(uow.session, SETTINGS, value)
    uow.commit()
    return get_settings(uow)


# -- a customer's balances: its own account and its cards' ----------------------------------------
def balances(uow: UnitOfWork, caller: Caller, query: schemas.StoredValueBalanceQuery
             ) -> dict[str, Any]:
    """Per currency, the sum of the customer's accounts (its own and its member cards'),
    with each account."""
    s = uow.session
    customer = queries.visible_customer(s, caller, query.customer_id)
    accounts = db.of_customer_all(s, customer.id)
    by_currency: dict[str, list[StoredValueAccount]] = {}
    for a in accounts:
        by_currency.setdefault(a.currency, []).append(a)
    out = []
    for c, group in sorted(by_currency.items()):
        total = sum((rounded(a.balance, c) for a in group), ZERO)
        bonus = sum((rounded(a.bonus_balance, c) for a in group), ZERO)
        out.append({"currency": c, "balance": text(total, c),
                    "principal_balance": text(total - bonus, c),
                    "bonus_balance": text(bonus, c),
                    "accounts": [account_out(a, customer.name) for a in group]})
    return schemas.StoredValueBalances.model_validate(
        {"customer_id": customer.id, "balances": out}).model_dump(mode="json")


def follow_card(uow: UnitOfWork, card: MemberCardChanged) -> None:
    """A member card's status, as the customer service published it, on its accounts."""
    db.follow_card(uow.session, card.id, card.status, card.version)
