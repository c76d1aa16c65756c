"""The discount that needs approval is the effective one (SAL-06): from the list price to
the net line amount, whatever fields express it — a lower unit price, a discount
percent, or both — on quotes and on orders entered without a quote."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.sales_support import _ok, _product
from tests.support.platform import Platform


def _customer(platform: Platform, token: str) -> dict[str, Any]:
    with platform.client(token) as c:
        return _ok(c.post("/api/v1/customers", json={
            "name": f"折扣{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)


def test_half_the_list_price_without_a_discount_percent_waits_for_the_manager(
        platform: Platform, org: dict[str, Any]) -> None:
    rep, manager = org["rep"], org["manager"]
    product = _product(platform)  # listed at 10000.00; the threshold is 10 %
    customer = _customer(platform, rep["token"])
    with platform.client(rep["token"]) as c:
        quote = _ok(c.post("/api/v1/quotes", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "2",
                       "unit_price": "5000.00", "discount_percent": "0"}]}), 201)
        assert quote["lines"][0]["effective_discount_percent"] == "50"
        assert quote["max_discount_percent"] == "50.00"
        submitted = _ok(c.post(f"/api/v1/quotes/{quote['id']}/submit"))
        assert submitted["status"] == "pending_approval"
        assert submitted["approver_id"] == manager["id"]

        # a lower price and a small discount compound past the threshold: 10000 → 9500 → 9025
        compound = _ok(c.post("/api/v1/quotes", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1",
                       "unit_price": "9500.00", "discount_percent": "5"}]}), 201)
        assert compound["lines"][0]["effective_discount_percent"] == "9.75"
        assert _ok(c.post(f"/api/v1/quotes/{compound['id']}/submit"))["status"] == "approved"
        deeper = _ok(c.post("/api/v1/quotes", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1",
                       "unit_price": "9400.00", "discount_percent": "5"}]}), 201)
        assert _ok(c.post(f"/api/v1/quotes/{deeper['id']}/submit"))["status"] == \
            "pending_approval"

        # a price in another currency than the list price's cannot be measured: approval
        foreign = _ok(c.post("/api/v1/quotes", json={
            "customer_id": customer["id"], "currency": "USD",
            "lines": [{"product_id": product["id"], "quantity": "1",
                       "unit_price": "1.00"}]}), 201)
        assert foreign["lines"][0]["effective_discount_percent"] is None
        assert _ok(c.post(f"/api/v1/quotes/{foreign['id']}/submit"))["status"] == \
            "pending_approval"


def test_an_order_below_the_list_price_is_confirmed_only_after_approval(
        platform: Platform, org: dict[str, Any]) -> None:
    rep, manager = org["rep"], org["manager"]
    product = _product(platform)
    customer = _customer(platform, rep["token"])
    with platform.client(rep["token"]) as c:
        order = _ok(c.post("/api/v1/orders", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1",
                       "unit_price": "5000.00"}]}), 201)
        r = c.post(f"/api/v1/orders/{order['id']}/confirm")
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "discount_approval_required"
        _ok(c.post(f"/api/v1/orders/{order['id']}/submit"))
    with platform.client(manager["token"]) as c:
        approved = _ok(c.post(f"/api/v1/orders/{order['id']}/approve", json={}))
        assert approved["status"] == "confirmed"
