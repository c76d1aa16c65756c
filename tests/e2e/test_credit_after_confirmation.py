"""``GET /credit/{id}`` right after an order is confirmed shows the new exposure — the
order counts from its credit check on, flagged as being taken in until billing has made
its payment plan — and two confirmations in a row cannot both use the same room
(issue #28)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.e2e.sales_support import _ok, _product
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import expect_problem


def _order(c: Any, customer_id: str, product_id: str, price: str) -> dict[str, Any]:
    return _ok(c.post("/api/v1/orders", json={
        "customer_id": customer_id, "currency": "CNY",
        "lines": [{"product_id": product_id, "quantity": "1", "unit_price": price}],
        "payment_terms": {"installments": [{"percent": "100", "due_days": 30}]}}), 201)


def test_the_exposure_counts_an_order_from_its_confirmation(platform: Platform,
                                                            org: dict[str, Any]) -> None:
    rep, product = org["rep"], _product(platform, "600.00")  # sold at the list price
    finance = platform.new_user(["finance"])
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"授信{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
    cid = customer["id"]
    with platform.client(finance["token"]) as f:
        wait_until(lambda: f.get(f"/api/v1/credit/{cid}").status_code == 200, 20,
                   "the customer in billing")
        _ok(f.put(f"/api/v1/credit/{cid}", json={"limit": "1000.00", "currency": "CNY"},
                  headers={"If-Match": '"0"'}))
    with platform.client(rep["token"]) as c:
        first = _order(c, cid, product["id"], "600.00")
        second = _order(c, cid, product["id"], "600.00")
        _ok(c.post(f"/api/v1/orders/{first['id']}/confirm"))
        at_once = _ok(c.get(f"/api/v1/credit/{cid}"))
        # the other order cannot take the room the first one took a moment ago
        expect_problem(c.post(f"/api/v1/orders/{second['id']}/confirm"), 409,
                       "credit_limit_exceeded")
    amount = Decimal(first["amount"])
    assert Decimal(at_once["exposure"]) == amount
    assert Decimal(at_once["available"]) == Decimal("1000.00") - amount
    if at_once["computing"]:
        assert Decimal(at_once["confirming_orders"]) == amount
    else:
        assert Decimal(at_once["confirming_orders"]) == 0

    def taken_in() -> dict[str, Any] | None:
        with platform.client(rep["token"]) as c:
            got = _ok(c.get(f"/api/v1/credit/{cid}"))
        return None if got["computing"] else got
    settled = wait_until(taken_in, 20, "the payment plan made")
    assert Decimal(settled["exposure"]) == amount
    assert Decimal(settled["uninvoiced_orders"]) + Decimal(settled["open_receivables"]) \
        == amount and Decimal(settled["confirming_orders"]) == 0
