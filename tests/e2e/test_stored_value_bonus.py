"""Stored value of issue #27 (BIL-09) through the gateway with the real services: a
top-up bonus by the configured tiers held apart from the principal, spends taking both in
proportion, a refund paying out principal only and forfeiting the bonus in the same
share, a refunded payment putting both back, a statement per part; accounts per member
card, the customer's balance their sum; racing spends of a card's balance never
overspend it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _ok
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import expect_problem

pytestmark = pytest.mark.e2e

TIERS = [{"currency": "CNY", "min_amount": "2000.00", "bonus": "300.00"},
         {"currency": "CNY", "min_amount": "1000.00", "bonus": "100.00"}]


@pytest.fixture(scope="module")
def people(platform: Platform) -> Iterator[dict[str, Any]]:
    with platform.admin() as admin:
        saved = _ok(admin.put("/api/v1/stored-value-settings", json={"top_up_bonus": TIERS}))
        assert [t["min_amount"] for t in saved["top_up_bonus"]] == ["1000.00", "2000.00"]
        expect_problem(admin.put("/api/v1/stored-value-settings", json={"top_up_bonus": [
            {"currency": "CNY", "min_amount": "100.00", "bonus": "0"}]}), 422,
            "invalid_bonus_tier")
    try:
        yield {"rep": platform.new_user(["sales_rep"]),
               "finance": platform.new_user(["finance"])}
    finally:
        with platform.admin() as admin:
            _ok(admin.put("/api/v1/stored-value-settings", json={"top_up_bonus": []}))


def _customer_with_card(platform: Platform, rep: dict[str, Any]
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"储值卡{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        card = _ok(c.post("/api/v1/member-cards", json={"customer_id": customer["id"]}), 201)
    return customer, card


def _invoice(f: httpx.Client, customer_id: str, amount: str) -> dict[str, Any]:
    return _ok(f.post("/api/v1/invoices", json={
        "customer_id": customer_id, "type": "vat_ordinary", "currency": "CNY",
        "due_date": date.today().isoformat(),
        "lines": [{"description": "储值消费", "unit_price": amount}]}), 201)


def _top_up(f: httpx.Client, account_id: str, amount: str) -> dict[str, Any]:
    return _ok(f.post(f"/api/v1/stored-value-accounts/{account_id}/top-ups",
                      json={"amount": amount, "currency": "CNY", "method": "cash"}), 201)


def _parts(account: dict[str, Any]) -> tuple[str, str, str]:
    return account["balance"], account["principal_balance"], account["bonus_balance"]


def test_a_top_up_bonus_is_held_apart_spent_in_proportion_and_forfeited_on_refund(
        platform: Platform, people: dict[str, Any]) -> None:
    customer, card = _customer_with_card(platform, people["rep"])
    with platform.client(people["finance"]["token"]) as f:
        account = _ok(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer["id"], "currency": "CNY", "card_id": card["id"]}), 201)
        assert (account["card_id"], account["card_number"]) == (card["id"], card["number"])
        again = expect_problem(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer["id"], "currency": "CNY", "card_id": card["id"]}), 409,
            "stored_value_account_exists")
        assert again["account_id"] == account["id"]
        own = _ok(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer["id"], "currency": "CNY"}), 201)
        path = f"/api/v1/stored-value-accounts/{account['id']}"

        # 充1000送100: the bonus on top, apart
        topped = _top_up(f, account["id"], "1000.00")
        assert (topped["entry"]["amount"], topped["entry"]["principal_amount"],
                topped["entry"]["bonus_amount"]) == ("1100.00", "1000.00", "100.00")
        assert _parts(topped["account"]) == ("1100.00", "1000.00", "100.00")
        # below every tier: no bonus
        assert _parts(_top_up(f, own["id"], "300.00")["account"]) == \
            ("300.00", "300.00", "0.00")

        # 550 spent: 500 principal, 50 bonus (10:1, as held)
        invoice = _invoice(f, customer["id"], "550.00")
        spent = _ok(f.post(f"{path}/spend", json={
            "invoice_id": invoice["id"], "amount": "550.00", "currency": "CNY"}), 201)
        assert (spent["entry"]["principal_amount"], spent["entry"]["bonus_amount"]) == \
            ("-500.00", "-50.00")
        assert _parts(spent["account"]) == ("550.00", "500.00", "50.00")

        # the bonus is not money to pay out: at most the principal, and the bonus goes
        # in the same share
        over = expect_problem(f.post(f"{path}/refunds", json={
            "amount": "500.01", "currency": "CNY", "reason": "退卡"}), 422,
            "insufficient_balance")
        assert over["refundable"] == "500.00"
        refunded = _ok(f.post(f"{path}/refunds", json={
            "amount": "250.00", "currency": "CNY", "reason": "部分退卡"}), 201)
        assert (refunded["entry"]["amount"], refunded["entry"]["principal_amount"],
                refunded["entry"]["bonus_amount"]) == ("-275.00", "-250.00", "-25.00")
        assert _parts(refunded["account"]) == ("275.00", "250.00", "25.00")

        # a refund of the stored-value payment puts back the spend's parts: 110 = 100 + 10
        _ok(f.post(f"/api/v1/payments/{spent['entry']['payment_id']}/refund",
                   json={"amount": "110.00", "reason": "退货"}))
        assert _parts(_ok(f.get(path))) == ("385.00", "350.00", "35.00")
        entries = _ok(f.get(f"{path}/entries", params={"sort": "created_at"}))["items"]
        assert [(e["kind"], e["principal_amount"], e["bonus_amount"], e["bonus_after"])
                for e in entries] == [
            ("top_up", "1000.00", "100.00", "100.00"), ("spend", "-500.00", "-50.00", "50.00"),
            ("refund", "-250.00", "-25.00", "25.00"),
            ("payment_refund", "100.00", "10.00", "35.00")]

        today = date.today()
        st = _ok(f.get("/api/v1/stored-value-statements", params={
            "account_id": account["id"], "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat()}))
        assert (st["opening_balance"], st["closing_balance"]) == ("0.00", "385.00")
        assert st["principal"] == {"opening": "0.00", "credit": "1100.00",
                                   "debit": "750.00", "closing": "350.00"}
        assert st["bonus"] == {"opening": "0.00", "credit": "110.00", "debit": "75.00",
                               "closing": "35.00"}

        # the customer's balance is the sum of its own account and its card's
        (cny,) = _ok(f.get("/api/v1/stored-value-balances",
                           params={"customer_id": customer["id"]}))["balances"]
        assert (cny["currency"], cny["balance"], cny["principal_balance"],
                cny["bonus_balance"]) == ("CNY", "685.00", "650.00", "35.00")
        assert [(a["id"], a["card_id"]) for a in cny["accounts"]] == [
            (own["id"], None), (account["id"], card["id"])]
        assert sum(Decimal(a["balance"]) for a in cny["accounts"]) == Decimal("685.00")
        assert [a["id"] for a in _ok(f.get("/api/v1/stored-value-accounts", params={
            "card_id": card["id"]}))["items"]] == [account["id"]]

        # a card of another customer is not this customer's
        other, other_card = _customer_with_card(platform, people["rep"])
        expect_problem(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer["id"], "currency": "CNY", "card_id": other_card["id"]}),
            422, "card_not_of_customer")
        expect_problem(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": other["id"], "currency": "CNY", "card_id": str(uuid.uuid4())}),
            422, "unknown_member_card")
    with platform.client(people["rep"]["token"]) as c:  # the owner reads the balances
        (cny,) = _ok(c.get("/api/v1/stored-value-balances",
                           params={"customer_id": customer["id"]}))["balances"]
        assert cny["balance"] == "685.00"
        expect_problem(c.put("/api/v1/stored-value-settings", json={"top_up_bonus": []}), 403)


def test_racing_spends_of_a_cards_balance_leave_one_accepted_and_no_part_negative(
        platform: Platform, people: dict[str, Any]) -> None:
    customer, card = _customer_with_card(platform, people["rep"])
    with platform.client(people["finance"]["token"]) as f:
        account = _ok(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer["id"], "currency": "CNY", "card_id": card["id"]}), 201)
        _top_up(f, account["id"], "1000.00")  # 1100 held
        invoices = [_invoice(f, customer["id"], "600.00") for _ in range(2)]
    path = f"/api/v1/stored-value-accounts/{account['id']}"

    def spend(invoice: dict[str, Any]) -> httpx.Response:
        with platform.client(people["finance"]["token"]) as f:
            return f.post(f"{path}/spend", json={
                "invoice_id": invoice["id"], "amount": "600.00", "currency": "CNY"})
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(spend, invoices))
    assert sorted(r.status_code for r in answers) == [201, 422], [r.text for r in answers]
    expect_problem(next(r for r in answers if r.status_code == 422), 422,
                   "insufficient_balance")
    with platform.client(people["finance"]["token"]) as f:
        after = _ok(f.get(path))
        # 600 of 1000 + 100 held: 545.45 principal, 54.55 bonus
        assert _parts(after) == ("500.00", "454.55", "45.45")
        entries = _ok(f.get(f"{path}/entries"))["items"]
        assert sorted(e["kind"] for e in entries) == ["spend", "top_up"]


def test_a_card_account_follows_its_card_frozen_then_cancelled(
        platform: Platform, people: dict[str, Any]) -> None:
    """A frozen card's account takes no top-up and pays nothing; unfrozen it does again;
    a cancelled card's unused principal may still be refunded, nothing else."""
    customer, card = _customer_with_card(platform, people["rep"])
    status = f"/api/v1/member-cards/{card['id']}/status"
    with platform.client(people["finance"]["token"]) as f, \
            platform.client(people["rep"]["token"]) as c:
        account = _ok(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer["id"], "currency": "CNY", "card_id": card["id"]}), 201)
        path = f"/api/v1/stored-value-accounts/{account['id']}"
        _top_up(f, account["id"], "300.00")
        invoice = _invoice(f, customer["id"], "100.00")
        spend = {"invoice_id": invoice["id"], "amount": "100.00", "currency": "CNY"}
        top_up = {"amount": "50.00", "currency": "CNY", "method": "cash"}
        assert account["card_status"] == "active"

        def card_is(state: str) -> bool:  # billing has the card's event
            return bool(_ok(f.get(path))["card_status"] == state)
        _ok(c.post(status, json={"action": "freeze"}))
        wait_until(lambda: card_is("frozen"), 30, "billing follows the frozen card")
        for action, body in (("top-ups", top_up), ("spend", spend),
                             ("refunds", {"amount": "10.00", "currency": "CNY",
                                          "reason": "冻结中退款"})):
            problem = expect_problem(f.post(f"{path}/{action}", json=body), 409,
                                     "invalid_transition")
            assert problem["current_state"] == "frozen"
        assert _ok(f.get(path))["balance"] == "300.00"  # nothing moved

        _ok(c.post(status, json={"action": "unfreeze"}))
        wait_until(lambda: card_is("active"), 30, "billing follows the unfrozen card")
        _ok(f.post(f"{path}/spend", json=spend), 201)
        assert _ok(f.get(path))["balance"] == "200.00"

        _ok(c.post(status, json={"action": "cancel"}))
        wait_until(lambda: card_is("cancelled"), 30, "billing follows the cancelled card")
        for action, body in (("top-ups", top_up), ("spend", spend)):
            expect_problem(f.post(f"{path}/{action}", json=body), 409, "invalid_transition")
        refunded = _ok(f.post(f"{path}/refunds", json={
            "amount": "200.00", "currency": "CNY", "reason": "退卡"}), 201)
        assert refunded["account"]["balance"] == "0.00"
