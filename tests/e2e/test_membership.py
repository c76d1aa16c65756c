"""Membership and points (CUS-17) through the gateway with the real services: a paid
invoice earns points and lifts the tier, a refund claws them back, a payment event
delivered twice earns once, the balance never goes below zero (also under racing
redemptions), the ledger only grows and its sum is the balance."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _ok
from tests.support.events import send_event
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import expect_problem

pytestmark = pytest.mark.e2e

TIERS = [("normal", "普通", 0, "1"), ("silver", "银卡", 1000, "1.5"),
         ("gold", "金卡", 5000, "2")]


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
        _ok(admin.put("/api/v1/membership-settings",
                      json={"currency": "CNY", "points_per_unit": "1"}))
    return {"rep": platform.new_user(["sales_rep"]), "other": platform.new_user(["sales_rep"]),
            "finance": platform.new_user(["finance"])}


def _member(platform: Platform, rep: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new customer of ``rep`` and its member card."""
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"会员{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        card = _ok(c.post("/api/v1/member-cards", json={"customer_id": customer["id"]}), 201)
    return customer, card


def _card(c: httpx.Client, card_id: str) -> dict[str, Any]:
    return _ok(c.get(f"/api/v1/member-cards/{card_id}"))


def _ledger(c: httpx.Client, card_id: str) -> list[dict[str, Any]]:
    return list(_ok(c.get(f"/api/v1/member-cards/{card_id}/points",
                          params={"limit": 500}))["items"])


def _balanced(c: httpx.Client, card: dict[str, Any]) -> None:
    """The ledger's sum is the card's balance; its qualifying entries, the tier's points."""
    ledger = _ledger(c, card["id"])
    assert sum(e["points"] for e in ledger) == card["balance"]
    assert sum(e["points"] for e in ledger if e["qualifying"]) == card["qualifying_points"]


def _paid_invoice(c: httpx.Client, customer_id: str, amount: str) -> dict[str, Any]:
    invoice = _ok(c.post("/api/v1/invoices", json={
        "customer_id": customer_id, "type": "vat_ordinary", "currency": "CNY",
        "due_date": date.today().isoformat(),
        "lines": [{"description": "会员商品", "unit_price": amount}]}), 201)
    return _ok(c.post("/api/v1/payments", json={
        "customer_id": customer_id, "amount": amount, "currency": "CNY",
        "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat(),
        "allocations": [{"invoice_id": invoice["id"], "amount": amount}]}), 201)


