"""Billing through the gateway (BIL-01 … BIL-08). The sales service's ``order.confirmed``
is played by a plain AMQP publisher sending the documented CloudEvent onto
``sales.events`` (delivered twice on purpose: the effect must happen once)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crm_platform.rpc_client import AsyncRpcClient
from sqlalchemy import create_engine, text

from tests.support.events import send_event
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
D = Decimal


def _today() -> date:
    return datetime.now(UTC).date()


def _send(platform: Platform, event_type: str, data: dict[str, Any], times: int = 2) -> str:
    return send_event(platform.amqp_uri, "sales", event_type, data, times)


def _order(customer: dict[str, Any], amount: str, *, terms: list[dict[str, Any]] | None = None,
           confirmed_on: date | None = None, order_id: str | None = None) -> dict[str, Any]:
    day = confirmed_on or _today()
    half = (D(amount) / 2).quantize(D("0.01"))
    return {
        "order_id": order_id or str(uuid.uuid4()), "number": f"SO-{uuid.uuid4().hex[:8]}",
        "customer_id": customer["id"], "customer_name": customer["name"],
        "owner_id": customer["owner_id"], "owner_team_id": customer.get("owner_team_id"),
        "currency": "CNY", "amount": amount,
        "lines": [{"product_id": "p-1", "product_name": "服务器", "quantity": "1",
                   "unit_price": str(half), "discount_percent": "0", "tax_rate": "0.13",
                   "amount": str(half)},
                  {"product_id": "p-2", "product_name": "实施服务", "quantity": "1",
                   "unit_price": str(D(amount) - half), "discount_percent": "0",
                   "tax_rate": "0.06", "amount": str(D(amount) - half)}],
        "payment_terms": {"installments": terms or []},
        "tax_amount": "0.00", "confirmed_at": datetime.combine(day, time(12, 0), UTC).isoformat(),
        "signed_at": day.isoformat(), "start_date": None, "end_date": None,
        "credit_override_by": None,
    }


def _plan(client: httpx.Client, order_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        items = client.get("/api/v1/payment-plans", params={"order_id": order_id}).json()
        return items["items"][0] if items.get("items") else None
    return dict(wait_until(found, 30, f"payment plan of {order_id}"))


def _invoices(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/invoices", params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _pay(client: httpx.Client, customer_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    body = {"customer_id": customer_id, "amount": amount, "currency": "CNY",
            "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat(), **extra}
    r = client.post("/api/v1/payments", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _new_customer(platform: Platform, rep: dict[str, Any], prefix: str) -> dict[str, Any]:
    with platform.client(rep["token"]) as c:
        r = c.post("/api/v1/customers", json={"name": f"{prefix}{uuid.uuid4().hex[:6]}有限公司",
                                              "kind": "company"})
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture(scope="module")
def org(platform: Platform) -> dict[str, Any]:
    """A sales team (manager, two reps), another team with its manager, and finance."""
    with platform.admin() as admin:
        team = admin.post("/api/v1/teams", json={"name": f"华东-{uuid.uuid4().hex[:4]}"}).json()
        other = admin.post("/api/v1/teams", json={"name": f"华南-{uuid.uuid4().hex[:4]}"}).json()
    manager = platform.new_user(["sales_manager"], team_id=team["id"], display_name="钱经理")
    rep_a = platform.new_user(["sales_rep"], team_id=team["id"], display_name="孙丽")
    rep_b = platform.new_user(["sales_rep"], team_id=team["id"], display_name="周强")
    other_manager = platform.new_user(["sales_manager"], team_id=other["id"],
                                      display_name="吴经理")
    finance = platform.new_user(["finance"], display_name="郑会计")
    with platform.admin() as admin:
        for t, m in ((team, manager), (other, other_manager)):
            r = admin.patch(f"/api/v1/teams/{t['id']}", json={"manager_id": m["id"]})
            assert r.status_code == 200, r.text
    # billing knows the rep, the team and its manager once a submitted expense names him
    with platform.client(rep_a["token"]) as c:
        def approver_known() -> bool:
            e = c.post("/api/v1/expenses", json={
                "kind": "personal", "category": "other", "amount": "1.00",
                "description": "probe", "incurred_on": _today().isoformat()}).json()
            got = c.post(f"/api/v1/expenses/{e['id']}/submit").json()
            return bool(got.get("approver_id") == manager["id"])
        wait_until(approver_known, 30, "staff and team copies in billing", interval=0.5)
    return {"team": team, "manager": manager, "a": rep_a, "b": rep_b,
            "other_manager": other_manager, "finance": finance}


def test_order_to_cash(platform: Platform, org: dict[str, Any]) -> None:
    rep, fin = org["a"], org["finance"]
    customer = _new_customer(platform, rep, "杭州回款")
    order = _order(customer, "1234.50", terms=[{"percent": "30", "due_days": 0},
                                               {"percent": "70", "due_days": 30}])
    _send(platform, "order.confirmed", order)
    # republished under a new event id: still one plan (unique order id)
    _send(platform, "order.confirmed", order, times=1)
    with platform.client(rep["token"]) as c, platform.client(fin["token"]) as f:
        plan = _plan(c, order["order_id"])
        inst = plan["installments"]
        assert [(i["amount"], i["status"]) for i in inst] == [("370.35", "invoiced"),
                                                              ("864.15", "pending")]
        assert sum(D(i["amount"]) for i in inst) == D("1234.50")
        assert inst[1]["due_date"] == (_today() + timedelta(days=30)).isoformat()
        (invoice,) = _invoices(c, order_id=order["order_id"])
        assert invoice["id"] == inst[0]["invoice_id"] and invoice["status"] == "issued"
        assert invoice["number"].startswith(f"INV-{_today().year}-")
        assert invoice["amount"] == "370.35" and invoice["paid_amount"] == "0.00"
        assert sum(D(line["amount"]) for line in invoice["lines"]) == D("370.35")
        assert D(invoice["tax_amount"]) == sum(D(li["tax_amount"]) for li in invoice["lines"])
        # partial, then the rest
        first = _pay(f, customer["id"], "100.00")
        assert first["allocations"][0]["invoice_id"] == invoice["id"]
        got = f.get(f"/api/v1/invoices/{invoice['id']}").json()
        assert (got["status"], got["paid_amount"], got["outstanding"]) == (
            "partially_paid", "100.00", "270.35")
        _pay(f, customer["id"], "270.35", method="cheque")
        assert f.get(f"/api/v1/invoices/{invoice['id']}").json()["status"] == "paid"
        # the second installment by hand; overpay it: the rest is credit balance
        r = f.post(f"/api/v1/payment-plans/{plan['id']}/installments/2/invoice", json={})
        assert r.status_code == 201, r.text
        second = r.json()
        again = f.post(f"/api/v1/payment-plans/{plan['id']}/installments/2/invoice", json={})
        assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
        over = _pay(f, customer["id"], "900.00",
                    allocations=[{"invoice_id": second["id"], "amount": "864.15"}])
        assert over["unallocated_amount"] == "35.85"
        assert f.get(f"/api/v1/invoices/{second['id']}").json()["status"] == "paid"
        receivables = f.get("/api/v1/receivables", params={"customer_id": customer["id"]})
        assert receivables.status_code == 200
        assert sum(D(x["outstanding"]) for x in receivables.json()["items"]) == 0
        profile = f.get(f"/api/v1/credit/{customer['id']}").json()
        assert profile["credit_balance"] == "35.85" and profile["exposure"] == "0.00"
        assert profile["rating"] == "A"
        # a refund comes out of the credit balance first
        refunded = f.post(f"/api/v1/payments/{over['id']}/refund",
                          json={"amount": "35.85", "reason": "多付退回"})
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["unallocated_amount"] == "0.00"
        assert f.get(f"/api/v1/invoices/{second['id']}").json()["status"] == "paid"
        too_much = f.post(f"/api/v1/payments/{over['id']}/refund",
                          json={"amount": "864.16", "reason": "x"})
        assert too_much.status_code == 422 and too_much.json()["code"] == "over_refund"
        plan = c.get(f"/api/v1/payment-plans/{plan['id']}").json()
        assert all(i["invoice_id"] for i in plan["installments"])
    # the customer service counts the money received (100 + 270.35 + 900 - 35.85 refunded)
    with platform.client(rep["token"]) as c:
        def revenue() -> dict[str, Any] | None:
            data = c.get(f"/api/v1/customers/{customer['id']}").json()["classification"]
            return data if D(data["paid_revenue"]) == D("1234.50") else None
        try:
            got = wait_until(revenue, 30, "paid revenue in the customer service")
        except TimeoutError:
            raise AssertionError(c.get(f"/api/v1/customers/{customer['id']}").json()) from None
        assert got["stage"] == "active"
    with platform.admin() as admin:
        assert admin.post("/api/v1/customers/classification/recompute").status_code == 200
        tier = admin.get(f"/api/v1/customers/{customer['id']}").json()["classification"]
        assert tier["tier"] in ("A", "B", "C")


def test_floats_and_bad_amounts_are_refused(platform: Platform, org: dict[str, Any]) -> None:
    customer = _new_customer(platform, org["a"], "金额校验")
    with platform.client(org["finance"]["token"]) as f:
        wait_until(lambda: f.get(f"/api/v1/credit/{customer['id']}").status_code == 200, 20,
                   "customer copy in billing")
        body = {"customer_id": customer["id"], "amount": 12.5, "currency": "CNY",
                "method": "cash", "received_at": datetime.now(UTC).isoformat()}
        assert f.post("/api/v1/payments", json=body).status_code == 422
        body["amount"] = "12.505"
        r = f.post("/api/v1/payments", json=body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_amount"
        body.update(amount="5.00", method="barter")
        assert f.post("/api/v1/payments", json=body).status_code == 422


def test_same_order_twice_makes_one_plan(platform: Platform, org: dict[str, Any]) -> None:
    customer = _new_customer(platform, org["a"], "重复事件")
    order = _order(customer, "99.99")
    sent = [_send(platform, "order.confirmed", order, times=2) for _ in range(3)]
    # every event applied (or refused as a second plan) once; redeliveries are no-ops now
    wait_until(lambda: platform.consumed("billing", sent) == set(sent), 20, "events consumed")
    with platform.client(org["finance"]["token"]) as f:
        plans = f.get("/api/v1/payment-plans", params={"order_id": order["order_id"]}).json()
        assert len(plans["items"]) == 1
        assert len(_invoices(f, order_id=order["order_id"])) == 1


def test_ageing_buckets_across_edges(platform: Platform, org: dict[str, Any]) -> None:
    rep, fin = org["a"], org["finance"]
    customer = _new_customer(platform, rep, "账龄")
    today = _today()
    amounts = {30: "100.01", 31: "200.02", 60: "300.03", 61: "400.04", 90: "500.05",
               91: "600.06"}
    orders = {d: _order(customer, a, confirmed_on=today - timedelta(days=d))
              for d, a in amounts.items()}
    future = _order(customer, "700.07", terms=[{"percent": "100", "due_days": 5}])
    for order in [*orders.values(), future]:
        _send(platform, "order.confirmed", order)
    with platform.client(fin["token"]) as f:
        wait_until(lambda: len(_invoices(f, customer_id=customer["id"])) == 7, 30,
                   "seven invoices")
        by_order = {i["order_id"]: i for i in _invoices(f, customer_id=customer["id"])}
        d61 = by_order[orders[61]["order_id"]]
        assert d61["due_date"] == (today - timedelta(days=61)).isoformat()
        assert d61["issue_date"] == d61["due_date"]
        _pay(f, customer["id"], "50.00",
             received_at=datetime.combine(today - timedelta(days=10), time(9), UTC).isoformat(),
             allocations=[{"invoice_id": d61["id"], "amount": "50.00"}])

        def ageing(as_of: date, client: httpx.Client = f, **params: str) -> dict[str, Any]:
            r = client.get("/api/v1/receivables/ageing",
                           params={"as_of": as_of.isoformat(), **params})
            assert r.status_code == 200, r.text
            return dict(r.json())

        expected = {
            today: {"current": "700.07", "0-30": "100.01", "31-60": "500.05",
                    "61-90": "850.09", "90+": "600.06"},
            today - timedelta(days=1): {"current": "0.00", "0-30": "300.03",
                                        "31-60": "650.07", "61-90": "1100.11",
                                        "90+": "0.00"},
            today - timedelta(days=11): {"current": "0.00", "0-30": "300.03",
                                         "31-60": "700.07", "61-90": "1100.11",
                                         "90+": "0.00"},
        }
        for as_of, buckets in expected.items():
            report = ageing(as_of, customer_id=customer["id"])
            (row,) = report["rows"]
            assert row["key"] == customer["id"] and row["name"] == customer["name"]
            assert row["buckets"] == buckets, as_of
            assert D(row["total"]) == sum(D(v) for v in buckets.values())
        by_rep = ageing(today, customer_id=customer["id"], group_by="rep")
        assert by_rep["rows"][0]["key"] == rep["id"] and by_rep["rows"][0]["name"] == "孙丽"
        # over everything finance sees, each currency's totals are the sum of its rows
        for group_by in ("customer", "rep", "team"):
            report = ageing(today, group_by=group_by)
            for total in report["totals"]:
                rows = [r for r in report["rows"] if r["currency"] == total["currency"]]
                for name in report["bucket_names"]:
                    assert D(total["buckets"][name]) == sum(D(r["buckets"][name])
                                                            for r in rows)
                assert D(total["total"]) == sum(D(r["total"]) for r in rows)
    # scope: the other rep of the team sees none of it, the manager does
    with platform.client(org["b"]["token"]) as c:
        assert ageing(today, client=c)["rows"] == [] or all(
            r["key"] != customer["id"] for r in ageing(today, client=c)["rows"])
        assert c.get("/api/v1/receivables/ageing",
                     params={"customer_id": customer["id"]}).status_code == 404
    with platform.client(org["manager"]["token"]) as c:
        rows = ageing(today, client=c, customer_id=customer["id"])["rows"]
        assert rows[0]["total"] == "2750.28"


def test_dunning_steps_fire_once(platform: Platform, org: dict[str, Any]) -> None:
    rep, fin = org["a"], org["finance"]
    customer = _new_customer(platform, rep, "催款")
    order = _order(customer, "500.00", terms=[{"percent": "100", "due_days": 20}])
    _send(platform, "order.confirmed", order)
    with platform.client(fin["token"]) as f, platform.admin() as admin:
        plan = _plan(f, order["order_id"])
        assert plan["installments"][0]["status"] == "pending"  # 20 days out: not yet
        invoice = f.post(f"/api/v1/payment-plans/{plan['id']}/installments/1/invoice",
                         json={"type": "vat_special"}).json()
        due = date.fromisoformat(invoice["due_date"])
        assert due == _today() + timedelta(days=20) and invoice["type"] == "vat_special"
        settings = f.get("/api/v1/dunning-settings").json()
        assert settings == {"offsets": [-3, 0, 7, 15, 30], "escalate_from_step": 4}

        def run(offset: int) -> dict[str, Any]:
            r = admin.post("/api/v1/dunning/run", json={
                "as_of": (due + timedelta(days=offset)).isoformat(),
                "customer_id": customer["id"]})
            assert r.status_code == 200, r.text
            return dict(r.json())

        assert run(-4)["sent"] == 0
        assert run(-3)["sent"] == 1
        assert run(-3)["sent"] == 0  # twice: once
        with ThreadPoolExecutor(4) as pool:  # concurrently: once
            results = list(pool.map(lambda _: run(7), range(4)))
        assert sum(r["sent"] for r in results) == 1
        assert sum(r["skipped"] for r in results) == 1  # step 2 (due day) was missed
        assert run(15)["sent"] == 1
        log = f.get(f"/api/v1/invoices/{invoice['id']}/dunning-log").json()["items"]
        assert [(e["step"], e["outcome"], e["escalated"]) for e in log] == [
            (1, "sent", False), (2, "skipped", False), (3, "sent", False), (4, "sent", True)]
        assert log[3]["manager_id"] == org["manager"]["id"]
        assert log[3]["owner_id"] == rep["id"] and log[3]["outstanding"] == "500.00"
        # the overdue job, as of the day after the due date
        r = admin.post("/api/v1/billing-jobs/run", json={
            "job": "overdue", "as_of": (due + timedelta(days=1)).isoformat(),
            "customer_id": customer["id"]})
        assert r.status_code == 200 and r.json()["processed"] == 1
        assert f.get(f"/api/v1/invoices/{invoice['id']}").json()["status"] == "overdue"
        _pay(f, customer["id"], "500.00")
        assert f.get(f"/api/v1/invoices/{invoice['id']}").json()["status"] == "paid"
        assert run(30)["sent"] == 0  # paid: no more reminders
    with platform.client(rep["token"]) as c:
        assert c.post("/api/v1/dunning/run", json={}).status_code == 403
        assert c.get(f"/api/v1/invoices/{invoice['id']}/dunning-log").status_code == 200


def test_credit_check_refuses_over_limit(platform: Platform, org: dict[str, Any]) -> None:
    rep, fin = org["a"], org["finance"]
    customer = _new_customer(platform, rep, "授信")
    with platform.client(fin["token"]) as f:
        wait_until(lambda: f.get(f"/api/v1/credit/{customer['id']}").status_code == 200, 20,
                   "customer copy in billing")
        blind = f.put(f"/api/v1/credit/{customer['id']}", json={"limit": "1000.00",
                                                                "currency": "CNY"})
        assert blind.status_code == 428 and blind.json()["code"] == "if_match_required"
        assert blind.headers["content-type"] == "application/problem+json"
        r = f.put(f"/api/v1/credit/{customer['id']}", headers={"If-Match": '"0"'},
                  json={"limit": "1000.00", "currency": "CNY"})
        assert r.status_code == 200, r.text
        assert r.json()["limit"] == "1000.00" and r.json()["available"] == "1000.00"
    order = _order(customer, "600.00", terms=[{"percent": "30", "due_days": 0},
                                              {"percent": "70", "due_days": 60}])
    _send(platform, "order.confirmed", order)
    with platform.client(rep["token"]) as c:
        _plan(c, order["order_id"])
        profile = c.get(f"/api/v1/credit/{customer['id']}").json()
        assert (profile["open_receivables"], profile["uninvoiced_orders"],
                profile["exposure"], profile["available"]) == (
            "180.00", "420.00", "600.00", "400.00")

        def check(amount: str, **extra: str) -> dict[str, Any]:
            r = c.post(f"/api/v1/credit/{customer['id']}/check",
                       json={"amount": amount, "currency": "CNY", **extra})
            assert r.status_code == 200, r.text
            return dict(r.json())

        assert check("400.00")["allowed"] is True
        refused = check("400.01")
        assert (refused["allowed"], refused["reason"], refused["available"]) == (
            False, "over_limit", "400.00")
        # re-checking the confirmed order itself does not count it twice
        assert check("600.00", order_id=order["order_id"])["allowed"] is True
        assert c.put(f"/api/v1/credit/{customer['id']}", headers={"If-Match": '"1"'},
                     json={"limit": "1.00", "currency": "CNY"}).status_code == 403
    # the internal RPC the sales service calls
    result = asyncio.run(_rpc(platform, "check_credit", customer_id=customer["id"],
                              amount="400.01", currency="CNY", order_id=None))
    assert result["allowed"] is False and result["reason"] == "over_limit"
    assert result["limit"] == "1000.00" and result["exposure"] == "600.00"
    unknown = asyncio.run(_rpc(platform, "check_credit", customer_id=str(uuid.uuid4()),
                               amount="1.00", currency="CNY"))
    assert unknown["allowed"] is True and unknown["limit"] is None
    with platform.client(fin["token"]) as f:
        version = f.get(f"/api/v1/credit/{customer['id']}").json()["version"]
        stale = f.put(f"/api/v1/credit/{customer['id']}", headers={"If-Match": '"99"'},
                      json={"limit": "1000.00", "currency": "CNY", "hold": True})
        assert stale.status_code == 412 and stale.json()["code"] == "stale_version"
        held = f.put(f"/api/v1/credit/{customer['id']}", headers={"If-Match": f'"{version}"'},
                     json={"limit": "1000.00", "currency": "CNY", "hold": True,
                           "hold_reason": "逾期未付"})
        assert held.status_code == 200 and held.json()["hold"] is True
    with platform.client(rep["token"]) as c:
        r = c.post(f"/api/v1/credit/{customer['id']}/check",
                   json={"amount": "1.00", "currency": "CNY"}).json()
        assert (r["allowed"], r["reason"]) == (False, "credit_hold")


async def _rpc(platform: Platform, method: str, **kwargs: Any) -> dict[str, Any]:
    client = AsyncRpcClient(platform.amqp_uri)
    try:
        return dict(await client.call("billing", method, kwargs, timeout=10))
    finally:
        await client.close()


def test_void_rules(platform: Platform, org: dict[str, Any]) -> None:
    customer = _new_customer(platform, org["a"], "作废")
    order = _order(customer, "300.00", terms=[{"percent": "50", "due_days": 0},
                                              {"percent": "50", "due_days": 3}])
    _send(platform, "order.confirmed", order)
    with platform.client(org["finance"]["token"]) as f:
        plan = _plan(f, order["order_id"])
        first, second = (f.get(f"/api/v1/invoices/{i['invoice_id']}").json()
                         for i in plan["installments"])
        _pay(f, customer["id"], "10.00", allocations=[{"invoice_id": first["id"],
                                                       "amount": "10.00"}])
        r = f.post(f"/api/v1/invoices/{first['id']}/void", json={"reason": "开错"})
        assert r.status_code == 409 and r.json()["code"] == "invoice_has_payments"
        stale = f.post(f"/api/v1/invoices/{second['id']}/void", json={"reason": "开错"},
                       headers={"If-Match": '"7"'})
        assert stale.status_code == 412 and stale.json()["code"] == "stale_version"
        voided = f.post(f"/api/v1/invoices/{second['id']}/void", json={"reason": "抬头错误"},
                        headers={"If-Match": f'"{second["version"]}"'})
        assert voided.status_code == 200, voided.text
        assert voided.json()["status"] == "void" and voided.json()["outstanding"] == "0.00"
        again = f.post(f"/api/v1/invoices/{second['id']}/void", json={"reason": "x"})
        assert again.status_code == 409
        assert f.post(f"/api/v1/invoices/{second['id']}/void", json={"reason": ""}
                      ).status_code == 422
        # the installment can be invoiced again, under a new number
        plan = f.get(f"/api/v1/payment-plans/{plan['id']}").json()
        assert plan["installments"][1] == {**plan["installments"][1], "status": "pending",
                                           "invoice_id": None}
        reissued = f.post(f"/api/v1/payment-plans/{plan['id']}/installments/2/invoice",
                          json={})
        assert reissued.status_code == 201 and reissued.json()["number"] != second["number"]
        # a payment cannot go onto a void invoice
        bad = f.post("/api/v1/payments", json={
            "customer_id": customer["id"], "amount": "1.00", "currency": "CNY",
            "method": "cash", "received_at": datetime.now(UTC).isoformat(),
            "allocations": [{"invoice_id": second["id"], "amount": "1.00"}]})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_allocation"
    with platform.client(org["a"]["token"]) as c:  # reps read invoices, never void them
        assert c.post(f"/api/v1/invoices/{first['id']}/void",
                      json={"reason": "x"}).status_code == 403


def test_invoice_numbers_unique_under_concurrency(platform: Platform,
                                                  org: dict[str, Any]) -> None:
    customer = _new_customer(platform, org["a"], "并发开票")
    with platform.client(org["finance"]["token"]) as f:
        wait_until(lambda: f.get(f"/api/v1/credit/{customer['id']}").status_code == 200, 20,
                   "customer copy in billing")

        def issue(n: int) -> httpx.Response:
            with platform.client(org["finance"]["token"]) as cl:
                return cl.post("/api/v1/invoices", json={
                    "customer_id": customer["id"], "type": "vat_ordinary",
                    "currency": "CNY", "due_date": (_today() + timedelta(days=30)).isoformat(),
                    "lines": [{"description": f"咨询服务 {n}", "quantity": "3",
                               "unit_price": "33.333", "tax_rate": "0.06"}]})

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(issue, range(16)))
        assert all(r.status_code == 201 for r in results), [r.text for r in results]
        numbers = [r.json()["number"] for r in results]
        assert len(set(numbers)) == 16
        assert results[0].json()["amount"] == "100.00"
        assert results[0].json()["tax_amount"] == "5.66"


def test_scope_rep_cannot_see_another_reps_invoices(platform: Platform,
                                                    org: dict[str, Any]) -> None:
    customer = _new_customer(platform, org["a"], "范围")
    order = _order(customer, "88.00")
    _send(platform, "order.confirmed", order)
    with platform.client(org["a"]["token"]) as c:
        plan = _plan(c, order["order_id"])
        invoice_id = plan["installments"][0]["invoice_id"]
        assert c.get(f"/api/v1/invoices/{invoice_id}").status_code == 200
    with platform.client(org["b"]["token"]) as c:
        assert c.get(f"/api/v1/invoices/{invoice_id}").status_code == 404
        assert c.get(f"/api/v1/payment-plans/{plan['id']}").status_code == 404
        assert _invoices(c, order_id=order["order_id"]) == []
        assert c.get(f"/api/v1/credit/{customer['id']}").status_code == 404
        assert c.get(f"/api/v1/invoices/{invoice_id}/dunning-log").status_code == 404
    with platform.client(org["other_manager"]["token"]) as c:
        assert c.get(f"/api/v1/invoices/{invoice_id}").status_code == 404
    with platform.client(org["manager"]["token"]) as c:
        assert c.get(f"/api/v1/invoices/{invoice_id}").status_code == 200
    with platform.client(org["finance"]["token"]) as f:
        payment = _pay(f, customer["id"], "88.00")
    with platform.client(org["b"]["token"]) as c:
        assert c.get(f"/api/v1/payments/{payment['id']}").status_code == 404
        assert c.post("/api/v1/payments", json={
            "customer_id": customer["id"], "amount": "1.00", "currency": "CNY",
            "method": "cash", "received_at": datetime.now(UTC).isoformat()}).status_code == 403
    with platform.client(org["a"]["token"]) as c:
        assert c.get(f"/api/v1/payments/{payment['id']}").status_code == 200


def test_expense_approval_by_the_team_manager(platform: Platform, org: dict[str, Any]) -> None:
    rep = org["a"]
    campaign = str(uuid.uuid4())
    with platform.client(rep["token"]) as c:
        def create(amount: str) -> dict[str, Any]:
            r = c.post("/api/v1/expenses", json={
                "kind": "company", "category": "promotion", "channel": "channel",
                "amount": amount, "currency": "CNY", "description": "展会物料",
                "incurred_on": _today().isoformat(), "region": "浙江",
                "campaign_id": campaign})
            assert r.status_code == 201, r.text
            return dict(r.json())

        first, second, third = create("1200.00"), create("300.00"), create("50.50")
        assert first["status"] == "draft" and first["number"].startswith("EXP-")
        early = c.post(f"/api/v1/expenses/{first['id']}/approve", json={})
        assert early.status_code == 403  # a rep has no approval permission at all
        for e in (first, second, third):
            submitted = c.post(f"/api/v1/expenses/{e['id']}/submit")
            assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
            assert submitted.json()["approver_id"] == org["manager"]["id"]
        locked = c.patch(f"/api/v1/expenses/{first['id']}", json={"amount": "1.00"})
        assert locked.status_code == 409
    with platform.client(org["b"]["token"]) as c:
        assert c.post(f"/api/v1/expenses/{first['id']}/approve", json={}).status_code == 403
        assert c.get(f"/api/v1/expenses/{first['id']}").status_code == 404
    with platform.client(org["other_manager"]["token"]) as c:
        assert c.post(f"/api/v1/expenses/{first['id']}/approve", json={}).status_code == 404
    with platform.client(org["manager"]["token"]) as c:
        approved = c.post(f"/api/v1/expenses/{first['id']}/approve", json={"comment": "同意"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["decided_by"] == org["manager"]["id"]
        twice = c.post(f"/api/v1/expenses/{first['id']}/approve", json={})
        assert twice.status_code == 409
        no_reason = c.post(f"/api/v1/expenses/{second['id']}/reject", json={})
        assert no_reason.status_code == 422 and no_reason.json()["code"] == "comment_required"
        rejected = c.post(f"/api/v1/expenses/{second['id']}/reject",
                          json={"comment": "缺发票"})
        assert rejected.json()["status"] == "rejected"
    with platform.client(rep["token"]) as c:  # fix and resubmit
        fixed = c.patch(f"/api/v1/expenses/{second['id']}", json={"amount": "280.00"},
                        headers={"If-Match": f'"{rejected.json()["version"]}"'})
        assert fixed.status_code == 200 and fixed.json()["amount"] == "280.00"
        assert c.post(f"/api/v1/expenses/{second['id']}/submit").json()["status"] == "submitted"
    with platform.client(org["finance"]["token"]) as f:  # company-wide approver
        assert f.post(f"/api/v1/expenses/{third['id']}/approve", json={}).status_code == 200
        costs = f.get("/api/v1/campaign-costs", params={"campaign_id": campaign}).json()
        assert costs["items"] == [{"campaign_id": campaign, "currency": "CNY",
                                   "approved": "1250.50", "pending": "280.00",
                                   "expenses": 3}]


def test_statement_and_period_report(platform: Platform, org: dict[str, Any]) -> None:
    rep = org["a"]
    customer = _new_customer(platform, rep, "对账")
    yesterday = _today() - timedelta(days=1)
    order = _order(customer, "1000.00", confirmed_on=yesterday)
    _send(platform, "order.confirmed", order)
    with platform.client(org["finance"]["token"]) as f:
        _plan(f, order["order_id"])
        wait_until(lambda: _invoices(f, order_id=order["order_id"]), 20, "invoice")
        payment = _pay(f, customer["id"], "400.00")
        f.post(f"/api/v1/payments/{payment['id']}/refund",
               json={"amount": "50.00", "reason": "折让"})
    with platform.client(rep["token"]) as c:
        expense = c.post("/api/v1/expenses", json={
            "kind": "personal", "category": "travel", "amount": "88.00",
            "description": "拜访差旅", "incurred_on": _today().isoformat(),
            "customer_id": customer["id"]}).json()
        c.post(f"/api/v1/expenses/{expense['id']}/submit")
        statement = c.get("/api/v1/statements", params={
            "customer_id": customer["id"], "from": yesterday.isoformat(),
            "to": _today().isoformat()})
        assert statement.status_code == 200, statement.text
        st = statement.json()
        assert st["from"] == yesterday.isoformat()
        assert (st["opening_balance"], st["total_debit"], st["total_credit"],
                st["closing_balance"]) == ("0.00", "1050.00", "400.00", "650.00")
        assert [x["kind"] for x in st["lines"]] == ["invoice", "payment", "refund"]
        assert [x["balance"] for x in st["lines"]] == ["1000.00", "600.00", "650.00"]
        assert c.get("/api/v1/reports/period", params={
            "from": yesterday.isoformat(), "to": _today().isoformat()}).status_code == 403
    with platform.client(org["manager"]["token"]) as c:
        assert c.post(f"/api/v1/expenses/{expense['id']}/approve", json={}).status_code == 200
        for group_by in ("customer", "rep", "team"):
            r = c.get("/api/v1/reports/period", params={
                "from": yesterday.isoformat(), "to": _today().isoformat(),
                "group_by": group_by})
            assert r.status_code == 200, r.text
            report = r.json()
            columns = ("sales_amount", "invoiced", "received", "refunded", "receivable",
                       "expenses")
            for total in report["totals"]:
                rows = [x for x in report["rows"] if x["currency"] == total["currency"]]
                for col in columns:
                    assert D(total[col]) == sum(D(x[col]) for x in rows), (group_by, col)
            if group_by == "customer":
                (row,) = [x for x in report["rows"] if x["key"] == customer["id"]]
                assert {k: row[k] for k in columns} == {
                    "sales_amount": "1000.00", "invoiced": "1000.00", "received": "350.00",
                    "refunded": "50.00", "receivable": "650.00", "expenses": "88.00"}
        bad = c.get("/api/v1/reports/period", params={
            "from": _today().isoformat(), "to": yesterday.isoformat()})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_period"


def test_order_cancelled_cancels_pending_installments(platform: Platform,
                                                      org: dict[str, Any]) -> None:
    customer = _new_customer(platform, org["a"], "取消")
    order = _order(customer, "200.00", terms=[{"percent": "50", "due_days": 0},
                                              {"percent": "50", "due_days": 90}])
    _send(platform, "order.confirmed", order)
    with platform.client(org["finance"]["token"]) as f:
        plan = _plan(f, order["order_id"])
        _send(platform, "order.cancelled", {
            "order_id": order["order_id"], "number": order["number"],
            "customer_id": customer["id"], "owner_id": order["owner_id"],
            "owner_team_id": order["owner_team_id"], "reason": "客户取消",
            "was_confirmed": True})

        def cancelled() -> dict[str, Any] | None:
            got = f.get(f"/api/v1/payment-plans/{plan['id']}").json()
            return got if got["status"] == "cancelled" else None
        got = wait_until(cancelled, 20, "plan cancelled")
        assert [i["status"] for i in got["installments"]] == ["invoiced", "cancelled"]
        r = f.post(f"/api/v1/payment-plans/{plan['id']}/installments/2/invoice", json={})
        assert r.status_code == 409
        assert f.get(f"/api/v1/credit/{customer['id']}").json()["uninvoiced_orders"] == "0.00"


def test_installments_invoiced_by_the_timer_job(platform: Platform, org: dict[str, Any]) -> None:
    customer = _new_customer(platform, org["a"], "分期开票")
    order = _order(customer, "1000.00", terms=[{"percent": "40", "due_days": 0},
                                               {"percent": "60", "due_days": 30}])
    _send(platform, "order.confirmed", order)
    due = _today() + timedelta(days=30)
    with platform.client(org["finance"]["token"]) as f, platform.admin() as admin:
        plan = _plan(f, order["order_id"])
        assert f.get("/api/v1/billing-settings").json()["invoice_lead_days"] == 7

        def run(as_of: date) -> int:
            r = admin.post("/api/v1/billing-jobs/run", json={
                "job": "installments", "as_of": as_of.isoformat(),
                "customer_id": customer["id"]})
            assert r.status_code == 200, r.text
            return int(r.json()["processed"])

        assert run(due - timedelta(days=8)) == 0  # window opens 7 days before due
        with ThreadPoolExecutor(3) as pool:  # replicas racing: invoiced once
            assert sum(pool.map(lambda _: run(due - timedelta(days=7)), range(3))) == 1
        plan = f.get(f"/api/v1/payment-plans/{plan['id']}").json()
        second = plan["installments"][1]
        assert second["status"] == "invoiced" and second["amount"] == "600.00"
        invoice = f.get(f"/api/v1/invoices/{second['invoice_id']}").json()
        assert invoice["issue_date"] == (due - timedelta(days=7)).isoformat()
        assert invoice["due_date"] == due.isoformat() and invoice["installment_number"] == 2
        assert len(_invoices(f, order_id=order["order_id"])) == 2


def test_a_customer_billing_has_not_copied_yet_is_asked_of_the_customer_service(
        platform: Platform, org: dict[str, Any]) -> None:
    """``customer.created`` still on its way (here: billing's copy of it removed after it
    arrived): a credit limit set for the customer is not a 404; billing fetches the
    customer from the customer service and keeps the copy at the customer's version."""
    customer = _new_customer(platform, org["a"], "未达")
    copy = f"SELECT source_version FROM customers WHERE id = '{customer['id']}'"

    def billing_copy() -> list[tuple[Any, ...]]:
        engine = create_engine(platform.db_urls["billing"])
        try:
            with engine.begin() as conn:
                return list(conn.execute(text(copy)).all())
        finally:
            engine.dispose()
    wait_until(billing_copy, 20, "billing's copy of the customer")
    engine = create_engine(platform.db_urls["billing"])
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM customers WHERE id = :id"), {"id": customer["id"]})
    finally:
        engine.dispose()
    assert billing_copy() == []
    with platform.client(org["finance"]["token"]) as f:
        r = f.put(f"/api/v1/credit/{customer['id']}", headers={"If-Match": '"0"'},
                  json={"limit": "50000.00", "currency": "CNY"})
        assert r.status_code == 200, r.text
        assert r.json()["limit"] == "50000.00"
    assert billing_copy() == [(customer["version"],)]
