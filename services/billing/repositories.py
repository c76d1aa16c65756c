"""What billing's write use cases need of storage, as small protocols.

The SQL implementations are in :mod:`services.billing.db.repositories`; unit tests use
in-memory ones built on :mod:`crm_platform.fakes`
(tests/unit/test_billing_use_cases.py). Rows are the models of
:mod:`services.billing.db.models` (in memory they are simply never flushed). "Lock"
means SELECT … FOR UPDATE in SQL, in a fixed order so two payments of one customer
cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Protocol

from crm_platform.auth import Caller
from crm_platform.read_models import Fetch
from crm_platform.uow import Work

from services.billing.db.models import (
    Allocation,
    BillingCustomer,
    Installment,
    Invoice,
    Payment,
    PaymentPlan,
    Refund,
    StoredValueAccount,
)


class Customers(Protocol):
    def visible(self, caller: Caller, customer_id: str, fetch: Fetch | None = None
                ) -> BillingCustomer:
        """The customer if within the caller's scope; 404 ``customer_not_found``."""

    def get(self, customer_id: str) -> BillingCustomer | None:
        """The local copy, following merges to the survivor."""

    def names(self, ids: Iterable[str | None]) -> dict[str, str]: ...


class Invoices(Protocol):
    def add(self, invoice: Invoice) -> None: ...

    def visible(self, caller: Caller, invoice_id: str, *, lock: bool = False) -> Invoice:
        """The invoice if its customer is within scope; 404 ``invoice_not_found``."""

    def open_of(self, customer_id: str, currency: str) -> list[Invoice]:
        """The customer's open invoices in the currency, locked, by id."""

    def lock_many(self, ids: Iterable[str]) -> dict[str, Invoice]: ...


class Payments(Protocol):
    def add(self, payment: Payment) -> None: ...

    def visible(self, caller: Caller, payment_id: str, *, lock: bool = False) -> Payment:
        """The payment if its customer is within scope; 404 ``payment_not_found``."""

    def with_credit(self, customer_id: str, currency: str) -> list[Payment]:
        """The customer's payments with money left to allocate, locked, oldest first."""


class Allocations(Protocol):
    def add(self, allocation: Allocation) -> None: ...

    def of_payment(self, payment_id: str) -> list[tuple[Allocation, str, str | None]]:
        """A payment's allocations with the invoice's number and order, in order made."""

    def net_by_invoice(self, payment_id: str) -> list[tuple[str, Decimal]]:
        """What a payment has on each invoice, after refunds taken back."""


class Refunds(Protocol):
    def add(self, refund: Refund) -> None: ...

    def of_payment(self, payment_id: str) -> list[Refund]: ...


class Plans(Protocol):
    def get(self, plan_id: str) -> PaymentPlan | None: ...

    def installment(self, plan_id: str, number: int) -> Installment | None:
        """The installment, locked."""


class Ratings(Protocol):
    def refresh(self, customer_id: str, as_of: date | None = None) -> bool:
        """Re-rate the customer from their payment record (``credit.rating_changed`` if
        the rating moves); True if it did."""


class Sequences(Protocol):
    def next(self, name: str) -> int: ...


class StoredValue(Protocol):
    """Stored value (BIL-09) as a refund of a stored-value payment sees it."""

    def spent_from(self, payment_id: str) -> StoredValueAccount | None:
        """The account a stored-value payment was spent from, locked."""

    def give_back(self, caller: Caller, account: StoredValueAccount, amount: Decimal,
                  payment_id: str, reason: str | None) -> None:
        """Credit a refund of the payment back to its account."""


class BillingRepositories(Protocol):
    @property
    def customers(self) -> Customers: ...
    @property
    def invoices(self) -> Invoices: ...
    @property
    def payments(self) -> Payments: ...
    @property
    def allocations(self) -> Allocations: ...
    @property
    def refunds(self) -> Refunds: ...
    @property
    def plans(self) -> Plans: ...
    @property
    def ratings(self) -> Ratings: ...
    @property
    def stored_value(self) -> StoredValue: ...
    @property
    def sequences(self) -> Sequences: ...


BillingWork = Work[BillingRepositories]
