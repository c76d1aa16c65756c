"""Shared set-up of the sales end-to-end tests: an organisation (team, manager, reps the
sales service knows), a catalogue product, helpers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.test_customers import _staff_known
from tests.support.infra import wait_until
from tests.support.platform import Platform


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def _sales_knows_team(platform: Platform, manager: dict[str, Any], rep: dict[str, Any]
                      ) -> None:
    """Wait until the sales service's staff copy routes the rep's approvals to the manager:
    a probe quote over the threshold names the manager as approver."""
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"探针{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)

    def routed() -> bool:
        with platform.client(rep["token"]) as c:
            r = c.post("/api/v1/quotes", json={
                "customer_id": customer["id"], "currency": "CNY",
                "lines": [{"product_id": _product(platform)["id"], "quantity": "1",
                           "discount_percent": "50"}]})
            if r.status_code != 201:
                return False
            q = c.post(f"/api/v1/quotes/{r.json()['id']}/submit").json()
            return bool(q.get("approver_id") == manager["id"])
    wait_until(routed, 20, "sales staff copy")


_PRODUCTS: dict[str, dict[str, Any]] = {}


def _product(platform: Platform, list_price: str = "10000.00") -> dict[str, Any]:
    """A catalogue product at ``list_price`` (one per price): a line priced below its list
    price is a discount that needs approval, so orders confirmed without one are priced
    at the list."""
    if list_price not in _PRODUCTS:
        with platform.admin() as admin:
            line = _ok(admin.post("/api/v1/product-lines",
                                  json={"name": f"云服务{uuid.uuid4().hex[:4]}"}), 201)
            _PRODUCTS[list_price] = _ok(admin.post("/api/v1/products", json={
                "code": f"CRM-{uuid.uuid4().hex[:6]}", "name": "CRM 企业版", "unit": "套",
                "product_version": "V3.2", "line_id": line["id"], "currency": "CNY",
                "list_price": list_price, "tax_rate": "0.13"}), 201)
    return _PRODUCTS[list_price]


@pytest.fixture(scope="session")
def org(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        team = _ok(admin.post("/api/v1/teams", json={"name": f"South-{uuid.uuid4().hex[:4]}"}),
                   201)
    manager = platform.new_user(["sales_manager"], team_id=team["id"], display_name="钱经理")
    with platform.admin() as admin:
        _ok(admin.patch(f"/api/v1/teams/{team['id']}", json={"manager_id": manager["id"]}))
    rep = platform.new_user(["sales_rep"], team_id=team["id"], display_name="孙销售")
    other = platform.new_user(["sales_rep"], display_name="周其他")
    for user in (manager, rep, other):
        _staff_known(platform, user["token"], user["id"])
    _sales_knows_team(platform, manager, rep)
    return {"team": team, "manager": manager, "rep": rep, "other": other}


def _draft_order(c: httpx.Client, customer_id: str, product_id: str) -> dict[str, Any]:
    """An order of 500.00: one of ``product_id``, a product listed at 500.00."""
    return _ok(c.post("/api/v1/orders", json={
        "customer_id": customer_id, "currency": "CNY",
        "lines": [{"product_id": product_id, "quantity": "1", "unit_price": "500.00"}],
        "payment_terms": {"installments": [{"percent": "100", "due_days": 15}]}}), 201)
