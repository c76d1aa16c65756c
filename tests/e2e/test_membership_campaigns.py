"""Membership of issue #27 (CUS-17) through the gateway with the real services: campaign
bonus rules (linked to a sales campaign, limited to a segment, a tier, a minimum) on
the points a payment earns, shown apart on the earn entry, clawed back in share, earned
once for a payment event delivered twice; tiers over a rolling period, recomputed when
the window moves with ``member.tier_changed`` published once per change."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from kombu import Connection, Exchange, Queue

from tests.e2e.sales_support import _ok
from tests.e2e.service_desk_support import EventTap
from tests.support.events import send_event
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import expect_problem

pytestmark = pytest.mark.e2e

TIERS = [("normal", "普通", 0, "1"), ("silver", "银卡", 1000, "1.5"),
         ("gold", "金卡", 5000, "2")]
SETTINGS = {"currency": "CNY", "points_per_unit": "1"}


@pytest.fixture(scope="module")
def people(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        have = {t["code"] for t in _ok(admin.get("/api/v1/member-tiers",
                                                 params={"limit": 500}))["items"]}
        for code, name, threshold, multiplier in TIERS:
            if code not in have:
                _ok(admin.post("/api/v1/member-tiers", json={
                    "code": code, "name": name, "threshold": threshold,
                    "multiplier": multiplier}), 201)
        _ok(admin.put("/api/v1/membership-settings", json=SETTINGS))
    return {"rep": platform.new_user(["sales_rep"]), "finance": platform.new_user(["finance"])}


@pytest.fixture()
def member_events(platform: Platform) -> Iterator[EventTap]:
    conn = Connection(platform.amqp_uri)
    queue = Queue(f"test-member-{uuid.uuid4().hex[:6]}",
                  Exchange("customer.events", type="topic", durable=True),
                  routing_key="member.#", auto_delete=True)
    queue(conn.channel()).declare()
    try:
        yield EventTap(conn, queue)
    finally:
        conn.release()


def _member(platform: Platform, rep: dict[str, Any], tag: str | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"活动会员{uuid.uuid4().hex[:6]}有限公司", "kind": "company",
            "tags": [tag] if tag else []}), 201)
        card = _ok(c.post("/api/v1/member-cards", json={"customer_id": customer["id"]}), 201)
    return customer, card


def _card(c: httpx.Client, card_id: str) -> dict[str, Any]:
    return _ok(c.get(f"/api/v1/member-cards/{card_id}"))


def _ledger(c: httpx.Client, card_id: str) -> list[dict[str, Any]]:
    return list(_ok(c.get(f"/api/v1/member-cards/{card_id}/points",
                          params={"limit": 500, "sort": "created_at"}))["items"])


def _paid_invoice(c: httpx.Client, customer_id: str, amount: str) -> dict[str, Any]:
    invoice = _ok(c.post("/api/v1/invoices", json={
        "customer_id": customer_id, "type": "vat_ordinary", "currency": "CNY",
        "due_date": date.today().isoformat(),
        "lines": [{"description": "活动商品", "unit_price": amount}]}), 201)
    return _ok(c.post("/api/v1/payments", json={
        "customer_id": customer_id, "amount": amount, "currency": "CNY",
        "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat(),
        "allocations": [{"invoice_id": invoice["id"], "amount": amount}]}), 201)


def _earned(c: httpx.Client, card_id: str, payment_id: str) -> dict[str, Any]:
    found = wait_until(lambda: [e for e in _ledger(c, card_id)
                                if e["payment_id"] == payment_id and e["kind"] == "earn"],
                       30, f"points earned on payment {payment_id}")
    return dict(found[0])


def test_campaign_bonus_rules_add_points_shown_apart_and_clawed_back_in_share(
        platform: Platform, people: dict[str, Any]) -> None:
    rep, finance = people["rep"], people["finance"]
    tag = f"双十一{uuid.uuid4().hex[:6]}"
    customer, card = _member(platform, rep, tag)
    today = datetime.now(UTC).date()
    rules = "/api/v1/points-bonus-rules"
    with platform.admin() as admin:
        campaign = _ok(admin.post("/api/v1/campaigns", json={
            "name": f"双倍积分周{tag}", "kind": "promotion", "budget": "10000.00",
            "start_date": (today - timedelta(days=1)).isoformat(),
            "end_date": (today + timedelta(days=1)).isoformat()}), 201)
        # the rules only cover this test's customer: a segment of its tag
        segment = _ok(admin.post("/api/v1/segments", json={"name": f"活动{tag}", "conditions": [
            {"field": "tags", "op": "contains", "value": tag}]}), 201)
        expect_problem(admin.post(rules, json={"name": "x", "campaign_id": str(uuid.uuid4()),
                                               "multiplier": "2"}), 422, "unknown_campaign")
        expect_problem(admin.post(rules, json={"name": "x", "starts_on": today.isoformat(),
                                               "ends_on": today.isoformat()}),
                       422, "invalid_bonus_rule")
        expect_problem(admin.post(rules, json={"name": "x", "multiplier": "2"}), 422,
                       "bonus_period_required")
        # double points for the campaign's dates (taken from the campaign)
        double = _ok(admin.post(rules, json={
            "name": "双倍积分", "campaign_id": campaign["id"], "multiplier": "2",
            "segment_id": segment["id"]}), 201)
        assert (double["starts_on"], double["ends_on"], double["campaign_name"]) == (
            campaign["start_date"], campaign["end_date"], campaign["name"])
        # 88 points once per payment of 500 or more by a silver card
        gift = _ok(admin.post(rules, json={
            "name": "银卡满500送88", "fixed_points": 88, "min_amount": "500.00",
            "tiers": ["silver"], "segment_id": segment["id"],
            "starts_on": today.isoformat(), "ends_on": today.isoformat()}), 201)
        listed = _ok(admin.get(rules, params={"campaign_id": campaign["id"]}))["items"]
        assert [r["id"] for r in listed] == [double["id"]]
    with platform.client(rep["token"]) as c:  # reading is for members' staff, not changing
        assert _ok(c.get(f"{rules}/{gift['id']}"))["fixed_points"] == 88
        expect_problem(c.post(rules, json={"name": "x", "multiplier": "2"}), 403)

    try:
        with platform.client(finance["token"]) as f:
            first = _paid_invoice(f, customer["id"], "1000.00")
        with platform.client(rep["token"]) as c:
            # a normal card (1x): 1000 points and 1000 bonus; not silver yet: no gift
            entry = _earned(c, card["id"], first["id"])
            assert (entry["points"], entry["bonus_points"]) == (2000, 1000)
            assert [(b["rule_id"], b["points"], b["campaign_id"])
                    for b in entry["bonus_rules"]] == [(double["id"], 1000, campaign["id"])]
            assert _card(c, card["id"])["tier"] == "silver"

        with platform.client(finance["token"]) as f:
            second = _paid_invoice(f, customer["id"], "600.00")
        with platform.client(rep["token"]) as c:
            # silver (1.5x): 900 points, the double adds 900, the gift 88
            entry = _earned(c, card["id"], second["id"])
            assert (entry["points"], entry["bonus_points"]) == (1888, 988)
            assert sorted((b["name"], b["points"], b["fixed_points"])
                          for b in entry["bonus_rules"]) == [("双倍积分", 900, 0),
                                                             ("银卡满500送88", 88, 88)]

        # the same payment event twice earns (and gets its bonus) once
        payment_id = str(uuid.uuid4())
        sent = send_event(platform.amqp_uri, "billing", "payment.received", {
            "payment_id": payment_id, "customer_id": customer["id"], "amount": "500.00",
            "currency": "CNY", "method": "bank_transfer",
            "received_at": datetime.now(UTC).isoformat(),
            "allocations": [{"invoice_id": str(uuid.uuid4()), "amount": "500.00"}]},
            times=2)
        wait_until(lambda: platform.consumed("customer", [sent]) == {sent}, 30,
                   "event consumed")
        with platform.client(rep["token"]) as c:
            (twice,) = [e for e in _ledger(c, card["id"]) if e["payment_id"] == payment_id]
            # still silver: 750, the double 750 more, the gift 88
            assert (twice["points"], twice["bonus_points"]) == (750 + 750 + 88, 838)
            assert _card(c, card["id"])["tier"] == "gold"  # 5476 qualifying points
        # a payment received before the campaign's dates: no bonus
        early_id = str(uuid.uuid4())
        early = send_event(platform.amqp_uri, "billing", "payment.received", {
            "payment_id": early_id, "customer_id": customer["id"], "amount": "100.00",
            "currency": "CNY", "method": "bank_transfer",
            "received_at": (datetime.now(UTC) - timedelta(days=10)).isoformat(),
            "allocations": [{"invoice_id": str(uuid.uuid4()), "amount": "100.00"}]}, times=1)
        wait_until(lambda: platform.consumed("customer", [early]) == {early}, 30,
                   "event consumed")
        with platform.client(rep["token"]) as c:
            (before,) = [e for e in _ledger(c, card["id"]) if e["payment_id"] == early_id]
            assert (before["points"], before["bonus_points"], before["bonus_rules"]) == \
                (200, 0, [])

        with platform.client(finance["token"]) as f:
            _ok(f.post(f"/api/v1/payments/{first['id']}/refund",
                       json={"amount": "500.00", "reason": "退货"}))
        with platform.client(rep["token"]) as c:
            clawed = wait_until(lambda: [e for e in _ledger(c, card["id"])
                                         if e["kind"] == "clawback"], 30, "claw-back")
            # half the payment back: half its 2000 points, of them half its bonus
            assert (clawed[0]["points"], clawed[0]["bonus_points"]) == (-1000, -500)
            final = _card(c, card["id"])
            ledger = _ledger(c, card["id"])
            assert sum(e["points"] for e in ledger) == final["balance"] == \
                2000 + 1888 + 1588 + 200 - 1000

        with platform.admin() as admin:
            path = f"{rules}/{gift['id']}"
            changed = _ok(admin.patch(path, json={"active": False},
                                      headers={"If-Match": f'"{gift["version"]}"'}))
            assert (changed["active"], changed["version"]) == (False, gift["version"] + 1)
            expect_problem(admin.patch(path, json={"fixed_points": 1},
                                       headers={"If-Match": f'"{gift["version"]}"'}), 412)
            inactive = _ok(admin.get(rules, params={
                "active": False, "running_on": today.isoformat(), "limit": 500}))["items"]
            assert gift["id"] in {r["id"] for r in inactive}
            assert double["id"] not in {r["id"] for r in inactive}
    finally:
        with platform.admin() as admin:
            for rule in (double, gift):
                _ok(admin.delete(f"{rules}/{rule['id']}"))
                expect_problem(admin.get(f"{rules}/{rule['id']}"), 404,
                               "points_bonus_rule_not_found")


def test_tiers_follow_a_rolling_period_and_move_with_the_window_once(
        platform: Platform, people: dict[str, Any], member_events: EventTap) -> None:
    rep, finance = people["rep"], people["finance"]
    customer, card = _member(platform, rep)
    run = "/api/v1/membership/recompute-tiers"
    today = datetime.now(UTC).date()
    # a year and a day on, what was posted today has left a 12-month window
    later = today + timedelta(days=367)
    with platform.admin() as admin:
        _ok(admin.put("/api/v1/membership-settings", json={
            **SETTINGS, "tier_period": {"measure": "points", "months": 12}}))
    try:
        with platform.client(finance["token"]) as f:
            payment = _paid_invoice(f, customer["id"], "1200.00")
            with platform.client(rep["token"]) as c:
                _earned(c, card["id"], payment["id"])
            _ok(f.post(f"/api/v1/member-cards/{card['id']}/points/adjust",
                       json={"points": 4000, "reason": "活动补录"}), 201)
        with platform.client(rep["token"]) as c:
            got = _card(c, card["id"])
            assert (got["tier"], got["tier_value"]) == ("gold", 5200)

        with platform.admin() as admin:
            assert _ok(admin.post(run, json={}))["as_of"] == today.isoformat()
            moved = _ok(admin.post(run, json={"as_of": later.isoformat()}))
            assert moved["changed"] >= 1 and moved["cards"] >= 1
            # the window moved once: a second run changes nothing more
            assert _ok(admin.post(run, json={"as_of": later.isoformat()}))["changed"] == 0
        with platform.client(rep["token"]) as c:
            got = _card(c, card["id"])
            assert (got["tier"], got["tier_value"], got["qualifying_points"]) == \
                ("normal", 0, 5200)

        # measured in money paid: 1200 (the adjustment is no money)
        with platform.admin() as admin:
            _ok(admin.put("/api/v1/membership-settings", json={
                **SETTINGS, "tier_period": {"measure": "spend", "months": 12}}))
            _ok(admin.post(run, json={"as_of": today.isoformat()}))
        with platform.client(rep["token"]) as c:
            got = _card(c, card["id"])
            assert (got["tier"], got["tier_value"]) == ("silver", 1200)
            # a later entry, published after the tier changes: once it is seen, they are
            redeemed = _ok(c.post(f"/api/v1/member-cards/{card['id']}/points/redeem",
                                  json={"points": 1, "reason": "信号"}), 201)
        member_events.wait_for("member.points_changed",
                               lambda d: d["entry_id"] == redeemed["entry"]["id"])
        changes = member_events.matching("member.tier_changed",
                                         lambda d: d["card_id"] == card["id"])
        # each change once: two at entries, two when the runs moved the tier
        assert sorted((e["data"]["from_tier"], e["data"]["to_tier"], e["data"]["recomputed"])
                      for e in changes) == [("gold", "normal", True), ("normal", "silver", False),
                                            ("normal", "silver", True), ("silver", "gold", False)]
    finally:
        with platform.admin() as admin:
            _ok(admin.put("/api/v1/membership-settings", json=SETTINGS))
            _ok(admin.post(run, json={}))  # every card back on its points of all time
    with platform.client(rep["token"]) as c:
        assert _card(c, card["id"])["tier"] == "gold"
