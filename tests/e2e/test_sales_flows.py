"""Sales rules that involve other services: billing's credit check (refusal, manager
override, billing down), the customer's owner changing, payments and approved expenses
arriving as billing events; targets and work logs (SAL-04, SAL-07 … SAL-09)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.sales_support import _draft_order, _ok, _product
from tests.e2e.test_customer_classification import _send
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _customer(platform: Platform, token: str) -> dict[str, Any]:
    with platform.client(token) as c:
        return _ok(c.post("/api/v1/customers", json={
            "name": f"信用{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)


def test_credit_refusal_override_and_billing_down(platform: Platform,
                                                  org: dict[str, Any]) -> None:
    rep, manager = org["rep"], org["manager"]
    product = _product(platform, "500.00")
    customer = _customer(platform, rep["token"])
    with platform.admin() as admin:
        _ok(admin.put(f"/api/v1/credit/{customer['id']}",
                      json={"limit": "300.00", "currency": "CNY"}))
    with platform.client(rep["token"]) as c:
        order = _draft_order(c, customer["id"], product["id"])  # 500.00 > 300.00
        r = c.post(f"/api/v1/orders/{order['id']}/confirm")
        assert r.status_code == 409 and r.json()["code"] == "credit_limit_exceeded"
        assert r.json()["credit"]["limit"] == "300.00"
        kept = _ok(c.get(f"/api/v1/orders/{order['id']}"))
        assert kept["status"] == "draft" and kept["last_credit_check"]["allowed"] is False
        _ok(c.post(f"/api/v1/orders/{order['id']}/submit"))
        assert c.post(f"/api/v1/orders/{order['id']}/approve",
                      json={"credit_override": True}).status_code == 403
    with platform.client(manager["token"]) as c:
        no_override = c.post(f"/api/v1/orders/{order['id']}/approve", json={})
        assert no_override.status_code == 409
        approved = _ok(c.post(f"/api/v1/orders/{order['id']}/approve",
                              json={"credit_override": True, "comment": "老客户"}))
        assert approved["status"] == "confirmed"
        assert approved["credit_override_by"] == manager["id"]

    # billing down: 503, and the order stays unconfirmed
    with platform.client(rep["token"]) as c:
        second = _draft_order(c, customer["id"], product["id"])
    with platform.admin() as admin:
        settings = _ok(admin.get("/api/v1/sales-settings"))
        _ok(admin.put("/api/v1/sales-settings",
                      json={**settings, "credit_check_timeout_seconds": 1}))
    platform.procs["billing"].stop()
    try:
        with platform.client(rep["token"]) as c:
            r = c.post(f"/api/v1/orders/{second['id']}/confirm")
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "service_unavailable"
            assert _ok(c.get(f"/api/v1/orders/{second['id']}"))["status"] == "draft"
    finally:
        platform.procs["billing"].start()
        platform.wait_service_ready("billing")
        with platform.admin() as admin:
            _ok(admin.put("/api/v1/sales-settings", json=settings))


def test_open_work_follows_the_new_owner(platform: Platform, org: dict[str, Any]) -> None:
    rep, other = org["rep"], org["other"]
    customer = _customer(platform, rep["token"])
    with platform.client(rep["token"]) as c:
        open_opp = _ok(c.post("/api/v1/opportunities", json={
            "name": "续约", "customer_id": customer["id"], "amount": "100"}), 201)
        won = _ok(c.post("/api/v1/opportunities", json={
            "name": "首单", "customer_id": customer["id"], "amount": "200"}), 201)
        _ok(c.post(f"/api/v1/opportunities/{won['id']}/win"))
    with platform.admin() as admin:
        _ok(admin.post(f"/api/v1/customers/{customer['id']}/transfer",
                       json={"to_user_id": other["id"]}))

    def moved() -> bool:
        with platform.client(other["token"]) as c:
            return c.get(f"/api/v1/opportunities/{open_opp['id']}").status_code == 200
    wait_until(moved, 15, "opportunity follows the customer")
    with platform.client(rep["token"]) as c:
        assert c.get(f"/api/v1/opportunities/{open_opp['id']}").status_code == 404
        assert _ok(c.get(f"/api/v1/opportunities/{won['id']}"))["owner_id"] == rep["id"]


def test_payments_and_campaign_costs_arrive_from_billing(platform: Platform,
                                                         org: dict[str, Any]) -> None:
    rep = org["rep"]
    product = _product(platform, "500.00")
    customer = _customer(platform, rep["token"])
    with platform.admin() as admin:
        campaign = _ok(admin.post("/api/v1/campaigns", json={
            "name": "秋季发布会", "kind": "launch", "budget": "10000.00", "currency": "CNY",
            "materials": [{"title": "邀请函", "document_id": "doc-1"}]}), 201)
    with platform.client(rep["token"]) as c:
        lead = _ok(c.post("/api/v1/leads", json={
            "name": f"活动线索{uuid.uuid4().hex[:6]}", "kind": "person",
            "campaign_id": campaign["id"], "estimated_amount": "6000"}), 201)
        converted = _ok(c.post(f"/api/v1/leads/{lead['id']}/convert", json={}))
        _ok(c.post(f"/api/v1/opportunities/{converted['opportunity_id']}/win"))
        order = _draft_order(c, customer["id"], product["id"])
        _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
    payment = {"payment_id": str(uuid.uuid4()), "customer_id": customer["id"],
               "amount": "200.00", "currency": "CNY", "received_at": "2026-11-25T08:00:00Z",
               "allocations": [{"invoice_id": "inv-x", "order_id": order["id"],
                                "amount": "200.00"}]}
    _send(platform, "billing", "payment.received", payment)
    for _ in range(2):
        _send(platform, "billing", "expense.approved", {
            "expense_id": str(uuid.uuid4()), "campaign_id": campaign["id"],
            "amount": "1500.00", "currency": "CNY", "category": "venue"})

    def paid() -> bool:
        with platform.client(rep["token"]) as c:
            o = c.get(f"/api/v1/orders/{order['id']}").json()
            return bool(o["paid_amount"] == "200.00")
    wait_until(paid, 15, "order paid amount")
    with platform.client(rep["token"]) as c:
        assert _ok(c.get(f"/api/v1/orders/{order['id']}"))["paid_status"] == "partially_paid"

    def costed() -> bool:
        with platform.admin() as admin:
            return bool(admin.get(f"/api/v1/campaigns/{campaign['id']}").json()
                        ["actual_cost"] == "3000.00")
    wait_until(costed, 15, "campaign cost from approved expenses")
    with platform.admin() as admin:
        roi = _ok(admin.get(f"/api/v1/campaigns/{campaign['id']}/roi"))
    assert roi == {"campaign_id": campaign["id"], "currency": "CNY", "budget": "10000.00",
                   "actual_cost": "3000.00", "leads": 1, "converted_leads": 1,
                   "won_opportunities": 1, "won_revenue": "6000.00",
                   "cost_per_lead": "3000.00", "roi": "1.0000"}


def test_targets_and_work_logs(platform: Platform, org: dict[str, Any]) -> None:
    rep, manager, other = org["rep"], org["manager"], org["other"]
    product = _product(platform, "500.00")
    customer = _customer(platform, rep["token"])
    with platform.client(rep["token"]) as c:
        order = _draft_order(c, customer["id"], product["id"])
        confirmed = _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
        period = confirmed["confirmed_at"][:7]
        assert c.post("/api/v1/sales-targets", json={
            "subject_kind": "rep", "subject_id": rep["id"], "period": period,
            "amount": "1000"}).status_code == 403
        log = _ok(c.post("/api/v1/work-logs", json={
            "kind": "log", "day": "2026-11-25", "content": "拜访三家客户"}), 201)
    with platform.client(manager["token"]) as c:
        target = _ok(c.post("/api/v1/sales-targets", json={
            "subject_kind": "rep", "subject_id": rep["id"], "period": period,
            "amount": "100000.00"}), 201)
        assert c.post("/api/v1/sales-targets", json={
            "subject_kind": "rep", "subject_id": rep["id"], "period": "2026-13",
            "amount": "1"}).status_code == 422
        logs = _ok(c.get("/api/v1/work-logs", params={"author_id": rep["id"]}))["items"]
        assert [x["id"] for x in logs] == [log["id"]]
    assert float(target["achieved"]) >= 500  # this rep's confirmed orders in the period
    with platform.client(rep["token"]) as c:
        mine = _ok(c.get("/api/v1/sales-targets", params={"period": period}))["items"]
        assert [t["id"] for t in mine] == [target["id"]]
    with platform.client(other["token"]) as c:
        assert _ok(c.get("/api/v1/work-logs", params={"author_id": rep["id"]}))["items"] == []
        assert c.patch(f"/api/v1/work-logs/{log['id']}",
                       json={"content": "x"}).status_code == 404


def test_merged_customer_work_moves_to_the_survivor(platform: Platform,
                                                    org: dict[str, Any]) -> None:
    rep = org["rep"]
    survivor = _customer(platform, rep["token"])
    duplicate = _customer(platform, rep["token"])
    with platform.client(rep["token"]) as c:
        opp = _ok(c.post("/api/v1/opportunities", json={
            "name": "合并前", "customer_id": duplicate["id"], "amount": "10"}), 201)
    with platform.admin() as admin:
        _ok(admin.post("/api/v1/customers/merge", json={
            "survivor_id": survivor["id"], "merged_id": duplicate["id"]}))

    def repointed() -> bool:
        with platform.client(rep["token"]) as c:
            return bool(c.get(f"/api/v1/opportunities/{opp['id']}").json()["customer_id"]
                        == survivor["id"])
    wait_until(repointed, 15, "opportunity follows customer.merged")
    with platform.client(rep["token"]) as c:
        # new work for the merged id lands on the survivor
        again = _ok(c.post("/api/v1/opportunities", json={
            "name": "合并后", "customer_id": duplicate["id"], "amount": "5"}), 201)
        assert again["customer_id"] == survivor["id"]
