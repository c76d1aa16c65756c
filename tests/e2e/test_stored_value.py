"""Stored value (BIL-09) through the gateway with the real services: top-ups (idempotent
under Idempotency-Key), spending on invoices as a payment in the normal allocation,
refunds of unused balance, the balance never below zero — also when two spends race for
it — and a statement where opening + movements = closing."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _ok
from tests.support.platform import Platform
from tests.support.problems import expect_problem

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def people(platform: Platform) -> dict[str, Any]:
    return {"rep": platform.new_user(["sales_rep"]), "other": platform.new_user(["sales_rep"]),
            "finance": platform.new_user(["finance"])}


def _account(platform: Platform, people: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A new customer of the rep and its CNY account (opened by finance)."""
    with platform.client(people["rep"]["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"储值{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
    with platform.client(people["finance"]["token"]) as f:
        account = _ok(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer["id"], "currency": "CNY"}), 201)
    assert (account["balance"], account["currency"]) == ("0.00", "CNY")
    return customer["id"], account


def _invoice(f: httpx.Client, customer_id: str, amount: str) -> dict[str, Any]:
    return _ok(f.post("/api/v1/invoices", json={
        "customer_id": customer_id, "type": "vat_ordinary", "currency": "CNY",
        "due_date": date.today().isoformat(),
        "lines": [{"description": "储值消费", "unit_price": amount}]}), 201)


def _top_up(f: httpx.Client, account_id: str, amount: str, **headers: str) -> httpx.Response:
    return f.post(f"/api/v1/stored-value-accounts/{account_id}/top-ups", headers=headers,
                  json={"amount": amount, "currency": "CNY", "method": "cash"})


def test_top_up_spend_refund_and_a_statement_that_balances(
        platform: Platform, people: dict[str, Any]) -> None:
    customer_id, account = _account(platform, people)
    path = f"/api/v1/stored-value-accounts/{account['id']}"
    with platform.client(people["finance"]["token"]) as f:
        again = expect_problem(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer_id, "currency": "CNY"}), 409,
            "stored_value_account_exists")
        assert again["account_id"] == account["id"]

        # the same top-up sent twice under one key is made once
        key = str(uuid.uuid4())
        first = _ok(_top_up(f, account["id"], "100.00", **{"Idempotency-Key": key}), 201)
        replay = _top_up(f, account["id"], "100.00", **{"Idempotency-Key": key})
        assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed")
        assert replay.json()["entry"]["id"] == first["entry"]["id"]
        assert _ok(f.get(path))["balance"] == "100.00"
        expect_problem(f.post(f"{path}/top-ups", json={
            "amount": "1.00", "currency": "USD", "method": "cash"}), 422, "currency_mismatch")

        invoice = _invoice(f, customer_id, "70.00")
        # no more than the invoice has outstanding, and nothing moves when refused
        expect_problem(f.post(f"{path}/spend", json={
            "invoice_id": invoice["id"], "amount": "80.00", "currency": "CNY"}), 422,
            "over_allocation")
        spent = _ok(f.post(f"{path}/spend", json={
            "invoice_id": invoice["id"], "amount": "70.00", "currency": "CNY"}), 201)
        assert (spent["entry"]["amount"], spent["account"]["balance"]) == ("-70.00", "30.00")
        payment = _ok(f.get(f"/api/v1/payments/{spent['entry']['payment_id']}"))
        assert (payment["method"], payment["allocated_amount"]) == ("stored_value", "70.00")
        assert _ok(f.get(f"/api/v1/invoices/{invoice['id']}"))["status"] == "paid"

        other = _invoice(f, customer_id, "50.00")
        short = expect_problem(f.post(f"{path}/spend", json={
            "invoice_id": other["id"], "amount": "50.00", "currency": "CNY"}), 422,
            "insufficient_balance")
        assert short["balance"] == "30.00"
        # stored value is spent through its account, not recorded as money received
        expect_problem(f.post("/api/v1/payments", json={
            "customer_id": customer_id, "amount": "1.00", "currency": "CNY",
            "method": "stored_value", "received_at": datetime.now(UTC).isoformat()}), 422)

        refunded = _ok(f.post(f"{path}/refunds", json={
            "amount": "30.00", "currency": "CNY", "reason": "退卡"}), 201)
        assert refunded["account"]["balance"] == "0.00"
        expect_problem(f.post(f"{path}/refunds", json={
            "amount": "0.01", "currency": "CNY", "reason": "退卡"}), 422,
            "insufficient_balance")
        # refunding the stored-value payment puts the money back on the account
        _ok(f.post(f"/api/v1/payments/{payment['id']}/refund",
                   json={"amount": "20.00", "reason": "部分退货"}))
        assert _ok(f.get(path))["balance"] == "20.00"

        entries = _ok(f.get(f"{path}/entries", params={"sort": "created_at"}))["items"]
        assert [(e["kind"], e["amount"]) for e in entries] == [
            ("top_up", "100.00"), ("spend", "-70.00"), ("refund", "-30.00"),
            ("payment_refund", "20.00")]
        assert sum(Decimal(e["amount"]) for e in entries) == Decimal("20.00")

        today = date.today()
        st = _ok(f.get("/api/v1/stored-value-statements", params={
            "account_id": account["id"], "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat()}))
        assert (st["opening_balance"], st["total_credit"], st["total_debit"],
                st["closing_balance"]) == ("0.00", "120.00", "100.00", "20.00")
        assert len(st["entries"]) == 4
        later = _ok(f.get("/api/v1/stored-value-statements", params={
            "account_id": account["id"], "from": (today + timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=2)).isoformat()}))
        assert (later["opening_balance"], later["closing_balance"], later["entries"]) == \
            ("20.00", "20.00", [])

    with platform.client(people["rep"]["token"]) as c:  # the owner reads, finance writes
        assert _ok(c.get(path))["balance"] == "20.00"
        assert [a["id"] for a in _ok(c.get("/api/v1/stored-value-accounts", params={
            "customer_id": customer_id}))["items"]] == [account["id"]]
        expect_problem(_top_up(c, account["id"], "1.00"), 403)
    with platform.client(people["other"]["token"]) as c:
        expect_problem(c.get(path), 404, "stored_value_account_not_found")


def test_two_concurrent_spends_of_one_balance_leave_exactly_one_accepted(
        platform: Platform, people: dict[str, Any]) -> None:
    customer_id, account = _account(platform, people)
    path = f"/api/v1/stored-value-accounts/{account['id']}"
    with platform.client(people["finance"]["token"]) as f:
        _ok(_top_up(f, account["id"], "100.00"), 201)
        invoices = [_invoice(f, customer_id, "60.00") for _ in range(2)]

    def spend(invoice: dict[str, Any]) -> httpx.Response:
        with platform.client(people["finance"]["token"]) as f:
            return f.post(f"{path}/spend", json={
                "invoice_id": invoice["id"], "amount": "60.00", "currency": "CNY"})
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(spend, invoices))
    assert sorted(r.status_code for r in answers) == [201, 422], [r.text for r in answers]
    expect_problem(next(r for r in answers if r.status_code == 422), 422,
                   "insufficient_balance")
    with platform.client(people["finance"]["token"]) as f:
        assert _ok(f.get(path))["balance"] == "40.00"
        statuses = sorted(_ok(f.get(f"/api/v1/invoices/{i['id']}"))["status"]
                          for i in invoices)
        assert statuses == ["issued", "paid"]
        entries = _ok(f.get(f"{path}/entries"))["items"]
        assert sorted(e["kind"] for e in entries) == ["spend", "top_up"]
