"""Classification counts only what is paid, and recomputing it over unchanged data
changes nothing (issue #28, defect 8): two orders confirmed through the gateway, one of
them paid."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.sales_support import _ok, _product
from tests.e2e.test_order_to_cash import _plan
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def test_only_paid_orders_count_and_a_recompute_is_idempotent(
        platform: Platform, org: dict[str, Any]) -> None:
    rep, product = org["rep"], _product(platform)
    finance = platform.new_user(["finance"])
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"分类{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        orders = []
        for price in ("3000.00", "5000.00"):
            order = _ok(c.post("/api/v1/orders", json={
                "customer_id": customer["id"], "currency": "CNY",
                "lines": [{"product_id": product["id"], "quantity": "1", "unit_price": price}],
                "payment_terms": {"installments": [{"percent": "100", "due_days": 0}]}}), 201)
            _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
            orders.append(order)
        for order in orders:  # billing has both: the customer service was told of both
            _plan(platform, rep["token"], order["id"])
        unpaid = _ok(c.get(f"/api/v1/customers/{customer['id']}"))["classification"]
        assert (unpaid["paid_orders"], Decimal(unpaid["paid_revenue"])) == (0, 0)
        assert unpaid["stage"] == "prospect" and unpaid["last_purchase_at"] is None

    paid = orders[0]
    with platform.client(finance["token"]) as f:
        (invoice,) = _ok(f.get("/api/v1/invoices", params={"order_id": paid["id"]}))["items"]
        _ok(f.post("/api/v1/payments", json={
            "customer_id": customer["id"], "amount": invoice["amount"], "currency": "CNY",
            "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat(),
            "allocations": [{"invoice_id": invoice["id"], "amount": invoice["amount"]}]}),
            201)

    def counted() -> dict[str, Any] | None:
        with platform.client(rep["token"]) as c:
            got = _ok(c.get(f"/api/v1/customers/{customer['id']}"))["classification"]
        return got if Decimal(got["paid_revenue"]) > 0 else None
    on_payment = wait_until(counted, 20, "the payment in the classification")
    assert Decimal(on_payment["paid_revenue"]) == Decimal(invoice["amount"])
    assert on_payment["paid_orders"] == 1 and on_payment["stage"] == "active"

    with platform.admin() as admin:
        runs = []
        for _ in range(2):
            _ok(admin.post("/api/v1/customers/classification/recompute"))
            runs.append(_ok(admin.get(f"/api/v1/customers/{customer['id']}"))["classification"])
    assert runs[0] == runs[1]
    assert runs[0]["rfm_recency"] == on_payment["rfm_recency"]
    assert runs[0]["paid_orders"] == 1
