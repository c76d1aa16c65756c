"""The SQL side of :mod:`services.billing.repositories`, over one unit of work's session."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from crm_platform.auth import Caller
from crm_platform.db import SqlSequences
from crm_platform.errors import NotFound
from crm_platform.read_models import Fetch
from crm_platform.uow import SqlWork, UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.billing.db import queries
from services.billing.db.models import (
    Allocation,
    BillingCustomer,
    Installment,
    Invoice,
    NumberSequence,
    Payment,
    PaymentPlan,
    Refund,
    StoredValueAccount,
)
from services.billing.domain.invoices import OPEN_STATUSES
from services.billing.repositories import BillingRepositories, BillingWork


class SqlCustomers:
    def __init__(self, s: Session) -> None:
        self.s = s

    def visible(self, caller: Caller, customer_id: str, fetch: Fetch | None = None
                ) -> BillingCustomer:
        return queries.visible_customer(self.s, caller, customer_id, fetch)

    def get(self, customer_id: str) -> BillingCustomer | None:
        return queries.customer(self.s, customer_id)

    def names(self, ids: Iterable[str | None]) -> dict[str, str]:
        return queries.customer_names(self.s, ids)


class SqlInvoices:
    def __init__(self, s: Session) -> None:
        self.s = s

    def add(self, invoice: Invoice) -> None:
        self.s.add(invoice)
        self.s.flush()

    def visible(self, caller: Caller, invoice_id: str, *, lock: bool = False) -> Invoice:
        query = queries.scoped(select(Invoice).where(Invoice.id == invoice_id),
                               Invoice.customer_id, caller)
        if lock:
            query = query.with_for_update()
        inv: Invoice | None = self.s.scalar(query)
        if inv is None:
            raise NotFound("invoice not found", code="invoice_not_found")
        return inv

    def open_of(self, customer_id: str, currency: str) -> list[Invoice]:
        return list(self.s.scalars(select(Invoice).where(
            Invoice.customer_id == customer_id, Invoice.currency == currency,
            Invoice.status.in_(OPEN_STATUSES)).order_by(Invoice.id).with_for_update()))

    def lock_many(self, ids: Iterable[str]) -> dict[str, Invoice]:
        return {i.id: i for i in self.s.scalars(select(Invoice).where(
            Invoice.id.in_(list(ids))).order_by(Invoice.id).with_for_update())}


class SqlPayments:
    def __init__(self, s: Session) -> None:
        self.s = s

    def add(self, payment: Payment) -> None:
        self.s.add(payment)
        self.s.flush()

    def visible(self, caller: Caller, payment_id: str, *, lock: bool = False) -> Payment:
        query = queries.scoped(select(Payment).where(Payment.id == payment_id),
                               Payment.customer_id, caller)
        if lock:
            query = query.with_for_update()
        p: Payment | None = self.s.scalar(query)
        if p is None:
            raise NotFound("payment not found", code="payment_not_found")
        return p

    def with_credit(self, customer_id: str, currency: str) -> list[Payment]:
        return list(self.s.scalars(select(Payment).where(
            Payment.customer_id == customer_id, Payment.currency == currency,
            Payment.unallocated_amount > 0).order_by(Payment.received_at, Payment.id)
            .with_for_update()))


class SqlAllocations:
    def __init__(self, s: Session) -> None:
        self.s = s

    def add(self, allocation: Allocation) -> None:
        self.s.add(allocation)

    def of_payment(self, payment_id: str) -> list[tuple[Allocation, str, str | None]]:
        return [(a, number, order_id) for a, number, order_id in self.s.execute(
            select(Allocation, Invoice.number, Invoice.order_id).select_from(Allocation)
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(Allocation.payment_id == payment_id).order_by(Allocation.id))]

    def net_by_invoice(self, payment_id: str) -> list[tuple[str, Decimal]]:
        return [(iid, Decimal(str(value or 0))) for iid, value in self.s.execute(
            select(Allocation.invoice_id, func.sum(Allocation.amount))
            .where(Allocation.payment_id == payment_id).group_by(Allocation.invoice_id))]


class SqlRefunds:
    def __init__(self, s: Session) -> None:
        self.s = s

    def add(self, refund: Refund) -> None:
        self.s.add(refund)
        self.s.flush()

    def of_payment(self, payment_id: str) -> list[Refund]:
        return list(self.s.scalars(select(Refund).where(Refund.payment_id == payment_id)
                                   .order_by(Refund.refunded_at)))


class SqlPlans:
    def __init__(self, s: Session) -> None:
        self.s = s

    def get(self, plan_id: str) -> PaymentPlan | None:
        return self.s.get(PaymentPlan, plan_id)

    def installment(self, plan_id: str, number: int) -> Installment | None:
        return self.s.scalar(select(Installment).where(
            Installment.plan_id == plan_id, Installment.number == number).with_for_update())


class SqlRatings:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def refresh(self, customer_id: str, as_of: date | None = None) -> bool:
        # the rating reads the customer's whole payment record in SQL: it stays a query
        from services.billing.use_cases.credit import refresh_rating

        self.uow.flush()
        return refresh_rating(self.uow, customer_id, as_of)


class SqlStoredValue:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def spent_from(self, payment_id: str) -> StoredValueAccount | None:
        from services.billing.use_cases import stored_value_entries

        return stored_value_entries.spent_by(self.uow.session, payment_id)

    def give_back(self, caller: Caller, account: StoredValueAccount, amount: Decimal,
                  payment_id: str, reason: str | None) -> None:
        from services.billing.use_cases import stored_value_entries

        stored_value_entries.give_back(self.uow, caller, account, amount, payment_id, reason)


class SqlBillingRepositories:
    def __init__(self, uow: UnitOfWork) -> None:
        s = uow.session
        self.customers = SqlCustomers(s)
        self.invoices = SqlInvoices(s)
        self.payments = SqlPayments(s)
        self.allocations = SqlAllocations(s)
        self.refunds = SqlRefunds(s)
        self.plans = SqlPlans(s)
        self.ratings = SqlRatings(uow)
        self.stored_value = SqlStoredValue(uow)
        self.sequences = SqlSequences(s, NumberSequence)


def billing_work(uow: UnitOfWork) -> BillingWork:
    repos: BillingRepositories = SqlBillingRepositories(uow)
    return SqlWork(uow, repos)
