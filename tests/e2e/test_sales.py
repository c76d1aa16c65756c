"""Sales through the gateway (SAL-01 … SAL-09): lead → customer + opportunity → every
stage → quote needing approval → order → confirmed and published; analytics against
hand-computed figures; every illegal order transition."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from tests.e2e.sales_support import _draft_order, _ok, _product
from tests.e2e.test_customers import _staff_known
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


@pytest.fixture()
def order_events(platform: Platform) -> Iterator[tuple[Connection, Queue]]:
    """A plain AMQP subscriber bound to ``sales.events`` like any internal app."""
    conn = Connection(platform.amqp_uri)
    queue = Queue(f"test-orders-{uuid.uuid4().hex[:6]}",
                  Exchange("sales.events", type="topic", durable=True),
                  routing_key="order.*", auto_delete=True)
    queue(conn.channel()).declare()
    try:
        yield conn, queue
    finally:
        conn.release()


def _received(conn: Connection, queue: Queue, event_type: str, order_id: str
              ) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def got() -> bool:
        bound = queue(conn.channel())
        while (message := bound.get(no_ack=True)) is not None:
            body = json.loads(message.body)
            if body["type"] == event_type and body["data"]["order_id"] == order_id:
                found.append(body)
        return bool(found)
    wait_until(got, 15, f"{event_type} on sales.events")
    return found[0]


def test_lead_to_confirmed_order(platform: Platform, org: dict[str, Any],
                                 order_events: tuple[Connection, Queue]) -> None:
    rep, manager, other = org["rep"], org["manager"], org["other"]
    product = _product(platform)
    company = f"深圳前海{uuid.uuid4().hex[:5]}科技有限公司"
    with platform.client(rep["token"]) as c:
        lead = _ok(c.post("/api/v1/leads", json={
            "name": company, "contact_name": "林总", "phone": "+86 139 0000 "
            f"{uuid.uuid4().int % 10000:04d}", "source": "展会", "estimated_amount": "80000"}),
            201)
        assert lead["status"] == "new" and lead["owner_id"] == rep["id"]
        _ok(c.post(f"/api/v1/leads/{lead['id']}/contact"))
        _ok(c.post(f"/api/v1/leads/{lead['id']}/qualify"))
        # no body at all: every conversion option is optional
        converted = _ok(c.post(f"/api/v1/leads/{lead['id']}/convert"))
        customer = _ok(c.get(f"/api/v1/customers/{converted['customer_id']}"))
        assert customer["name"] == company and customer["owner"]["id"] == rep["id"]
        again = c.post(f"/api/v1/leads/{lead['id']}/convert", json={})
        assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
        assert again.json()["status"] == 409 and again.json()["current_state"] == "converted"

        # every stage in order, then won; the history tells who, when, from, to, amount
        opp_id = converted["opportunity_id"]
        stages = _ok(c.get("/api/v1/pipeline-stages"))["items"]
        for stage in stages[1:]:
            opp = _ok(c.post(f"/api/v1/opportunities/{opp_id}/stage",
                             json={"stage_id": stage["id"]}))
            assert opp["stage_id"] == stage["id"]
        assert _ok(c.post(f"/api/v1/opportunities/{opp_id}/win"))["status"] == "won"
        history = _ok(c.get(f"/api/v1/opportunities/{opp_id}/history"))["items"]
        assert [h["to_stage_id"] for h in history] == [s["id"] for s in stages] + \
            [stages[-1]["id"]]
        assert history[-1]["to_status"] == "won" and history[-1]["changed_by"] == rep["id"]
        assert all(Decimal(h["amount"]) == Decimal("80000") for h in history)
        lose = c.post(f"/api/v1/opportunities/{opp_id}/lose", json={"reason": "价格"})
        assert lose.status_code == 409

        # a 20 % discount is over the 10 % threshold: the manager decides
        quote = _ok(c.post("/api/v1/quotes", json={
            "customer_id": customer["id"], "opportunity_id": opp_id, "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "3",
                       "discount_percent": "20"}]}), 201)
        assert quote["amount"] == "24000.00" and quote["tax_amount"] == "2761.06"
        submitted = _ok(c.post(f"/api/v1/quotes/{quote['id']}/submit"))
        assert submitted["status"] == "pending_approval"
        assert submitted["approver_id"] == manager["id"]
        assert c.post(f"/api/v1/quotes/{quote['id']}/approve", json={}).status_code == 403
    with platform.client(other["token"]) as c:
        assert c.get(f"/api/v1/quotes/{quote['id']}").status_code == 404
        assert c.get(f"/api/v1/opportunities/{opp_id}").status_code == 404
    with platform.client(manager["token"]) as c:
        approved = _ok(c.post(f"/api/v1/quotes/{quote['id']}/approve",
                              json={"comment": "同意"}))
        assert approved["status"] == "approved" and approved["decided_by"] == manager["id"]
    with platform.client(rep["token"]) as c:
        order = _ok(c.post(f"/api/v1/quotes/{quote['id']}/convert", json={
            "signer": "林总", "signed_at": "2026-11-20",
            "payment_terms": {"installments": [{"percent": "30", "due_days": 0},
                                               {"percent": "70", "due_days": 30}]}}), 201)
        assert order["status"] == "draft" and order["amount"] == "24000.00"
        assert order["quote_id"] == quote["id"] and order["number"].startswith("SO-")
        history = _ok(c.get(f"/api/v1/customers/{customer['id']}/quotes"))["items"]
        assert [q["status"] for q in history] == ["converted"]

        confirmed = _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
        assert confirmed["status"] == "confirmed" and confirmed["confirmed_at"]
    conn, queue = order_events
    event = _received(conn, queue, "order.confirmed", order["id"])
    data = event["data"]
    assert event["source"].endswith("sales") and event["subject"] == order["id"]
    assert data["amount"] == "24000.00" and data["currency"] == "CNY"
    assert data["customer_id"] == customer["id"] and data["lines"][0]["quantity"] == "3"
    assert data["payment_terms"]["installments"][1] == {"percent": "70", "due_days": 30}


def test_converting_another_reps_company_is_refused_naming_the_owner(
        platform: Platform, org: dict[str, Any]) -> None:
    company = f"杭州西湖{uuid.uuid4().hex[:5]}贸易有限公司"
    with platform.client(org["other"]["token"]) as c:
        _ok(c.post("/api/v1/customers", json={"name": company, "kind": "company"}), 201)
    with platform.client(org["rep"]["token"]) as c:
        lead = _ok(c.post("/api/v1/leads", json={
            "name": company.replace("有限公司", " 有限公司 ")}), 201)
        r = c.post(f"/api/v1/leads/{lead['id']}/convert", json={})
        assert r.status_code == 409 and r.json()["code"] == "duplicate_customer"
        assert r.json()["owner"]["display_name"] == "周其他"
        assert _ok(c.get(f"/api/v1/leads/{lead['id']}"))["status"] == "new"
        bad = c.post(f"/api/v1/leads/{lead['id']}/disqualify", json={"reason": ""})
        assert bad.status_code == 422


DELIVERY = {"delivered_on": "2026-11-25", "lines": []}
# action -> (method, path suffix, body, who: rep | manager)
ACTIONS: dict[str, tuple[str, str, Any, str]] = {
    "edit": ("PATCH", "", {"signer": "x"}, "rep"),
    "submit": ("POST", "/submit", None, "rep"),
    "confirm": ("POST", "/confirm", None, "rep"),
    "approve": ("POST", "/approve", {}, "manager"),
    "deliver": ("POST", "/deliveries", DELIVERY, "rep"),
    "complete": ("POST", "/complete", None, "rep"),
    "cancel": ("POST", "/cancel", {"reason": "客户取消"}, "rep"),
}
# the order state machine (SAL-07): what each state allows
ALLOWED = {
    "draft": {"edit", "submit", "confirm", "cancel"},
    "pending_approval": {"confirm", "approve", "cancel"},
    "confirmed": {"deliver", "cancel"},
    "in_delivery": {"deliver", "complete"},
    "completed": set(),
    "cancelled": set(),
}
PATHS = {"draft": [], "pending_approval": ["submit"], "confirmed": ["confirm"],
         "in_delivery": ["confirm", "deliver"], "completed": ["confirm", "deliver", "complete"],
         "cancelled": ["cancel"]}


def test_every_illegal_order_transition_is_409(platform: Platform, org: dict[str, Any]
                                               ) -> None:
    product = _product(platform, "500.00")
    clients = {"rep": platform.client(org["rep"]["token"]),
               "manager": platform.client(org["manager"]["token"])}
    with platform.client(org["rep"]["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"状态机{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)
    try:
        for status, steps in PATHS.items():
            for action in set(ACTIONS) - ALLOWED[status]:
                order = _draft_order(clients["rep"], customer["id"], product["id"])
                url = f"/api/v1/orders/{order['id']}"
                for step in steps:
                    method, suffix, body, who = ACTIONS[step]
                    r = clients[who].request(method, url + suffix, json=body)
                    assert r.status_code in (200, 201), (step, r.text)
                assert _ok(clients["rep"].get(url))["status"] == status
                method, suffix, body, who = ACTIONS[action]
                r = clients[who].request(method, url + suffix, json=body)
                assert r.status_code == 409, (status, action, r.text)
                assert r.json()["code"] == "invalid_transition", (status, action)
                assert _ok(clients["rep"].get(url))["status"] == status  # nothing changed
    finally:
        for client in clients.values():
            client.close()


def test_bad_order_input_is_422(platform: Platform, org: dict[str, Any]) -> None:
    product = _product(platform)
    with platform.client(org["rep"]["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"状态机{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)
        bad_terms = c.post("/api/v1/orders", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1"}],
            "payment_terms": {"installments": [{"percent": "60", "due_days": 0}]}})
        assert bad_terms.status_code == 422
        assert bad_terms.json()["code"] == "invalid_payment_terms"
        unknown = c.post("/api/v1/orders", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": "nope", "quantity": "1", "unit_price": "1"}]})
        assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_product"
        float_cents = c.post("/api/v1/orders", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1", "unit_price": "1.005"}]})
        assert float_cents.status_code == 422


def test_orders_filter_by_one_or_more_statuses(platform: Platform, org: dict[str, Any]
                                               ) -> None:
    product = _product(platform, "500.00")
    with platform.client(org["rep"]["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"多状态{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)
        draft = _draft_order(c, customer["id"], product["id"])
        confirmed = _draft_order(c, customer["id"], product["id"])
        _ok(c.post(f"/api/v1/orders/{confirmed['id']}/confirm"))
        cancelled = _draft_order(c, customer["id"], product["id"])
        _ok(c.post(f"/api/v1/orders/{cancelled['id']}/cancel", json={"reason": "不要了"}))

        def ids(status: str) -> set[str]:
            return {o["id"] for o in _ok(c.get("/api/v1/orders", params={
                "customer_id": customer["id"], "status": status}))["items"]}
        assert ids("draft") == {draft["id"]}
        assert ids("draft, confirmed") == {draft["id"], confirmed["id"]}
        assert ids("confirmed,cancelled") == {confirmed["id"], cancelled["id"]}
        bad = c.get("/api/v1/orders", params={"status": "confirmed,shipped"})
        assert bad.status_code == 422, bad.text
        assert "pending_approval" in bad.text


def test_funnel_and_win_loss_match_hand_computed_figures(platform: Platform) -> None:
    with platform.admin() as admin:
        team = _ok(admin.post("/api/v1/teams", json={"name": f"Calc-{uuid.uuid4().hex[:4]}"}),
                   201)
    rep = platform.new_user(["sales_rep"], team_id=team["id"], display_name="算数")
    _staff_known(platform, rep["token"], rep["id"])
    with platform.client(rep["token"]) as c:
        stages = _ok(c.get("/api/v1/pipeline-stages"))["items"][:3]
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"漏斗{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)
        plan = [(stages[0], "1000.10"), (stages[0], "2000.20"), (stages[1], "3000.33"),
                (stages[2], "999.99"), (stages[2], "5000.00"), (stages[2], "7000.00")]
        ids = []
        for stage, amount in plan:
            opp = _ok(c.post("/api/v1/opportunities", json={
                "name": f"商机{amount}", "customer_id": customer["id"], "amount": amount,
                "currency": "CNY", "stage_id": stage["id"],
                "expected_close_date": "2026-12-15"}), 201)
            ids.append(opp["id"])
        _ok(c.post(f"/api/v1/opportunities/{ids[4]}/win"))
        _ok(c.post(f"/api/v1/opportunities/{ids[5]}/lose", json={"reason": "预算"}))
        no_reason = c.post(f"/api/v1/opportunities/{ids[3]}/lose", json={"reason": " "})
        assert no_reason.status_code == 422
        funnel = _ok(c.get("/api/v1/analytics/funnel"))
    by_stage = {row["stage_id"]: row for row in funnel["stages"]}
    expected = {stages[0]["id"]: (2, Decimal("3000.30")), stages[1]["id"]: (1, Decimal("3000.33")),
                stages[2]["id"]: (1, Decimal("999.99"))}
    weighted_total = Decimal("0")
    for stage in stages:
        count, amount = expected[stage["id"]]
        row = by_stage[stage["id"]]
        weighted = (amount * Decimal(stage["probability"]) / 100).quantize(Decimal("0.01"))
        weighted_total += weighted
        assert (row["count"], Decimal(row["amount"])) == (count, amount)
        assert Decimal(row["weighted_amount"]) == weighted
    assert funnel["total_count"] == 4
    assert Decimal(funnel["total_amount"]) == Decimal("7000.62")
    assert Decimal(funnel["total_weighted_amount"]) == weighted_total
    with platform.admin() as admin:
        wl = _ok(admin.get("/api/v1/analytics/win-loss",
                           params={"owner_id": rep["id"], "group_by": "rep"}))
        team_wl = _ok(admin.get("/api/v1/analytics/win-loss",
                                params={"team_id": team["id"], "group_by": "team"}))
        forecast = _ok(admin.get("/api/v1/analytics/forecast", params={"owner_id": rep["id"]}))
    assert wl["total"]["won"] == 1 and wl["total"]["lost"] == 1
    assert wl["total"]["win_rate"] == "0.5000" and wl["total"]["won_amount"] == "5000.00"
    assert wl["rows"] == [{**wl["total"], "key": rep["id"]}]
    assert team_wl["rows"][0]["key"] == team["id"] and team_wl["rows"][0]["closed"] == 2
    assert forecast["months"] == [{"month": "2026-12", "count": 4, "amount": "7000.62",
                                   "weighted_amount": str(weighted_total)}]
    # the rollups the figures come from equal a recount of the records
    with platform.admin() as admin:
        _ok(admin.post("/api/v1/analytics/rebuild"))
        assert _ok(admin.get("/api/v1/analytics/win-loss", params={
            "owner_id": rep["id"], "group_by": "rep"})) == wl
    with platform.client(rep["token"]) as c:
        assert _ok(c.get("/api/v1/analytics/funnel")) == funnel
