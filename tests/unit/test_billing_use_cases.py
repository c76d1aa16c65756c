"""Billing's write use cases (invoices, payments, allocation, refunds) against in-memory
repositories: no database, no broker. What they check is what the use case decides —
the rows it leaves, the events it publishes, the errors it refuses with."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from crm_platform.auth import Caller
from crm_platform.errors import Conflict, NotFound, StaleVersion, StateViolation, ValidationFailed
from crm_platform.fakes import InMemoryUnitOfWork, Sequences, Table
from crm_platform.read_models import Fetch

from services.billing import schemas
from services.billing.db.models import (
    Allocation,
    BillingCustomer,
    Installment,
    Invoice,
    Payment,
    PaymentPlan,
    Refund,
)
from services.billing.domain.invoices import OPEN_STATUSES
from services.billing.use_cases import invoices, payments

OWNER = "rep-1"
REP = Caller(user_id=OWNER, roles=["sales_rep"], scope="own")
OTHER_REP = Caller(user_id="rep-2", roles=["sales_rep"], scope="own")


# -- in-memory repositories (the protocols of services/billing/repositories.py) -----------
class Customers:
    def __init__(self) -> None:
        self.table: Table[BillingCustomer] = Table()

    def visible(self, caller: Caller, customer_id: str, fetch: Fetch | None = None
                ) -> BillingCustomer:
        found = self.get(customer_id)
        if found is None or not caller.can_see_owner(found.owner_id):
            raise NotFound("customer not found", code="customer_not_found")
        return found

    def get(self, customer_id: str) -> BillingCustomer | None:
        found = self.table.get(customer_id)
        while found is not None and found.merged_into_id:
            found = self.table.get(found.merged_into_id)
        return found

    def names(self, ids: Iterable[str | None]) -> dict[str, str]:
        return {c.id: c.name for c in self.table if c.id in set(ids)}


class Invoices:
    def __init__(self, customers: Customers) -> None:
        self.table: Table[Invoice] = Table()
        self.customers = customers

    def add(self, invoice: Invoice) -> None:
        self.table.add(invoice)

    def visible(self, caller: Caller, invoice_id: str, *, lock: bool = False) -> Invoice:
        inv = self.table.get(invoice_id)
        customer = self.customers.get(inv.customer_id) if inv else None
        if inv is None or customer is None or not caller.can_see_owner(customer.owner_id):
            raise NotFound("invoice not found", code="invoice_not_found")
        return inv

    def open_of(self, customer_id: str, currency: str) -> list[Invoice]:
        return self.table.where(lambda i: i.status in OPEN_STATUSES,
                                customer_id=customer_id, currency=currency)

    def lock_many(self, ids: Iterable[str]) -> dict[str, Invoice]:
        return {i: self.table.rows[i] for i in sorted(ids)}


class Payments:
    def __init__(self, customers: Customers) -> None:
        self.table: Table[Payment] = Table()
        self.customers = customers

    def add(self, payment: Payment) -> None:
        self.table.add(payment)

    def visible(self, caller: Caller, payment_id: str, *, lock: bool = False) -> Payment:
        p = self.table.get(payment_id)
        customer = self.customers.get(p.customer_id) if p else None
        if p is None or customer is None or not caller.can_see_owner(customer.owner_id):
            raise NotFound("payment not found", code="payment_not_found")
        return p

    def with_credit(self, customer_id: str, currency: str) -> list[Payment]:
        found = self.table.where(lambda p: p.unallocated_amount > 0,
                                 customer_id=customer_id, currency=currency)
        return sorted(found, key=lambda p: (p.received_at, p.id))


class Allocations:
    def __init__(self, invoices: Invoices) -> None:
        self.table: Table[Allocation] = Table()
        self.invoices = invoices

    def add(self, allocation: Allocation) -> None:
        self.table.add(allocation)

    def of_payment(self, payment_id: str) -> list[tuple[Allocation, str, str | None]]:
        rows = sorted(self.table.where(payment_id=payment_id), key=lambda a: a.id)
        return [(a, self.invoices.table.rows[a.invoice_id].number,
                 self.invoices.table.rows[a.invoice_id].order_id) for a in rows]

    def net_by_invoice(self, payment_id: str) -> list[tuple[str, Decimal]]:
        net: dict[str, Decimal] = {}
        for a in self.table.where(payment_id=payment_id):
            net[a.invoice_id] = net.get(a.invoice_id, Decimal(0)) + a.amount
        return sorted(net.items())


class Refunds:
    def __init__(self) -> None:
        self.table: Table[Refund] = Table()

    def add(self, refund: Refund) -> None:
        self.table.add(refund)

    def of_payment(self, payment_id: str) -> list[Refund]:
        return sorted(self.table.where(payment_id=payment_id), key=lambda r: r.refunded_at)


class Plans:
    def __init__(self) -> None:
        self.table: Table[PaymentPlan] = Table()
        self.installments: Table[Installment] = Table()

    def get(self, plan_id: str) -> PaymentPlan | None:
        return self.table.get(plan_id)

    def installment(self, plan_id: str, number: int) -> Installment | None:
        return self.installments.first(plan_id=plan_id, number=number)


class Ratings:
    """Re-rating reads the payment record in SQL; here it notes who was re-rated."""

    def __init__(self) -> None:
        self.refreshed: list[str] = []

    def refresh(self, customer_id: str, as_of: date | None = None) -> bool:
        self.refreshed.append(customer_id)
        return False


class BillingRepos:
    def __init__(self) -> None:
        self.customers = Customers()
        self.invoices = Invoices(self.customers)
        self.payments = Payments(self.customers)
        self.allocations = Allocations(self.invoices)
        self.refunds = Refunds()
        self.plans = Plans()
        self.ratings = Ratings()
        self.sequences = Sequences()


Work = InMemoryUnitOfWork[BillingRepos]


@pytest.fixture
def work() -> Work:
    repos = BillingRepos()
    repos.customers.table.add(BillingCustomer(id="cust-1", name="Acme", owner_id=OWNER,
                                              status="active", merged_into_id=None))
    return InMemoryUnitOfWork(repos, service="billing", actor=OWNER)


# -- helpers -----------------------------------------------------------------------------
def issue(work: Work, price: str = "100.00", *, due: date = date(2026, 3, 1),
          issued: date = date(2026, 1, 1), customer_id: str = "cust-1",
          tax_rate: str = "0") -> dict[str, Any]:
    return invoices.issue_invoice(work, REP, schemas.InvoiceCreate.model_validate({
        "customer_id": customer_id, "type": "vat_ordinary", "currency": "CNY",
        "issue_date": issued.isoformat(), "due_date": due.isoformat(),
        "lines": [{"description": "consulting", "unit_price": price,
                   "tax_rate": tax_rate}]}))


def pay(work: Work, amount: str, allocations: list[dict[str, str]] | None = None,
        received: datetime = datetime(2026, 1, 10, tzinfo=UTC)) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": "cust-1", "amount": amount, "currency": "CNY",
                            "method": "bank_transfer", "received_at": received.isoformat()}
    if allocations is not None:
        body["allocations"] = allocations
    return payments.create_payment(work, REP, schemas.PaymentCreate.model_validate(body))


def void(work: Work, invoice_id: str, version: int | None = None) -> dict[str, Any]:
    return invoices.void_invoice(work, REP, invoice_id,
                                 schemas.VoidRequest(reason="typo"), version)


# -- issuing -----------------------------------------------------------------------------
def test_issuing_numbers_the_invoice_from_the_year_series_and_publishes_it(work: Work) -> None:
    first = issue(work)
    second = issue(work)
    assert (first["number"], second["number"]) == ("INV-2026-000001", "INV-2026-000002")
    assert work.repos.sequences.last["invoice-2026"] == 2
    issued = work.events_of("invoice.issued")
    assert [e["id"] for e in issued] == [first["id"], second["id"]]
    assert issued[0]["owner_id"] == OWNER and issued[0]["amount"] == "100.00"


def test_an_issued_invoice_is_open_for_its_whole_amount(work: Work) -> None:
    inv = issue(work, "80.00", tax_rate="0.13")
    assert inv["status"] == "issued" and inv["version"] == 1
    assert inv["outstanding"] == "80.00" and inv["paid_amount"] == "0.00"
    assert inv["customer_name"] == "Acme"
    assert Decimal(inv["tax_amount"]) > 0


def test_an_invoice_due_before_it_is_issued_is_refused(work: Work) -> None:
    with pytest.raises(ValidationFailed) as refused:
        issue(work, due=date(2025, 12, 31))
    assert refused.value.code == "invalid_due_date"
    assert len(work.repos.invoices.table) == 0 and work.published == []


def test_an_invoice_for_a_customer_out_of_scope_is_not_found(work: Work) -> None:
    work.repos.customers.table.add(BillingCustomer(id="cust-2", name="Other",
                                                   owner_id="rep-2", merged_into_id=None))
    with pytest.raises(NotFound) as missing:
        issue(work, customer_id="cust-2")
    assert missing.value.code == "customer_not_found"


def test_a_new_invoice_takes_the_customer_credit_balance(work: Work) -> None:
    pay(work, "30.00")  # nothing open: all of it is credit
    inv = issue(work, "100.00")
    stored = work.repos.invoices.table.rows[inv["id"]]
    assert stored.paid_amount == Decimal("30.00") and stored.status == "partially_paid"
    assert "payment.allocated" in work.event_types()


# -- paying and allocating ---------------------------------------------------------------
def test_a_payment_goes_to_the_oldest_due_invoice_first(work: Work) -> None:
    later = issue(work, "100.00", due=date(2026, 4, 1))
    sooner = issue(work, "100.00", due=date(2026, 2, 1))
    p = pay(work, "150.00")
    inv = work.repos.invoices.table.rows
    assert inv[sooner["id"]].status == "paid"
    assert inv[later["id"]].paid_amount == Decimal("50.00")
    assert inv[later["id"]].status == "partially_paid"
    assert p["unallocated_amount"] == "0.00" and p["allocated_amount"] == "150.00"


def test_paying_an_invoice_in_full_publishes_invoice_paid_and_rerates(work: Work) -> None:
    inv = issue(work, "100.00")
    pay(work, "100.00")
    paid = work.events_of("invoice.paid")
    assert [e["invoice_id"] for e in paid] == [inv["id"]]
    assert work.repos.ratings.refreshed == ["cust-1"]
    assert work.repos.invoices.table.rows[inv["id"]].paid_at is not None


def test_a_payment_bumps_the_version_of_each_invoice_it_touches(work: Work) -> None:
    inv = issue(work, "100.00")
    pay(work, "40.00")
    assert work.repos.invoices.table.rows[inv["id"]].version == 2


def test_money_beyond_the_open_invoices_is_kept_as_credit(work: Work) -> None:
    issue(work, "100.00")
    p = pay(work, "130.00")
    assert p["unallocated_amount"] == "30.00"
    received = work.events_of("payment.received")[0]
    assert received["unallocated"] == "30.00" and len(received["allocations"]) == 1


def test_allocating_more_than_an_invoice_is_owed_is_refused(work: Work) -> None:
    inv = issue(work, "100.00")
    with pytest.raises(ValidationFailed) as refused:
        pay(work, "150.00", [{"invoice_id": inv["id"], "amount": "120.00"}])
    assert refused.value.code == "over_allocation"
    assert "payment.received" not in work.event_types()


def test_allocating_more_than_the_payment_is_refused(work: Work) -> None:
    a, b = issue(work, "100.00"), issue(work, "100.00")
    with pytest.raises(ValidationFailed) as refused:
        pay(work, "50.00", [{"invoice_id": a["id"], "amount": "40.00"},
                            {"invoice_id": b["id"], "amount": "40.00"}])
    assert refused.value.code == "over_allocation"


def test_allocating_to_an_invoice_that_is_not_open_is_refused(work: Work) -> None:
    inv = issue(work, "100.00")
    void(work, inv["id"])
    with pytest.raises(ValidationFailed) as refused:
        pay(work, "50.00", [{"invoice_id": inv["id"], "amount": "50.00"}])
    assert refused.value.code == "invalid_allocation"


def test_allocating_a_credit_balance_later_publishes_payment_allocated(work: Work) -> None:
    p = pay(work, "60.00")
    inv = issue(work, "100.00", issued=date(2026, 2, 1))  # takes the credit itself
    assert work.repos.invoices.table.rows[inv["id"]].paid_amount == Decimal("60.00")
    with pytest.raises(Conflict) as nothing:
        payments.allocate_payment(work, REP, p["id"], schemas.AllocateRequest())
    assert nothing.value.code == "nothing_to_allocate"


def test_allocate_payment_applies_what_is_left_to_a_named_invoice(work: Work) -> None:
    p = pay(work, "70.00")
    stored = work.repos.payments.table.rows[p["id"]]
    inv = invoices.create_invoice_row(  # issued without taking the credit itself
        work, work.repos.customers.table.rows["cust-1"], "CNY", _lines("100.00"),
        "vat_ordinary", date(2026, 2, 1), date(2026, 3, 1))
    out = payments.allocate_payment(work, REP, p["id"], schemas.AllocateRequest.model_validate(
        {"allocations": [{"invoice_id": inv.id, "amount": "50.00"}]}))
    assert out["unallocated_amount"] == "20.00" and stored.version == 2
    allocated = work.events_of("payment.allocated")[-1]
    assert allocated["allocations"] == [{"invoice_id": inv.id, "order_id": None,
                                         "amount": "50.00"}]


def test_money_counts_on_an_invoice_from_the_day_it_was_issued(work: Work) -> None:
    pay(work, "100.00", received=datetime(2026, 1, 5, tzinfo=UTC))
    issue(work, "100.00", issued=date(2026, 1, 20))
    (allocation,) = work.repos.allocations.table
    assert allocation.effective_on == date(2026, 1, 20)


def test_a_payment_of_a_customer_out_of_scope_is_not_found(work: Work) -> None:
    p = pay(work, "10.00")
    with pytest.raises(NotFound) as missing:
        payments.get_payment(work, OTHER_REP, p["id"])
    assert missing.value.code == "payment_not_found"


def test_a_payment_of_zero_is_refused(work: Work) -> None:
    with pytest.raises(ValidationFailed) as refused:
        pay(work, "0.00")
    assert refused.value.code == "invalid_amount"


# -- refunds -----------------------------------------------------------------------------
def test_a_refund_takes_the_credit_balance_first(work: Work) -> None:
    inv = issue(work, "100.00")
    p = pay(work, "150.00")
    out = payments.refund_payment(work, REP, p["id"], schemas.RefundRequest(
        amount="30.00", reason="overpaid"))
    assert out["unallocated_amount"] == "20.00" and out["refunded_amount"] == "30.00"
    assert work.repos.invoices.table.rows[inv["id"]].status == "paid"
    assert work.events_of("payment.refunded")[0]["allocations"] == []


def test_a_refund_beyond_the_balance_takes_money_back_from_invoices(work: Work) -> None:
    inv = issue(work, "100.00")
    p = pay(work, "100.00")
    out = payments.refund_payment(work, REP, p["id"], schemas.RefundRequest(
        amount="40.00", reason="returned goods"))
    stored = work.repos.invoices.table.rows[inv["id"]]
    assert stored.paid_amount == Decimal("60.00") and stored.status == "partially_paid"
    assert stored.paid_at is None
    assert [a["amount"] for a in out["allocations"]] == ["100.00", "-40.00"]
    assert out["refunds"][0]["amount"] == "40.00" and out["version"] == 2


def test_refunding_more_than_was_paid_is_refused(work: Work) -> None:
    p = pay(work, "50.00")
    with pytest.raises(ValidationFailed) as refused:
        payments.refund_payment(work, REP, p["id"], schemas.RefundRequest(
            amount="60.00", reason="no"))
    assert refused.value.code == "over_refund"
    assert len(work.repos.refunds.table) == 0


# -- voiding -----------------------------------------------------------------------------
def test_voiding_an_unpaid_invoice_bumps_its_version_and_publishes(work: Work) -> None:
    inv = issue(work)
    out = void(work, inv["id"], version=1)
    assert out["status"] == "void" and out["version"] == 2 and out["outstanding"] == "0.00"
    assert work.events_of("invoice.voided")[0]["reason"] == "typo"


def test_voiding_with_a_stale_version_is_refused(work: Work) -> None:
    inv = issue(work)
    with pytest.raises(StaleVersion):
        void(work, inv["id"], version=7)
    assert "invoice.voided" not in work.event_types()


def test_voiding_a_void_invoice_is_the_one_refused_transition(work: Work) -> None:
    inv = issue(work)
    void(work, inv["id"])
    with pytest.raises(StateViolation) as refused:
        void(work, inv["id"])
    assert refused.value.code == "invalid_transition"
    assert refused.value.extra["current_state"] == "void"


def test_an_invoice_with_money_on_it_cannot_be_voided(work: Work) -> None:
    inv = issue(work, "100.00")
    pay(work, "10.00")
    with pytest.raises(Conflict) as refused:
        void(work, inv["id"])
    assert refused.value.code == "invoice_has_payments"


def test_voiding_an_installment_invoice_frees_the_installment(work: Work) -> None:
    work.repos.plans.table.add(PaymentPlan(id="plan-1", status="active"))
    inv = issue(work)
    stored = work.repos.invoices.table.rows[inv["id"]]
    stored.plan_id, stored.installment_number = "plan-1", 1
    inst = work.repos.plans.installments.add(Installment(
        plan_id="plan-1", number=1, invoice_id=inv["id"], status="invoiced"))
    void(work, inv["id"])
    assert inst.invoice_id is None and inst.status == "pending"


def _lines(price: str) -> list[Any]:
    from services.billing.domain.plans import priced_line

    return [priced_line("consulting", Decimal(1), Decimal(price), Decimal(0), "CNY", None)]
