"""Request bodies schemathesis found crashing the sales and billing services (500 / 502
from the database: NOT NULL cleared, NUMERIC overflow, NUL in text, integers past 64
bits) are refused as 422 problem+json before anything is written: a refused update
leaves the record as it was, a refused create makes nothing. Bodies are sent as raw
JSON so they reach the gateway exactly as the fuzzer wrote them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _draft_order, _ok, _product
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import PROBLEM_JSON, refused, send_raw

pytestmark = pytest.mark.e2e

# more than a NUMERIC(18, 2) column holds (16 integer digits)
TOO_BIG = 5.311602347083468e+16




def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _tag() -> str:
    return f"坏输入{uuid.uuid4().hex[:8]}"


def _customer(platform: Platform, token: str) -> dict[str, Any]:
    with platform.client(token) as c:
        return _ok(c.post("/api/v1/customers", json={"name": _tag(), "kind": "person"}), 201)


def _all(c: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = _ok(c.get(f"/api/v1{path}", params={
            **params, "limit": "500", **({"cursor": cursor} if cursor else {})}))
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


# -- creates ---------------------------------------------------------------------------------
# (path, body for a unique tag, who sends it, how to find what it would have made)
Finder = Callable[[httpx.Client, str], list[dict[str, Any]]]


def _campaigns_named(c: httpx.Client, tag: str) -> list[dict[str, Any]]:
    return [x for x in _all(c, "/campaigns") if tag in x["name"]]


def _leads_named(c: httpx.Client, tag: str) -> list[dict[str, Any]]:
    return _all(c, "/leads", q=tag)


def _products_coded(c: httpx.Client, tag: str) -> list[dict[str, Any]]:
    return _all(c, "/products", code=tag, include_inactive="true")


def _categories_named(c: httpx.Client, tag: str) -> list[dict[str, Any]]:
    return [x for x in _ok(c.get("/api/v1/product-categories"))["items"]
            if x["name"].startswith(tag)]


def _targets_of(c: httpx.Client, tag: str) -> list[dict[str, Any]]:
    return _all(c, "/sales-targets", subject_id=tag)


def _expenses_described(c: httpx.Client, tag: str) -> list[dict[str, Any]]:
    return [x for x in _all(c, "/expenses") if x["description"] == tag]


def _long_id(tag: str) -> str:
    return tag + "x" * 36  # past the String(36) columns ids are kept in


BAD_CREATES = [
    pytest.param("/campaigns", lambda t: {"name": t, "kind": "other",
                                          "budget": 2.54750503710384e+16, "end_date": None},
                 "admin", _campaigns_named, id="campaign-budget-overflow"),
    pytest.param("/campaigns", lambda t: {"name": t, "kind": "other", "budget": "10.00",
                                          "materials": [{"title": "邀请函\u0000"}]},
                 "admin", _campaigns_named, id="campaign-material-nul"),
    pytest.param("/leads", lambda t: {"name": t, "estimated_amount": 3.4192847418834376e+307},
                 "rep", _leads_named, id="lead-estimate-huge"),
    pytest.param("/leads", lambda t: {"name": t, "estimated_amount": "12.345"},
                 "rep", _leads_named, id="lead-estimate-three-decimals"),
    # a third decimal would be rounded away by the NUMERIC(18, 2) columns
    pytest.param("/leads", lambda t: {"name": t, "currency": "KWD"},
                 "rep", _leads_named, id="lead-currency-three-decimals"),
    pytest.param("/products", lambda t: {"code": t, "name": "CRM", "unit": "套",
                                         "list_price": "1", "currency": "BHD"},
                 "admin", _products_coded, id="product-currency-three-decimals"),
    pytest.param("/leads", lambda t: {"name": t, "note": "备注\ud800"},
                 "rep", _leads_named, id="lead-note-lone-surrogate"),
    pytest.param("/products", lambda t: {"code": t, "name": "CRM", "unit": "套",
                                         "list_price": TOO_BIG},
                 "admin", _products_coded, id="product-price-overflow"),
    pytest.param("/products", lambda t: {"code": t, "name": "CRM", "unit": "套",
                                         "list_price": "1.00", "tax_rate": "0.12345"},
                 "admin", _products_coded, id="product-tax-rate-five-decimals"),
    # the fuzzer's own body: the name is fixed, so it is looked up by its start
    pytest.param("/product-categories", lambda t: {"name": "e\u0013\u0018Y\u0000",
                                                   "parent_id": None},
                 "admin", lambda c, t: _categories_named(c, "e\u0013\u0018Y"),
                 id="product-category-nul"),
    # ids longer than the columns they are kept in
    pytest.param("/leads", lambda t: {"name": t, "campaign_id": _long_id(t)},
                 "rep", _leads_named, id="lead-campaign-id-too-long"),
    pytest.param("/sales-targets", lambda t: {"subject_kind": "rep", "subject_id": _long_id(t),
                                              "period": "2031", "amount": "1.00"},
                 "admin", lambda c, t: _targets_of(c, _long_id(t)), id="target-subject-too-long"),
    pytest.param("/expenses", lambda t: {"kind": "company", "category": "venue",
                                         "amount": "1.00", "description": t,
                                         "incurred_on": _today(), "campaign_id": _long_id(t)},
                 "rep", _expenses_described, id="expense-campaign-id-too-long"),
    # periods with no first or last day (year 0, the day after 9999-12-31)
    pytest.param("/sales-targets", lambda t: {"subject_kind": "rep", "subject_id": t,
                                              "period": "9999", "amount": "1.00"},
                 "admin", _targets_of, id="target-period-9999"),
    pytest.param("/sales-targets", lambda t: {"subject_kind": "rep", "subject_id": t,
                                              "period": "0000-Q1", "amount": "1.00"},
                 "admin", _targets_of, id="target-period-0000"),
]


@pytest.mark.parametrize(("path", "body", "who", "find"), BAD_CREATES)
def test_bad_create_is_refused_and_makes_nothing(
        platform: Platform, org: dict[str, Any], path: str,
        body: Callable[[str], dict[str, Any]], who: str, find: Finder) -> None:
    tag = _tag()
    with platform.admin() if who == "admin" else platform.client(org[who]["token"]) as c:
        refused(send_raw(c, "POST", path, body(tag)))
        assert find(c, tag) == []


def test_quote_lines_too_large_to_store_are_refused(platform: Platform,
                                                    org: dict[str, Any]) -> None:
    """Each field fits but their product does not: a line (or the quote's total) past
    what NUMERIC(18, 2) holds is a 422, not a 500 from rounding or a 502 from the
    insert."""
    product = _product(platform)
    customer = _customer(platform, org["rep"]["token"])
    with platform.client(org["rep"]["token"]) as c:
        for lines in ([{"product_id": product["id"], "quantity": "9999999999",
                        "unit_price": "9999999999999999.99"}],
                      [{"product_id": product["id"], "quantity": "1",
                        "unit_price": "6000000000000000.00"}] * 2):
            problem = refused(send_raw(c, "POST", "/quotes", {
                "customer_id": customer["id"], "currency": "CNY", "lines": lines}))
            assert problem["code"] == "invalid_amount"
            refused(send_raw(c, "POST", "/orders", {
                "customer_id": customer["id"], "currency": "CNY", "lines": lines}))
        assert _all(c, "/quotes", customer_id=customer["id"]) == []
        assert _all(c, "/orders", customer_id=customer["id"]) == []


def test_invoice_lines_too_large_to_store_are_refused(platform: Platform,
                                                      org: dict[str, Any]) -> None:
    customer = _customer(platform, org["rep"]["token"])
    due = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    with platform.admin() as admin:
        wait_until(lambda: admin.get(f"/api/v1/credit/{customer['id']}").status_code == 200,
                   20, "customer copy in billing")
        for lines in ([{"description": "服务器", "quantity": "999999999999",
                        "unit_price": "999999999999999"}],
                      [{"description": "服务器", "unit_price": "6000000000000000"}] * 2):
            problem = refused(send_raw(admin, "POST", "/invoices", {
                "customer_id": customer["id"], "type": "other", "currency": "CNY",
                "due_date": due, "lines": lines}))
            assert problem["code"] == "invalid_amount"
        assert _all(admin, "/invoices", customer_id=customer["id"]) == []


# -- updates --------------------------------------------------------------------------------
# a record to update: who may, its path, and how to read it back
Read = Callable[[httpx.Client], dict[str, Any]]
Subject = tuple[str, str, Read]


def _read(path: str) -> Read:
    return lambda c: _ok(c.get(f"/api/v1{path}"))


def _listed(path: str, record_id: str, **params: str) -> Read:
    """For records with no read of their own (stages, targets): the list's entry."""
    return lambda c: next(x for x in _all(c, path, **params) if x["id"] == record_id)


def _campaign(platform: Platform, org: dict[str, Any]) -> Subject:
    with platform.admin() as admin:
        made = _ok(admin.post("/api/v1/campaigns", json={
            "name": _tag(), "theme": "秋季", "kind": "launch", "budget": "10000.00",
            "end_date": "2031-10-01", "materials": [{"title": "邀请函"}]}), 201)
    path = f"/campaigns/{made['id']}"
    return "admin", path, _read(path)


def _lead(platform: Platform, org: dict[str, Any]) -> Subject:
    with platform.client(org["rep"]["token"]) as c:
        made = _ok(c.post("/api/v1/leads", json={
            "name": _tag(), "estimated_amount": "6000", "note": "展会"}), 201)
    path = f"/leads/{made['id']}"
    return "rep", path, _read(path)


def _opportunity(platform: Platform, org: dict[str, Any]) -> Subject:
    customer = _customer(platform, org["rep"]["token"])
    with platform.client(org["rep"]["token"]) as c:
        made = _ok(c.post("/api/v1/opportunities", json={
            "name": _tag(), "customer_id": customer["id"], "amount": "5000.00"}), 201)
    path = f"/opportunities/{made['id']}"
    return "rep", path, _read(path)


def _stage(platform: Platform, org: dict[str, Any]) -> Subject:
    # an existing stage (a new one would show up in the other tests' pipeline)
    with platform.admin() as admin:
        first = _ok(admin.get("/api/v1/pipeline-stages"))["items"][0]
    return ("admin", f"/pipeline-stages/{first['id']}",
            _listed("/pipeline-stages", first["id"]))


def _product_row(platform: Platform, org: dict[str, Any]) -> Subject:
    with platform.admin() as admin:
        made = _ok(admin.post("/api/v1/products", json={
            "code": _tag(), "name": "CRM 标准版", "unit": "套", "list_price": "800.00",
            "materials": [{"title": "白皮书"}]}), 201)
    path = f"/products/{made['id']}"
    return "admin", path, _read(path)


def _quote(platform: Platform, org: dict[str, Any]) -> Subject:
    customer = _customer(platform, org["rep"]["token"])
    with platform.client(org["rep"]["token"]) as c:
        made = _ok(c.post("/api/v1/quotes", json={
            "customer_id": customer["id"], "currency": "CNY", "note": "初稿",
            "lines": [{"product_id": _product(platform)["id"], "quantity": "1"}]}), 201)
    path = f"/quotes/{made['id']}"
    return "rep", path, _read(path)


def _order(platform: Platform, org: dict[str, Any]) -> Subject:
    customer = _customer(platform, org["rep"]["token"])
    with platform.client(org["rep"]["token"]) as c:
        made = _draft_order(c, customer["id"], _product(platform, "500.00")["id"])
    path = f"/orders/{made['id']}"
    return "rep", path, _read(path)


def _target(platform: Platform, org: dict[str, Any]) -> Subject:
    # a rep of its own: targets are unique per rep and period
    rep = platform.new_user(["sales_rep"])
    with platform.admin() as admin:
        made = _ok(admin.post("/api/v1/sales-targets", json={
            "subject_kind": "rep", "subject_id": rep["id"], "period": "2031",
            "amount": "100000.00"}), 201)
    return ("admin", f"/sales-targets/{made['id']}",
            _listed("/sales-targets", made["id"], subject_id=rep["id"]))


def _expense(platform: Platform, org: dict[str, Any]) -> Subject:
    with platform.client(org["rep"]["token"]) as c:
        made = _ok(c.post("/api/v1/expenses", json={
            "kind": "company", "category": "venue", "amount": "320.00",
            "description": "场地", "incurred_on": _today(), "region": "浙江"}), 201)
    path = f"/expenses/{made['id']}"
    return "rep", path, _read(path)


def _credit(platform: Platform, org: dict[str, Any]) -> Subject:
    customer = _customer(platform, org["rep"]["token"])
    with platform.admin() as admin:
        wait_until(lambda: admin.get(f"/api/v1/credit/{customer['id']}").status_code == 200,
                   20, "customer copy in billing")
        _ok(admin.put(f"/api/v1/credit/{customer['id']}", json={
            "limit": "50000.00", "currency": "CNY", "hold": True, "hold_reason": "逾期"}))
    path = f"/credit/{customer['id']}"
    return "admin", path, _read(path)


Make = Callable[[Platform, dict[str, Any]], Subject]

BAD_UPDATES = [
    # the fuzzer's findings
    pytest.param(_campaign, "PATCH", {"budget": None, "theme": "换主题"},
                 id="campaign-budget-null"),
    pytest.param(_expense, "PATCH", {"kind": None, "category": None, "incurred_on": None,
                                     "description": "改了"}, id="expense-kind-category-date-null"),
    pytest.param(_lead, "PATCH", {"estimated_amount": 1.0860694831066758e+308, "name": None,
                                  "note": "改了"}, id="lead-estimate-huge-name-null"),
    # the same kinds of value on the other fields that cannot hold them
    pytest.param(_campaign, "PATCH", {"name": None}, id="campaign-name-null"),
    pytest.param(_campaign, "PATCH", {"materials": None}, id="campaign-materials-null"),
    pytest.param(_campaign, "PATCH", {"budget": TOO_BIG}, id="campaign-budget-overflow"),
    pytest.param(_campaign, "PATCH", {"region": "华东\u0000"}, id="campaign-region-nul"),
    pytest.param(_lead, "PATCH", {"name": None}, id="lead-name-null"),
    pytest.param(_lead, "PATCH", {"estimated_amount": TOO_BIG}, id="lead-estimate-overflow"),
    pytest.param(_opportunity, "PATCH", {"name": None}, id="opportunity-name-null"),
    pytest.param(_opportunity, "PATCH", {"amount": TOO_BIG}, id="opportunity-amount-overflow"),
    pytest.param(_stage, "PATCH", {"probability": None}, id="stage-probability-null"),
    pytest.param(_stage, "PATCH", {"name": None, "position": None, "is_active": None},
                 id="stage-name-position-active-null"),
    pytest.param(_stage, "PATCH", {"probability": "99.999"}, id="stage-probability-3-decimals"),
    pytest.param(_product_row, "PATCH", {"list_price": None}, id="product-price-null"),
    pytest.param(_product_row, "PATCH", {"list_price": TOO_BIG}, id="product-price-overflow"),
    pytest.param(_product_row, "PATCH", {"name": None, "unit": None}, id="product-name-unit-null"),
    pytest.param(_product_row, "PATCH", {"tax_rate": None, "is_active": None},
                 id="product-tax-active-null"),
    pytest.param(_product_row, "PATCH", {"materials": None}, id="product-materials-null"),
    pytest.param(_quote, "PATCH", {"lines": None, "note": "改了"}, id="quote-lines-null"),
    pytest.param(_order, "PATCH", {"lines": None}, id="order-lines-null"),
    pytest.param(_order, "PATCH", {"payment_terms": None}, id="order-terms-null"),
    pytest.param(_order, "PATCH", {"payment_terms": {"installments": [
        {"percent": "33.333333", "due_days": 0}, {"percent": "66.666667", "due_days": 30}]}},
        id="order-terms-percent-6-decimals"),
    pytest.param(_target, "PATCH", {"amount": TOO_BIG}, id="target-amount-overflow"),
    pytest.param(_expense, "PATCH", {"amount": None}, id="expense-amount-null"),
    pytest.param(_expense, "PATCH", {"currency": None}, id="expense-currency-null"),
    pytest.param(_expense, "PATCH", {"channel": None, "description": None},
                 id="expense-channel-description-null"),
    pytest.param(_expense, "PATCH", {"region": "\u0000"}, id="expense-region-nul"),
    pytest.param(_credit, "PUT", {"limit": "50000.00", "currency": "CNY", "hold": None},
                 id="credit-hold-null"),
]


@pytest.mark.parametrize(("make", "method", "body"), BAD_UPDATES)
def test_bad_update_is_refused_and_changes_nothing(
        platform: Platform, org: dict[str, Any], make: Make, method: str,
        body: dict[str, Any]) -> None:
    who, path, read = make(platform, org)
    with platform.admin() if who == "admin" else platform.client(org[who]["token"]) as c:
        before = read(c)
        refused(send_raw(c, method, path, body))
        assert read(c) == before


def test_dunning_settings_refuse_offsets_past_ten_years(platform: Platform) -> None:
    with platform.admin() as admin:
        before = _ok(admin.get("/api/v1/dunning-settings"))
        try:
            for body in ({"offsets": [916349395481279089317249024, -194484440036]},
                         {"offsets": [-3, 0, 7, 4000]},
                         {"offsets": [-3, 0, 7], "escalate_from_step": 2 ** 70}):
                refused(send_raw(admin, "PUT", "/dunning-settings", body))
                assert _ok(admin.get("/api/v1/dunning-settings")) == before
        finally:  # a schedule let through would change the other tests' dunning runs
            if _ok(admin.get("/api/v1/dunning-settings")) != before:
                admin.put("/api/v1/dunning-settings", json=before)


@pytest.mark.parametrize(("path", "params"), [
    # dates past what the reports can count from or to
    ("/analytics/forecast", {"period": "0000"}),
    ("/analytics/win-loss", {"period": "0000-Q1"}),
    ("/receivables/ageing", {"as_of": "9999-12-31"}),
    ("/reports/period", {"from": "0001-01-01", "to": "9999-12-31"}),
])
def test_bad_query_is_refused(platform: Platform, path: str, params: dict[str, str]) -> None:
    with platform.admin() as admin:
        refused(admin.get(f"/api/v1{path}", params=params))


@pytest.mark.parametrize(("path", "params"), [
    # a NUL reached the database's WHERE clause; the gateway refuses it for every route
    # (the services' query models refuse it too, for other RPC callers)
    ("/leads", {"q": "a\u0000"}),
    ("/products", {"code": "x\u0000"}),
    ("/expenses", {"campaign_id": "\u0000"}),
    ("/invoices", {"customer_id": "\u0000"}),
])
def test_nul_in_a_query_is_a_bad_request(platform: Platform, path: str,
                                         params: dict[str, str]) -> None:
    with platform.admin() as admin:
        r = admin.get(f"/api/v1{path}", params=params)
    assert r.status_code == 400, f"{r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    assert r.json()["code"] == "invalid_url"


@pytest.mark.parametrize(("path", "body"), [
    ("/dunning/run", {"as_of": "9999-12-31"}),
    ("/billing-jobs/run", {"job": "installments", "as_of": "9999-12-31"}),
    ("/billing-jobs/run", {"job": "dunning", "as_of": "0001-01-01"}),
])
def test_jobs_refuse_a_day_they_cannot_run_as_of(platform: Platform, path: str,
                                                 body: dict[str, Any]) -> None:
    with platform.admin() as admin:
        refused(send_raw(admin, "POST", path, body))


# -- what an update leaves out stays; what may be cleared still clears ----------------------
def test_update_keeps_what_it_leaves_out_and_clears_what_may_be_cleared(
        platform: Platform, org: dict[str, Any]) -> None:
    _, campaign, _ = _campaign(platform, org)
    with platform.admin() as admin:
        before = _ok(admin.get(f"/api/v1{campaign}"))
        after = _ok(admin.patch(f"/api/v1{campaign}", json={"theme": "冬季"}))
        assert after["theme"] == "冬季"
        assert (after["name"], after["budget"], after["materials"]) == \
            (before["name"], before["budget"], before["materials"])
        cleared = _ok(admin.patch(f"/api/v1{campaign}", json={"theme": None, "end_date": None}))
        assert cleared["theme"] is None and cleared["end_date"] is None
        assert cleared["budget"] == before["budget"]

    _, lead, _ = _lead(platform, org)
    with platform.client(org["rep"]["token"]) as c:
        before = _ok(c.get(f"/api/v1{lead}"))
        after = _ok(c.patch(f"/api/v1{lead}", json={"phone": "+86 139 0000 0000"}))
        assert (after["name"], after["estimated_amount"], after["note"]) == \
            (before["name"], before["estimated_amount"], before["note"])
        cleared = _ok(c.patch(f"/api/v1{lead}", json={"estimated_amount": None, "note": None}))
        assert cleared["estimated_amount"] is None and cleared["note"] is None
        assert cleared["name"] == before["name"]

    _, expense, _ = _expense(platform, org)
    with platform.client(org["rep"]["token"]) as c:
        before = _ok(c.get(f"/api/v1{expense}"))
        after = _ok(c.patch(f"/api/v1{expense}", json={"description": "场地租金"}))
        assert {k: after[k] for k in ("kind", "category", "channel", "amount", "currency",
                                      "incurred_on", "region")} == \
            {k: before[k] for k in ("kind", "category", "channel", "amount", "currency",
                                    "incurred_on", "region")}
        assert _ok(c.patch(f"/api/v1{expense}", json={"region": None}))["region"] is None

    _, product, _ = _product_row(platform, org)
    with platform.admin() as admin:
        before = _ok(admin.get(f"/api/v1{product}"))
        after = _ok(admin.patch(f"/api/v1{product}", json={"list_price": "900.00"}))
        assert after["list_price"] == "900.00"
        assert (after["name"], after["unit"], after["tax_rate"], after["materials"]) == \
            (before["name"], before["unit"], before["tax_rate"], before["materials"])


def test_a_lead_estimate_keeps_to_its_currency_on_update(platform: Platform,
                                                         org: dict[str, Any]) -> None:
    """The create checked the estimate's decimals against the lead's currency; the update
    stored 1.5 for a yen lead as it came."""
    with platform.client(org["rep"]["token"]) as c:
        lead = _ok(c.post("/api/v1/leads", json={
            "name": _tag(), "currency": "JPY", "estimated_amount": "6000"}), 201)
        problem = refused(send_raw(c, "PATCH", f"/leads/{lead['id']}",
                                   {"estimated_amount": "1.5"}))
        assert problem["code"] == "invalid_amount"
        # in the yen's decimals, whether just written or read back
        assert lead["estimated_amount"] == "6000"
        assert _ok(c.get(f"/api/v1/leads/{lead['id']}"))["estimated_amount"] == "6000"
        changed = _ok(c.patch(f"/api/v1/leads/{lead['id']}", json={"estimated_amount": 7000}))
        assert changed["estimated_amount"] == "7000"
        assert _ok(c.get(f"/api/v1/leads/{lead['id']}"))["estimated_amount"] == "7000"


@pytest.mark.parametrize("change", [{"credit_check_timeout_seconds": 1e-300},
                                    {"credit_check_timeout_seconds": 0.01},
                                    {"quote_discount_approval_percent": "1e5"}])
def test_sales_settings_past_what_they_can_mean_are_refused(platform: Platform,
                                                            change: dict[str, Any]) -> None:
    with platform.admin() as admin:
        before = _ok(admin.get("/api/v1/sales-settings"))
        assert _ok(admin.put("/api/v1/sales-settings", json=before)) == before  # a valid body
        refused(send_raw(admin, "PUT", "/sales-settings", {**before, **change}))
        assert _ok(admin.get("/api/v1/sales-settings")) == before
