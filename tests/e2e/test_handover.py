"""Deactivating a user hands every open record they hold, in every service, to their
successor; closed business stays with them (issue #28, defect 5)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx

from tests.e2e.sales_support import _draft_order, _ok, _product
from tests.e2e.test_customers import _staff_known
from tests.support.infra import wait_until
from tests.support.platform import Platform


def _owner(c: httpx.Client, path: str, field: str = "owner_id") -> str | None:
    return _ok(c.get(f"/api/v1{path}")).get(field)


def test_deactivation_hands_every_open_record_to_the_successor(platform: Platform) -> None:
    with platform.admin() as admin:
        team = _ok(admin.post("/api/v1/teams", json={"name": f"交接-{uuid.uuid4().hex[:4]}"}),
                   201)
    leaver = platform.new_user(["sales_rep"], team_id=team["id"], display_name="离职销售")
    successor = platform.new_user(["sales_rep"], display_name="接手销售")
    for user in (leaver, successor):
        _staff_known(platform, user["token"], user["id"])
    product = _product(platform)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()

    with platform.client(leaver["token"]) as c:
        kept = _ok(c.post("/api/v1/customers", json={
            "name": f"留存客户{uuid.uuid4().hex[:6]}", "kind": "company"}), 201)
        pooled = _ok(c.post("/api/v1/customers", json={
            "name": f"公海客户{uuid.uuid4().hex[:6]}", "kind": "company"}), 201)
        followup = _ok(c.post(f"/api/v1/customers/{kept['id']}/follow-ups", json={
            "method": "phone", "content": "约下周演示", "next_followup_on": tomorrow}), 201)
        open_lead = _ok(c.post("/api/v1/leads", json={"name": "新线索公司"}), 201)
        dropped_lead = _ok(c.post("/api/v1/leads", json={"name": "无效线索公司"}), 201)
        _ok(c.post(f"/api/v1/leads/{dropped_lead['id']}/disqualify",
                   json={"reason": "没有预算"}))
        won = _ok(c.post("/api/v1/opportunities", json={
            "name": "已赢商机", "customer_id": kept["id"], "amount": "5000.00"}), 201)
        _ok(c.post(f"/api/v1/opportunities/{won['id']}/win"))
        # open work on a customer that then goes back to the pool: only the sales
        # service's own handover can move it (no customer.owner_changed names the rep)
        opportunity = _ok(c.post("/api/v1/opportunities", json={
            "name": "进行中商机", "customer_id": pooled["id"], "amount": "8000.00"}), 201)
        quote = _ok(c.post("/api/v1/quotes", json={
            "customer_id": pooled["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1"}]}), 201)
        order = _draft_order(c, pooled["id"], product["id"])
        _ok(c.post(f"/api/v1/customers/{pooled['id']}/release"))
        expense = {"kind": "company", "category": "travel", "amount": "320.00",
                   "description": "拜访客户差旅", "incurred_on": date.today().isoformat()}
        submitted = _ok(c.post("/api/v1/expenses", json=expense), 201)
        _ok(c.post(f"/api/v1/expenses/{submitted['id']}/submit"))
        draft_expense = _ok(c.post("/api/v1/expenses", json=expense), 201)

    with platform.admin() as admin:
        _ok(admin.post(f"/api/v1/users/{leaver['id']}/deactivate",
                       json={"successor_id": successor["id"]}))
        moved = {
            f"/customers/{kept['id']}": "owner_id",
            f"/leads/{open_lead['id']}": "owner_id",
            f"/opportunities/{opportunity['id']}": "owner_id",
            f"/quotes/{quote['id']}": "owner_id",
            f"/orders/{order['id']}": "owner_id",
            f"/expenses/{submitted['id']}": "submitter_id",
        }

        def everything_moved() -> bool:
            return all(_owner(admin, path, field) == successor["id"]
                       for path, field in moved.items())
        wait_until(everything_moved, 30, "the open records moved to the successor")

        reminders = _ok(admin.get(f"/api/v1/customers/{kept['id']}/follow-ups"))["items"]
        assert [f["owner_id"] for f in reminders if f["id"] == followup["id"]] == [
            successor["id"]]
        # each service moved its records in one transaction: what did not move by now stays
        for path, field in ((f"/leads/{dropped_lead['id']}", "owner_id"),
                            (f"/opportunities/{won['id']}", "owner_id"),
                            (f"/expenses/{draft_expense['id']}", "submitter_id")):
            assert _owner(admin, path, field) == leaver["id"], path
        pool_customer = _ok(admin.get(f"/api/v1/customers/{pooled['id']}"))
        assert pool_customer["owner_id"] is None and pool_customer["in_pool"] is True

    with platform.client(successor["token"]) as c:  # the successor can work them now
        _ok(c.post(f"/api/v1/leads/{open_lead['id']}/contact"))
        history = _ok(c.get(f"/api/v1/customers/{kept['id']}/history"))["items"]
        assert any(h["kind"] == "owner_changed" and h["reason"] == "handover"
                   for h in history)