def test_a_paid_invoice_earns_points_lifts_the_tier_and_a_refund_claws_back(
        platform: Platform, people: dict[str, Any]) -> None:
    rep, finance = people["rep"], people["finance"]
    customer, card = _member(platform, rep)
    assert card["number"].startswith("M") and card["status"] == "active"
    assert (card["tier"], card["balance"], card["qualifying_points"]) == ("normal", 0, 0)
    with platform.client(rep["token"]) as c:
        again = expect_problem(c.post("/api/v1/member-cards",
                                      json={"customer_id": customer["id"]}), 409,
                               "member_card_exists")
        assert again["card_id"] == card["id"]
    with platform.client(people["other"]["token"]) as c:  # another rep's customer
        expect_problem(c.get(f"/api/v1/member-cards/{card['id']}"), 404,
                       "member_card_not_found")

    with platform.client(finance["token"]) as f:
        payment = _paid_invoice(f, customer["id"], "1200.00")
    with platform.client(rep["token"]) as c:
        earned = wait_until(lambda: (got := _card(c, card["id"]))["balance"] and got, 30,
                            "points earned on the paid invoice")
        assert (earned["balance"], earned["qualifying_points"], earned["tier"]) == \
            (1200, 1200, "silver")
        (entry,) = _ledger(c, card["id"])
        assert (entry["kind"], entry["points"], entry["payment_id"], entry["amount"],
                entry["currency"]) == ("earn", 1200, payment["id"], "1200.00", "CNY")

        # more than the balance is refused and changes nothing
        refused = expect_problem(c.post(f"/api/v1/member-cards/{card['id']}/points/redeem",
                                        json={"points": 1201, "reason": "兑换礼品"}),
                                 422, "insufficient_points")
        assert int(refused["balance"]) == 1200
        redeemed = _ok(c.post(f"/api/v1/member-cards/{card['id']}/points/redeem",
                              json={"points": 300, "reason": "兑换礼品"}), 201)
        assert redeemed["entry"]["points"] == -300 and redeemed["entry"]["balance_after"] == 900
        # a redemption does not lower the tier
        assert (redeemed["card"]["balance"], redeemed["card"]["tier"]) == (900, "silver")
        _balanced(c, redeemed["card"])

    with platform.client(finance["token"]) as f:
        # a redemption is undone by a counter-entry, once
        path = f"/api/v1/member-cards/{card['id']}/points/{redeemed['entry']['id']}/reverse"
        reversal = _ok(f.post(path, json={"reason": "误操作"}), 201)
        assert reversal["entry"]["reverses_id"] == redeemed["entry"]["id"]
        assert reversal["card"]["balance"] == 1200
        expect_problem(f.post(path, json={"reason": "again"}), 422, "entry_reversed")
        # half the payment goes back: half its points go
        _ok(f.post(f"/api/v1/payments/{payment['id']}/refund",
                   json={"amount": "600.00", "reason": "退货"}))
    with platform.client(rep["token"]) as c:
        clawed = wait_until(lambda: (got := _card(c, card["id"]))["balance"] == 600 and got,
                            30, "points clawed back by the refund")
        assert (clawed["qualifying_points"], clawed["tier"]) == (600, "normal")
        kinds = [e["kind"] for e in _ledger(c, card["id"])]
        assert sorted(kinds) == ["clawback", "earn", "redeem", "reversal"]
        _balanced(c, clawed)


def test_a_payment_event_delivered_twice_earns_once(
        platform: Platform, people: dict[str, Any]) -> None:
    customer, card = _member(platform, people["rep"])
    payment_id = str(uuid.uuid4())
    sent = send_event(platform.amqp_uri, "billing", "payment.received", {
        "payment_id": payment_id, "customer_id": customer["id"], "amount": "250.00",
        "currency": "CNY", "method": "bank_transfer",
        "received_at": datetime.now(UTC).isoformat(),
        "allocations": [{"invoice_id": str(uuid.uuid4()), "amount": "250.00"}]}, times=2)
    wait_until(lambda: platform.consumed("customer", [sent]) == {sent}, 30, "event consumed")
    with platform.client(people["rep"]["token"]) as c:
        got = _card(c, card["id"])
        assert got["balance"] == 250
        assert [e["payment_id"] for e in _ledger(c, card["id"])] == [payment_id]


def test_racing_redemptions_never_spend_the_same_points(
        platform: Platform, people: dict[str, Any]) -> None:
    _, card = _member(platform, people["rep"])
    with platform.client(people["finance"]["token"]) as f:
        _ok(f.post(f"/api/v1/member-cards/{card['id']}/points/adjust",
                   json={"points": 100, "reason": "开卡礼"}), 201)

    def redeem(_: int) -> httpx.Response:
        with platform.client(people["rep"]["token"]) as c:
            return c.post(f"/api/v1/member-cards/{card['id']}/points/redeem",
                          json={"points": 80, "reason": "兑换"})
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(redeem, range(2)))
    assert sorted(r.status_code for r in answers) == [201, 422]
    loser = next(r for r in answers if r.status_code == 422)
    expect_problem(loser, 422, "insufficient_points")
    with platform.client(people["rep"]["token"]) as c:
        final = _card(c, card["id"])
        assert final["balance"] == 20
        _balanced(c, final)


