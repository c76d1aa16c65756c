"""One form of a time everywhere (issue #28): RFC 3339 in UTC with ``Z`` — in the reply
to a creation, in reads and lists, in the 360 view and in the CSV export alike — and a
time sent without its offset is refused."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from tests.e2e.sales_support import _ok, _product
from tests.e2e.test_order_to_cash import _plan
from tests.support.platform import Platform
from tests.support.problems import expect_problem

LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
THE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


def _times(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _times(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _times(item, f"{where}[{i}]")
    elif isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value):
        yield where, value


def _check(seen: dict[str, str], label: str, r: httpx.Response, status: int = 200
           ) -> dict[str, Any]:
    body = _ok(r, status)
    for where, value in _times(body):
        seen[f"{label}{where}"] = value
    return body


def test_every_response_shows_times_in_utc_with_z(platform: Platform,
                                                   org: dict[str, Any]) -> None:
    rep, product = org["rep"], _product(platform)
    finance = platform.new_user(["finance"])
    seen: dict[str, str] = {}
    beijing_morning = "2026-12-01T09:30:00+08:00"
    with platform.client(rep["token"]) as c:
        customer = _check(seen, "create customer", c.post("/api/v1/customers", json={
            "name": f"时间{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        cid = customer["id"]
        followup = _check(seen, "create follow-up", c.post(
            f"/api/v1/customers/{cid}/follow-ups",
            json={"method": "phone", "content": "约时间", "occurred_at": beijing_morning}), 201)
        assert followup["occurred_at"] == "2026-12-01T01:30:00Z"
        listed = _check(seen, "follow-ups", c.get(f"/api/v1/customers/{cid}/follow-ups"))
        assert [f["occurred_at"] for f in listed["items"]] == ["2026-12-01T01:30:00Z"]
        _check(seen, "add to team", c.post(f"/api/v1/customers/{cid}/team",
                                           json={"user_id": org["manager"]["id"]}), 201)
        _check(seen, "team", c.get(f"/api/v1/customers/{cid}/team"))
        _check(seen, "customer", c.get(f"/api/v1/customers/{cid}"))
        _check(seen, "customers", c.get("/api/v1/customers", params={"fields": "*"}))
        order = _check(seen, "create order", c.post("/api/v1/orders", json={
            "customer_id": cid, "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1", "unit_price": "900.00"}],
            "payment_terms": {"installments": [{"percent": "100", "due_days": 0}]}}), 201)
        confirmed = _check(seen, "confirm", c.post(f"/api/v1/orders/{order['id']}/confirm"))
        assert "checked_at" in confirmed["last_credit_check"]
        _check(seen, "orders", c.get("/api/v1/orders", params={"customer_id": cid}))
        lead = _check(seen, "create lead", c.post("/api/v1/leads", json={"name": "时间线索"}),
                      201)
        _check(seen, "lead", c.get(f"/api/v1/leads/{lead['id']}"))
    _plan(platform, rep["token"], order["id"])
    with platform.client(finance["token"]) as f:
        payment = _check(seen, "create payment", f.post("/api/v1/payments", json={
            "customer_id": cid, "amount": "900.00", "currency": "CNY",
            "method": "bank_transfer", "received_at": beijing_morning}), 201)
        assert payment["received_at"] == "2026-12-01T01:30:00Z"
        _check(seen, "payment", f.get(f"/api/v1/payments/{payment['id']}"))
        _check(seen, "invoices", f.get("/api/v1/invoices", params={"order_id": order["id"]}))
    with platform.admin() as admin:
        _check(seen, "360", admin.get(f"/api/v1/customers/{cid}/360"))
        _check(seen, "create user", admin.post("/api/v1/users", json={
            "username": f"t{uuid.uuid4().hex[:8]}", "password": "password-123",
            "display_name": "时间", "roles": ["viewer"]}), 201)
        exported = admin.get("/api/v1/customers/export", params={"owner_id": rep["id"]})
        assert exported.status_code == 200, exported.text
        rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
        for row in rows:
            for key, value in row.items():
                if value and LOOKS_LIKE_A_TIME.match(value):
                    seen[f"export {row.get('code')}.{key}"] = value

    assert any(k.startswith("360.sections") for k in seen), seen
    assert any(k.startswith("export") for k in seen), seen
    assert any(k.startswith("team.members") for k in seen), seen
    other_forms = {where: value for where, value in seen.items()
                   if not THE_FORM.match(value)}
    assert other_forms == {}


def test_a_time_without_its_offset_is_refused(platform: Platform, org: dict[str, Any]
                                              ) -> None:
    with platform.client(org["rep"]["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"无时区{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)
        problem = expect_problem(c.post(f"/api/v1/customers/{customer['id']}/follow-ups",
                                        json={"method": "phone", "content": "x",
                                              "occurred_at": "2026-12-01T09:30:00"}), 422)
        assert "offset" in str(problem)
