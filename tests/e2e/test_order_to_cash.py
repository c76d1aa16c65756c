"""The whole chain across services, no event played by the test: an order confirmed in
sales → billing's payment plan and first invoice → partial and full payments → the
receivable is zero, the order reads paid in sales, and the customer service has the
money in the customer's revenue and tier. Dunning with two billing replicas running."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _ok, _product
from tests.support.infra import free_port, service_proc, wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _plan(platform: Platform, token: str, order_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        with platform.client(token) as c:
            items = c.get("/api/v1/payment-plans", params={"order_id": order_id}).json()
        return items["items"][0] if items.get("items") else None
    return dict(wait_until(found, 20, "payment plan from order.confirmed"))


def _confirmed_order(platform: Platform, rep: dict[str, Any], amount: str,
                     installments: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    product = _product(platform, amount)  # priced at its list price: no discount to approve
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"回款链{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        order = _ok(c.post("/api/v1/orders", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1", "unit_price": amount}],
            "payment_terms": {"installments": installments}}), 201)
        _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
    return customer, order


def test_order_to_cash_across_services(platform: Platform, org: dict[str, Any]) -> None:
    rep = org["rep"]
    finance = platform.new_user(["finance"], display_name="财务")
    customer, order = _confirmed_order(platform, rep, "10000.00",
                                       [{"percent": "40", "due_days": 0},
                                        {"percent": "60", "due_days": 30}])
    plan = _plan(platform, rep["token"], order["id"])
    amounts = [Decimal(i["amount"]) for i in plan["installments"]]
    assert amounts == [Decimal("4000.00"), Decimal("6000.00")] and sum(amounts) == 10000
    with platform.client(finance["token"]) as f:
        (first,) = f.get("/api/v1/invoices", params={"order_id": order["id"]}).json()["items"]
        assert first["amount"] == "4000.00" and first["status"] == "issued"
        second = _ok(f.post(f"/api/v1/payment-plans/{plan['id']}/installments/2/invoice",
                            json={}), 201)
        now = datetime.now(UTC).isoformat()
        for amount in ("1500.00", "8500.00"):  # partial, then everything else
            _ok(f.post("/api/v1/payments", json={
                "customer_id": customer["id"], "amount": amount, "currency": "CNY",
                "method": "bank_transfer", "received_at": now}), 201)
        invoices = f.get("/api/v1/invoices", params={"order_id": order["id"]}).json()["items"]
        assert {i["id"]: i["status"] for i in invoices} == {first["id"]: "paid",
                                                           second["id"]: "paid"}
        receivables = f.get("/api/v1/receivables",
                            params={"customer_id": customer["id"]}).json()["items"]
        assert sum(Decimal(x["outstanding"]) for x in receivables) == 0

    def sales_sees_paid() -> bool:
        with platform.client(rep["token"]) as c:
            return bool(c.get(f"/api/v1/orders/{order['id']}").json()["paid_status"] == "paid")
    wait_until(sales_sees_paid, 20, "order paid in sales")

    def customer_counts_it() -> dict[str, Any] | None:
        with platform.client(rep["token"]) as c:
            data = c.get(f"/api/v1/customers/{customer['id']}").json()["classification"]
        return data if Decimal(data["paid_revenue"]) == Decimal("10000.00") else None
    classification = wait_until(customer_counts_it, 20, "revenue in the customer service")
    assert classification["stage"] == "active" and classification["paid_orders"] == 1
    # the ABC tier is a Pareto ranking over every customer: the nightly run places it
    with platform.admin() as admin:
        _ok(admin.post("/api/v1/customers/classification/recompute"))
        ranked = _ok(admin.get(f"/api/v1/customers/{customer['id']}"))["classification"]
    assert ranked["tier"] in ("A", "B", "C") and ranked["rfm_monetary"] is not None


def test_dunning_fires_once_with_two_billing_replicas(platform: Platform,
                                                      org: dict[str, Any]) -> None:
    rep = org["rep"]
    customer, order = _confirmed_order(platform, rep, "800.00",
                                       [{"percent": "100", "due_days": 20}])
    plan = _plan(platform, rep["token"], order["id"])
    with platform.admin() as admin:  # invoiced ahead of its turn, so step 1 (-3 d) applies
        invoice = _ok(admin.post(f"/api/v1/payment-plans/{plan['id']}/installments/1/invoice",
                                 json={}), 201)
    due = date.fromisoformat(invoice["due_date"])
    log_dir = platform.procs["billing"].log_path.parent / "replica"
    log_dir.mkdir(exist_ok=True)
    port = free_port()
    second = service_proc("billing", platform.env, log_dir, port)
    second.start()
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                   60, "second billing replica")
        with platform.admin() as admin:
            def run(offset: int) -> int:
                r = admin.post("/api/v1/dunning/run", json={
                    "as_of": (due + timedelta(days=offset)).isoformat(),
                    "customer_id": customer["id"]})
                assert r.status_code == 200, r.text
                return int(r.json()["sent"])

            for offset in (-3, 0, 7, 15, 30):
                with ThreadPoolExecutor(6) as pool:  # spread over both replicas
                    assert sum(pool.map(run, [offset] * 6)) == 1, offset
            log = admin.get(f"/api/v1/invoices/{invoice['id']}/dunning-log").json()["items"]
        assert [(e["step"], e["outcome"]) for e in log] == [
            (1, "sent"), (2, "sent"), (3, "sent"), (4, "sent"), (5, "sent")]
        assert [e["escalated"] for e in log] == [False, False, False, True, True]
    finally:
        second.stop()


def test_the_largest_order_sales_takes_is_planned_invoiced_and_paid_in_billing(
        platform: Platform, org: dict[str, Any]) -> None:
    """Sales holds 16 digits before the point; billing held 15, so such an order's
    order.confirmed failed billing's plan handler on every retry and never got a plan."""
    largest = "9999999999999999.99"
    customer, order = _confirmed_order(platform, org["rep"], largest,
                                       [{"percent": "100", "due_days": 0}])
    plan = _plan(platform, org["rep"]["token"], order["id"])
    assert [i["amount"] for i in plan["installments"]] == [largest]
    finance = platform.new_user(["finance"])
    with platform.client(finance["token"]) as f:
        (invoice,) = f.get("/api/v1/invoices", params={"order_id": order["id"]}).json()["items"]
        assert invoice["amount"] == largest
        _ok(f.post("/api/v1/payments", json={
            "customer_id": customer["id"], "amount": largest, "currency": "CNY",
            "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat()}), 201)
        assert _ok(f.get(f"/api/v1/invoices/{invoice['id']}"))["status"] == "paid"