def test_card_lifecycle_and_versions(platform: Platform, people: dict[str, Any]) -> None:
    _, card = _member(platform, people["rep"])
    with platform.client(people["rep"]["token"]) as c:
        status = f"/api/v1/member-cards/{card['id']}/status"
        frozen = _ok(c.post(status, json={"action": "freeze"},
                            headers={"If-Match": f'"{card["version"]}"'}))
        assert frozen["status"] == "frozen" and frozen["allowed_actions"] == \
            ["cancel", "unfreeze"]
        expect_problem(c.post(status, json={"action": "unfreeze"},
                              headers={"If-Match": f'"{card["version"]}"'}), 412)
        problem = expect_problem(c.post(f"/api/v1/member-cards/{card['id']}/points/redeem",
                                        json={"points": 1, "reason": "x"}),
                                 409, "invalid_transition")
        assert problem["current_state"] == "frozen"
        _ok(c.post(status, json={"action": "cancel"}))
        expect_problem(c.post(status, json={"action": "unfreeze"}), 409, "invalid_transition")
        listed = _ok(c.get("/api/v1/member-cards", params={
            "status": "cancelled", "customer_id": card["customer_id"]}))["items"]
        assert [x["id"] for x in listed] == [card["id"]]
        assert _ok(c.get("/api/v1/member-cards", params={
            "status": "active", "customer_id": card["customer_id"]}))["items"] == []


def test_a_merged_customers_card_goes_to_the_survivor(
        platform: Platform, people: dict[str, Any]) -> None:
    merged, card = _member(platform, people["rep"])
    with platform.client(people["rep"]["token"]) as c:
        survivor = _ok(c.post("/api/v1/customers", json={
            "name": f"存续{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
    with platform.admin() as admin:
        _ok(admin.post("/api/v1/customers/merge", json={
            "survivor_id": survivor["id"], "merged_id": merged["id"]}))
    with platform.client(people["rep"]["token"]) as c:
        moved = _card(c, card["id"])
        assert (moved["customer_id"], moved["number"]) == (survivor["id"], card["number"])
        assert [x["id"] for x in _ok(c.get("/api/v1/member-cards", params={
            "customer_id": survivor["id"]}))["items"]] == [card["id"]]


def test_points_expire_once_as_one_ledger_entry(platform: Platform,
                                                people: dict[str, Any]) -> None:
    rep, finance = people["rep"], people["finance"]
    customer, card = _member(platform, rep)
    with platform.client(finance["token"]) as f:
        _paid_invoice(f, customer["id"], "500.00")
    with platform.client(rep["token"]) as c:
        wait_until(lambda: _card(c, card["id"])["balance"] == 500, 30, "points earned")
        _ok(c.post(f"/api/v1/member-cards/{card['id']}/points/redeem",
                   json={"points": 100, "reason": "兑换礼品"}), 201)
    # every point in this database was posted today (UTC): with years=1 it can be used
    # until 31 December next year
    today = datetime.now(UTC).date()
    last_day, expired_on = date(today.year + 1, 12, 31), date(today.year + 2, 1, 1)
    run = "/api/v1/membership/expire-points"
    with platform.admin() as admin:
        # off unless configured
        assert _ok(admin.post(run, json={"as_of": expired_on.isoformat()}))["points"] == 0
        _ok(admin.put("/api/v1/membership-settings", json={
            "currency": "CNY", "points_per_unit": "1", "points_expiry": {"years": 1}}))
        try:
            assert _ok(admin.get("/api/v1/membership-settings"))["points_expiry"] == \
                {"years": 1}
            assert _ok(admin.post(run, json={"as_of": last_day.isoformat()})) == \
                {"as_of": last_day.isoformat(), "cards": 0, "points": 0}
            first = _ok(admin.post(run, json={"as_of": expired_on.isoformat()}))
            assert first["cards"] >= 1 and first["points"] >= 400
            again = _ok(admin.post(run, json={"as_of": expired_on.isoformat()}))
            assert (again["cards"], again["points"]) == (0, 0)
        finally:
            _ok(admin.put("/api/v1/membership-settings",
                          json={"currency": "CNY", "points_per_unit": "1"}))
    with platform.client(rep["token"]) as c:
        after = _card(c, card["id"])
        # the tier follows what was earned: an expiry, like a redemption, leaves it
        assert (after["balance"], after["qualifying_points"]) == (0, 500)
        (expired,) = [e for e in _ledger(c, card["id"]) if e["kind"] == "expire"]
        assert (expired["points"], expired["qualifying"], expired["balance_after"]) == \
            (-400, False, 0)
        _balanced(c, after)
