"""Every list operation pages the same way (#28 defect 3, #20): generated from the
gateway's OpenAPI. Each GET whose response is a page (``items`` + ``next_cursor``) takes
``limit`` (1 … MAX_LIMIT; outside it a 422 problem) and ``cursor``, and walking the
cursor with any page size returns every row exactly once, the last page saying
``next_cursor: null``.

Each list operation has a factory below that creates rows for it; a list operation in
the OpenAPI without a factory fails ``test_every_list_operation_has_a_factory``, so a
new list cannot be left out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
import pytest
from crm_platform.pagination import MAX_LIMIT

from tests.e2e.conftest import Outside
from tests.e2e.sales_support import _ok, _product
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import expect_problem


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _id(item: dict[str, Any]) -> str:
    return str(item["id"])


@dataclass
class Listing:
    """Where a factory's rows are listed: ``path`` (below /api/v1) with ``params`` as
    ``token`` sees it; every key in ``created`` must be walked, and at least
    ``minimum`` rows."""

    token: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    minimum: int = 3
    key: Callable[[dict[str, Any]], str] = _id


class World:
    """What the factories share, made on first use: a rep of their own (their own-scope
    lists hold only what this module makes), three customers, and three orders confirmed
    at the list price with everything due at once (plans, invoices, receivables)."""

    def __init__(self, platform: Platform, outside: Outside) -> None:
        self.platform = platform
        self.outside = outside  # webhook subscribers the SSRF guard lets through
        platform.admin().close()  # logs in once
        self.admin_token = platform.tokens["admin"]

    def admin(self) -> httpx.Client:
        return self.platform.client(self.admin_token)

    def as_rep(self) -> httpx.Client:
        return self.platform.client(self.rep["token"])

    @cached_property
    def rep(self) -> dict[str, Any]:
        return self.platform.new_user(["sales_rep"], display_name=f"翻页{_tag()}")

    @cached_property
    def finance(self) -> dict[str, Any]:
        return self.platform.new_user(["finance"])

    @cached_property
    def customers(self) -> list[str]:
        with self.as_rep() as c:
            return [_ok(c.post("/api/v1/customers", json={
                "name": f"翻页客户{_tag()}有限公司", "kind": "company"}), 201)["id"]
                for _ in range(3)]

    @cached_property
    def stages(self) -> list[dict[str, Any]]:
        with self.admin() as admin:
            return list(_ok(admin.get("/api/v1/pipeline-stages",
                                      params={"limit": MAX_LIMIT}))["items"])

    @cached_property
    def orders(self) -> list[str]:
        product = _product(self.platform, "100.00")
        ids = []
        with self.as_rep() as c:
            for customer_id in self.customers:
                order = _ok(c.post("/api/v1/orders", json={
                    "customer_id": customer_id, "currency": "CNY",
                    "lines": [{"product_id": product["id"], "quantity": "3"}],
                    "payment_terms": {"installments": [{"percent": "100", "due_days": 0}]}}),
                    201)
                _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
                ids.append(order["id"])
        return ids

    def billed(self, path: str) -> set[str]:
        """The ids on the rep's ``path`` (plans, invoices) once billing made one per order."""
        self.orders  # noqa: B018 - confirmed first

        def three() -> set[str] | None:
            with self.as_rep() as c:
                items = c.get(f"/api/v1{path}", params={"limit": MAX_LIMIT}).json()["items"]
            return {i["id"] for i in items} if len(items) >= 3 else None
        return set(wait_until(three, 30, f"three {path} from order.confirmed"))


def _teams(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/teams", json={"name": f"翻页组{_tag()}"}), 201)["id"]
                for _ in range(3)}
    return Listing(w.admin_token, "/teams", created=made)


def _users(w: World) -> Listing:
    with w.admin() as admin:
        team = _ok(admin.post("/api/v1/teams", json={"name": f"翻页组{_tag()}"}), 201)["id"]
    made = {w.platform.new_user(["viewer"], team_id=team)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/users", {"team_id": team}, made)


def _api_keys(w: World) -> Listing:
    with w.as_rep() as c:
        made = {_ok(c.post("/api/v1/api-keys", json={"name": f"key{_tag()}"}), 201)["id"]
                for _ in range(3)}
    return Listing(w.rep["token"], "/api-keys", created=made)


def _audit_log(w: World) -> Listing:
    user = w.platform.new_user(["sales_rep"])
    with w.platform.client(user["token"]) as c:
        for _ in range(3):
            _ok(c.post("/api/v1/api-keys", json={"name": f"key{_tag()}"}), 201)

    def written() -> set[str] | None:  # the gateway writes its audit trail in batches
        with w.admin() as admin:
            items = admin.get("/api/v1/audit-log", params={
                "actor_id": user["id"], "limit": MAX_LIMIT}).json()["items"]
        return {str(i["id"]) for i in items} if len(items) >= 3 else None
    made = set(wait_until(written, 20, "three audit entries"))
    return Listing(w.admin_token, "/audit-log", {"actor_id": user["id"]}, made)


def _customers(w: World) -> Listing:
    return Listing(w.rep["token"], "/customers", created=set(w.customers))


def _customer_history(w: World) -> Listing:
    customer_id = w.customers[0]
    with w.as_rep() as c:
        for n in range(2):
            current = _ok(c.get(f"/api/v1/customers/{customer_id}"))
            _ok(c.patch(f"/api/v1/customers/{customer_id}", json={"industry": f"行业{n}"},
                        headers={"If-Match": f'"{current["version"]}"'}))
    return Listing(w.rep["token"], f"/customers/{customer_id}/history")  # created + 2 updates


def _contacts(w: World) -> Listing:
    customer_id = w.customers[0]
    with w.as_rep() as c:
        made = {_ok(c.post(f"/api/v1/customers/{customer_id}/contacts",
                           json={"name": f"联系人{n}"}), 201)["id"] for n in range(3)}
    return Listing(w.rep["token"], f"/customers/{customer_id}/contacts", created=made)


def _categories(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/customer-categories", json={
            "dimension": "type", "name": f"翻页类别{_tag()}"}), 201)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/customer-categories", created=made)


def _followups(w: World) -> Listing:
    with w.as_rep() as c:
        made = {_ok(c.post(f"/api/v1/customers/{w.customers[1]}/follow-ups", json={
            "method": "phone", "content": f"回访{n}"}), 201)["id"] for n in range(3)}
    return Listing(w.rep["token"], f"/customers/{w.customers[1]}/follow-ups", created=made)


def _due_followups(w: World) -> Listing:
    rep = w.platform.new_user(["sales_rep"])  # whose only reminders these are
    made = set()
    with w.platform.client(rep["token"]) as c:
        for n in range(3):  # a customer's new follow-up closes its open reminder
            customer_id = _ok(c.post("/api/v1/customers", json={
                "name": f"提醒{_tag()}", "kind": "person"}), 201)["id"]
            made.add(_ok(c.post(f"/api/v1/customers/{customer_id}/follow-ups", json={
                "method": "visit", "content": f"提醒{n}",
                "next_followup_on": date.today().isoformat()}), 201)["id"])
    return Listing(rep["token"], "/follow-ups/due", {"due_on_or_before": "2099-12-31"}, made)


def _visit_plans(w: World) -> Listing:
    at = datetime.now(UTC) + timedelta(days=3)
    with w.as_rep() as c:
        made = {_ok(c.post("/api/v1/visit-plans", json={
            "customer_id": w.customers[2], "purpose": f"拜访{n}",
            "planned_at": (at + timedelta(hours=n)).isoformat()}), 201)["id"]
            for n in range(3)}
    return Listing(w.rep["token"], "/visit-plans", {"customer_id": w.customers[2]}, made)


def _new_segments(w: World) -> set[str]:
    with w.as_rep() as c:
        return {_ok(c.post("/api/v1/segments", json={
            "name": f"翻页分群{_tag()}",
            "conditions": [{"field": "kind", "op": "eq", "value": "company"}]}), 201)["id"]
            for _ in range(3)}


def _segments(w: World) -> Listing:
    return Listing(w.rep["token"], "/segments", created=_new_segments(w))


def _segment_members(w: World) -> Listing:
    segment_id = sorted(_new_segments(w))[0]
    return Listing(w.rep["token"], f"/segments/{segment_id}/members",
                   created=set(w.customers))


def _assignment_rules(w: World) -> Listing:
    # inactive, for a province nobody has: no new customer's owner changes
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/assignment-rules", json={
            "kind": "region", "config": {"province": f"翻页省{_tag()}", "owner_id": w.rep["id"]},
            "priority": 10000, "active": False}), 201)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/assignment-rules", created=made)


def _leads(w: World) -> Listing:
    with w.as_rep() as c:
        made = {_ok(c.post("/api/v1/leads", json={"name": f"翻页线索{_tag()}"}), 201)["id"]
                for _ in range(3)}
    return Listing(w.rep["token"], "/leads", created=made)


def _pipeline_stages(w: World) -> Listing:
    # the seeded stages: a new stage would join every other test's pipeline
    return Listing(w.admin_token, "/pipeline-stages", created={s["id"] for s in w.stages})


def _new_opportunity(w: World) -> str:
    with w.as_rep() as c:
        return str(_ok(c.post("/api/v1/opportunities", json={
            "name": f"翻页商机{_tag()}", "customer_id": w.customers[0],
            "amount": "5000.00"}), 201)["id"])


def _opportunities(w: World) -> Listing:
    return Listing(w.rep["token"], "/opportunities",
                   created={_new_opportunity(w) for _ in range(3)})


def _opportunity_history(w: World) -> Listing:
    opportunity_id = _new_opportunity(w)
    with w.as_rep() as c:
        for stage in w.stages[1:3]:
            _ok(c.post(f"/api/v1/opportunities/{opportunity_id}/stage",
                       json={"stage_id": stage["id"]}))
    return Listing(w.rep["token"], f"/opportunities/{opportunity_id}/history")


def _campaigns(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/campaigns", json={
            "name": f"翻页活动{_tag()}", "kind": "launch", "budget": "100.00"}), 201)["id"]
            for _ in range(3)}
    return Listing(w.admin_token, "/campaigns", created=made)


def _product_categories(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/product-categories",
                               json={"name": f"翻页品类{_tag()}"}), 201)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/product-categories", created=made)


def _product_lines(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/product-lines",
                               json={"name": f"翻页产品线{_tag()}"}), 201)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/product-lines", created=made)


def _products(w: World) -> Listing:
    with w.admin() as admin:
        line = _ok(admin.post("/api/v1/product-lines", json={"name": f"翻页{_tag()}"}), 201)
        made = {_ok(admin.post("/api/v1/products", json={
            "code": f"P-{_tag()}", "name": "翻页产品", "unit": "件", "line_id": line["id"],
            "list_price": "10.00"}), 201)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/products", {"line_id": line["id"]}, made)


def _quote(c: httpx.Client, w: World, customer_id: str) -> str:
    return str(_ok(c.post("/api/v1/quotes", json={
        "customer_id": customer_id, "currency": "CNY",
        "lines": [{"product_id": _product(w.platform, "100.00")["id"], "quantity": "1"}]}),
        201)["id"])


def _quotes(w: World) -> Listing:
    with w.as_rep() as c:
        made = {_quote(c, w, customer_id) for customer_id in w.customers}
    return Listing(w.rep["token"], "/quotes", created=made)


def _customer_quotes(w: World) -> Listing:
    with w.as_rep() as c:  # a new quote supersedes the last, and the history keeps both
        made = {_quote(c, w, w.customers[1]) for _ in range(3)}
    return Listing(w.rep["token"], f"/customers/{w.customers[1]}/quotes", created=made)


def _orders(w: World) -> Listing:
    return Listing(w.rep["token"], "/orders", created=set(w.orders))


def _deliveries(w: World) -> Listing:
    order_id = w.orders[0]
    with w.as_rep() as c:
        made = {_ok(c.post(f"/api/v1/orders/{order_id}/deliveries", json={
            "delivered_on": date.today().isoformat(), "lines": [], "note": f"第{n}批"}),
            201)["id"] for n in range(3)}
    return Listing(w.rep["token"], f"/orders/{order_id}/deliveries", created=made)


def _sales_targets(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/sales-targets", json={
            "subject_kind": "rep", "subject_id": w.rep["id"], "period": period,
            "amount": "1000.00"}), 201)["id"] for period in ("2031", "2031-Q2", "2031-07")}
    return Listing(w.admin_token, "/sales-targets", {"subject_id": w.rep["id"]}, made)


def _work_logs(w: World) -> Listing:
    with w.as_rep() as c:
        made = {_ok(c.post("/api/v1/work-logs", json={
            "kind": "log", "day": date.today().isoformat(), "content": f"日志{n}"}), 201)["id"]
            for n in range(3)}
    return Listing(w.rep["token"], "/work-logs", created=made)


def _payment_plans(w: World) -> Listing:
    return Listing(w.rep["token"], "/payment-plans", created=w.billed("/payment-plans"))


def _invoices(w: World) -> Listing:
    return Listing(w.rep["token"], "/invoices", created=w.billed("/invoices"))


def _payments(w: World) -> Listing:
    w.billed("/invoices")
    with w.platform.client(w.finance["token"]) as f:
        made = {_ok(f.post("/api/v1/payments", json={
            "customer_id": w.customers[0], "amount": "1.00", "currency": "CNY",
            "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat()}),
            201)["id"] for _ in range(3)}
    return Listing(w.finance["token"], "/payments", {"customer_id": w.customers[0]}, made)


def _receivables(w: World) -> Listing:
    w.billed("/invoices")
    return Listing(w.rep["token"], "/receivables",
                   created={f"{c}/CNY" for c in w.customers},
                   key=lambda item: f"{item['customer_id']}/{item['currency']}")


def _expenses(w: World) -> Listing:
    with w.as_rep() as c:
        made = {_ok(c.post("/api/v1/expenses", json={
            "kind": "company", "category": "venue", "amount": "10.00",
            "description": f"场地{n}", "incurred_on": date.today().isoformat()}), 201)["id"]
            for n in range(3)}
    return Listing(w.rep["token"], "/expenses", created=made)


def _duplicates(w: World) -> Listing:
    """People of one name in one city are candidates (two people may share a name)."""
    made = set()
    with w.as_rep() as c:
        for _ in range(3):
            name = f"翻页{_tag()}"
            for _ in range(2):
                _ok(c.post("/api/v1/customers", json={
                    "name": name, "kind": "person",
                    "region": {"province": "浙江", "city": "杭州"}}), 201)
            made.add(f"person_name/{name}|浙江|杭州")
    return Listing(w.rep["token"], "/customers/duplicates", created=made,
                   key=lambda item: f"{item['matched_on']}/{item['value']}")


# -- the service desk ---------------------------------------------------------------------
def _desk_customer(w: World) -> str:
    """A company of the admin's with a contact, for the service desk's lists."""
    with w.admin() as admin:
        return str(_ok(admin.post("/api/v1/customers", json={
            "name": f"翻页售后{_tag()}有限公司", "kind": "company"}), 201)["id"])


def _desk_tickets(w: World, customer_id: str, n: int = 3) -> list[str]:
    with w.admin() as admin:
        return [_ok(admin.post("/api/v1/tickets", json={
            "customer_id": customer_id, "category": "fault", "channel": "phone",
            "subject": f"翻页工单{k}"}), 201)["id"] for k in range(n)]


def _tickets(w: World) -> Listing:
    customer_id = _desk_customer(w)
    return Listing(w.admin_token, "/tickets", {"customer_id": customer_id},
                   set(_desk_tickets(w, customer_id)))


def _ticket_comments(w: World) -> Listing:
    (ticket_id,) = _desk_tickets(w, _desk_customer(w), 1)
    with w.admin() as admin:
        made = {_ok(admin.post(f"/api/v1/tickets/{ticket_id}/{kind}", json={
            "body": f"回复{n}"}), 201)["id"] for n, kind in enumerate(
                ("replies", "notes", "replies"))}
    return Listing(w.admin_token, f"/tickets/{ticket_id}/comments", created=made)


def _ticket_log(w: World) -> Listing:
    (ticket_id,) = _desk_tickets(w, _desk_customer(w), 1)
    with w.admin() as admin:  # created, then three status changes
        for step in ("pending", "open", "pending"):
            _ok(admin.post(f"/api/v1/tickets/{ticket_id}/{step}", json={}))
    return Listing(w.admin_token, f"/tickets/{ticket_id}/log", minimum=4,
                   key=lambda item: str(item["id"]))


def _work_orders(w: World) -> Listing:
    (ticket_id,) = _desk_tickets(w, _desk_customer(w), 1)
    with w.admin() as admin:
        made = {_ok(admin.post(f"/api/v1/tickets/{ticket_id}/work-orders", json={}), 201)[
            "id"] for _ in range(3)}
    return Listing(w.admin_token, "/work-orders", {"ticket_id": ticket_id}, made)


def _technicians(w: World) -> Listing:
    made = {w.platform.new_user(["technician"], display_name=f"翻页师傅{_tag()}")["id"]
            for _ in range(3)}

    def known() -> bool:
        with w.admin() as admin:
            items = admin.get("/api/v1/technicians", params={"limit": MAX_LIMIT}).json()
        return made <= {i["id"] for i in items["items"]}
    wait_until(known, 30, "the service desk's copy of three technicians")
    return Listing(w.admin_token, "/technicians", created=made)


def _sla_policies(w: World) -> Listing:
    # priorities of suggestions no other test's tickets have
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/sla-policies", json={
            "name": f"翻页{priority}", "category": "suggestion", "priority": priority,
            "first_response_minutes": 60, "resolution_minutes": 600}), 201)["id"]
            for priority in ("low", "high", "urgent")}
    return Listing(w.admin_token, "/sla-policies", created=made)


def _calendars(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/business-calendars", json={
            "name": f"翻页日历{_tag()}", "hours": [{"weekday": 0, "start": "09:00",
                                                  "end": "18:00"}]}), 201)["id"]
            for _ in range(3)}
    return Listing(w.admin_token, "/business-calendars", created=made)


def _callbacks(w: World) -> Listing:
    customer_id = _desk_customer(w)
    with w.admin() as admin:
        for ticket_id in _desk_tickets(w, customer_id):
            _ok(admin.post(f"/api/v1/tickets/{ticket_id}/resolve",
                           json={"resolution": "已解决"}))
        made = {c["id"] for c in _ok(admin.get("/api/v1/callbacks", params={
            "customer_id": customer_id, "limit": MAX_LIMIT}))["items"]}
    assert len(made) == 3
    return Listing(w.admin_token, "/callbacks", {"customer_id": customer_id}, made)


def _kb_articles(w: World, visibility: str = "internal") -> tuple[str, set[str]]:
    category = f"翻页{_tag()}"
    with w.admin() as admin:
        made = set()
        for n in range(3):
            article = _ok(admin.post("/api/v1/kb/articles", json={
                "title": f"翻页文章{n}", "body": "翻页", "category": category,
                "visibility": visibility}), 201)
            _ok(admin.post(f"/api/v1/kb/articles/{article['id']}/versions/1/publish"))
            made.add(article["id"])
    return category, made


def _articles(w: World) -> Listing:
    category, made = _kb_articles(w)
    return Listing(w.admin_token, "/kb/articles", {"category": category}, made)


def _portal_token(w: World, customer_id: str) -> str:
    email = f"portal.{_tag()}@example.com"
    password = "portal-pass-123"
    with w.admin() as admin:
        contact = _ok(admin.post(f"/api/v1/customers/{customer_id}/contacts", json={
            "name": "翻页联系人", "emails": [email]}), 201)
        invitation = _ok(admin.post(f"/api/v1/customers/{customer_id}/contacts/"
                                    f"{contact['id']}/portal-invite", json={}), 201)
        _ok(admin.post("/api/v1/portal/accept", json={
            "invite_token": invitation["invite_token"], "password": password}))
    return w.platform.login(email, password)


def _portal_tickets(w: World) -> Listing:
    token = _portal_token(w, _desk_customer(w))
    with w.platform.client(token) as c:
        made = {_ok(c.post("/api/v1/portal/tickets", json={
            "category": "consultation", "subject": f"翻页咨询{n}"}), 201)["id"]
            for n in range(3)}
    return Listing(token, "/portal/tickets", created=made)


def _portal_articles(w: World) -> Listing:
    category, made = _kb_articles(w, "public")
    return Listing(_portal_token(w, _desk_customer(w)), "/portal/kb/articles",
                   {"category": category}, made)


# -- documents --------------------------------------------------------------------------
def _rep_document(w: World, **fields: Any) -> dict[str, Any]:
    with w.as_rep() as c:
        return _ok(c.post("/api/v1/documents", json={
            "title": f"翻页文档{_tag()}", "category": "work_summary", **fields}), 201)


def _documents(w: World) -> Listing:
    tag = f"翻页{_tag()}"
    made = {_rep_document(w, tags=[tag])["id"] for _ in range(3)}
    return Listing(w.rep["token"], "/documents", {"tag": tag}, made)


def _document_categories(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/document-categories", json={
            "code": f"paging_{_tag()}", "name": f"翻页类{_tag()}"}), 201)["code"]
            for _ in range(3)}
    return Listing(w.admin_token, "/document-categories", created=made,
                   key=lambda item: str(item["code"]))


def _document_versions(w: World) -> Listing:
    doc = _rep_document(w)
    with w.as_rep() as c:
        for n in range(3):
            _ok(c.post(f"/api/v1/documents/{doc['id']}/versions",
                       params={"filename": f"第{n}版.txt"}, content=f"版本{n}".encode()), 201)
    return Listing(w.rep["token"], f"/documents/{doc['id']}/versions",
                   created={"1", "2", "3"}, key=lambda item: str(item["number"]))


def _document_grants(w: World) -> Listing:
    doc = _rep_document(w)
    with w.as_rep() as c:
        made = {_ok(c.post(f"/api/v1/documents/{doc['id']}/grants",
                           json={"kind": "role", "grantee_id": role}), 201)["id"]
                for role in ("finance", "marketing", "technician")}
    return Listing(w.rep["token"], f"/documents/{doc['id']}/grants", created=made)


def _access_requests(w: World) -> Listing:
    doc = _rep_document(w, level="confidential")
    with w.platform.client(w.finance["token"]) as c:
        made = {_ok(c.post(f"/api/v1/documents/{doc['id']}/access-requests",
                           json={"reason": f"翻页{n}", "days": 1}), 201)["id"]
                for n in range(3)}
    return Listing(w.rep["token"], "/access-requests", {"document_id": doc["id"]}, made)


def _access_log(w: World) -> Listing:
    doc = _rep_document(w)
    with w.as_rep() as c:
        for _ in range(3):
            _ok(c.get(f"/api/v1/documents/{doc['id']}"))
    return Listing(w.admin_token, f"/documents/{doc['id']}/access-log")


def _retention_due(w: World) -> Listing:
    code = f"paging_{_tag()}"
    with w.admin() as admin:
        _ok(admin.post("/api/v1/document-categories",
                       json={"code": code, "name": "翻页保管", "retention_years": 1}), 201)
    made = {_rep_document(w, category=code)["id"] for _ in range(3)}
    as_of = date.today().replace(year=date.today().year + 2, day=1)
    return Listing(w.admin_token, "/retention/due", {"as_of": as_of.isoformat()}, made)


def _admin_destruction_request(w: World) -> tuple[str, str]:
    with w.admin() as admin:
        doc = _ok(admin.post("/api/v1/documents", json={
            "title": f"翻页销毁{_tag()}", "category": "quote"}), 201)
        request = _ok(admin.post(f"/api/v1/documents/{doc['id']}/destruction-requests",
                                 json={"reason": "翻页"}), 201)
    return doc["id"], request["id"]


def _destruction_requests(w: World) -> Listing:
    made = {_admin_destruction_request(w)[1] for _ in range(3)}
    return Listing(w.admin_token, "/destruction-requests", {"status": "pending"}, made)


def _destruction_records(w: World) -> Listing:
    archivist = w.platform.new_user(["archivist"])
    made = set()
    with w.platform.client(archivist["token"]) as c:
        for _ in range(3):
            doc_id, request_id = _admin_destruction_request(w)
            _ok(c.post(f"/api/v1/destruction-requests/{request_id}/approve", json={}))
            made.add(doc_id)
    return Listing(w.admin_token, "/destruction-records", created=made,
                   key=lambda item: str(item["document_id"]))


# operation id → the factory making rows for it
# -- notifications ---------------------------------------------------------------------
def _notify_template(w: World) -> str:
    with w.admin() as c:
        return str(_ok(c.post("/api/v1/templates", json={
            "name": f"翻页{_tag()}", "bodies": {"zh-CN": {"text": "翻页"}}}), 201)["id"])


def _inbox_messages(w: World) -> list[str]:
    """Three messages to the rep's inbox (once the notification service knows the rep);
    the ids of their deliveries."""
    template = _notify_template(w)
    made: list[str] = []
    with w.admin() as c:
        def send() -> bool:
            r = c.post("/api/v1/notifications", json={
                "template_id": template, "category": "transactional", "channels": ["inbox"],
                "recipients": {"user_ids": [w.rep["id"]]}})
            if r.status_code == 201:
                made.extend(r.json()["delivery_ids"])
            return r.status_code == 201
        for _ in range(3):
            wait_until(send, 30, "the rep known to notify")
    return made


def _inbox(w: World) -> Listing:
    _inbox_messages(w)
    return Listing(w.rep["token"], "/inbox")


def _message_deliveries(w: World) -> Listing:
    made = _inbox_messages(w)
    return Listing(w.admin_token, "/deliveries", {"recipient_id": w.rep["id"]},
                   created=set(made))


def _templates(w: World) -> Listing:
    return Listing(w.admin_token, "/templates", created={_notify_template(w)
                                                         for _ in range(3)})


def _notification_rules(w: World) -> Listing:
    template = _notify_template(w)
    with w.admin() as c:
        made = {_ok(c.post("/api/v1/notification-rules", json={
            "name": f"翻页{n}", "event_type": f"paging_{_tag()}.done", "recipients": ["owner"],
            "channels": ["inbox"], "template_id": template}), 201)["id"] for n in range(3)}
    return Listing(w.admin_token, "/notification-rules", created=made)


def _holidays(w: World) -> Listing:
    with w.admin() as c:
        made = set()
        for _ in range(3):
            day = date(2100, 1, 1) + timedelta(days=uuid.uuid4().int % 30000)
            r = c.post("/api/v1/holidays", json={"date": day.isoformat(), "name": "翻页节"})
            if r.status_code == 201:
                made.add(r.json()["id"])
    return Listing(w.admin_token, "/holidays", created=made, minimum=len(made))


def _webhooks(w: World) -> Listing:
    with w.admin() as c:
        made = {_ok(c.post("/api/v1/webhooks", json={
            "url": w.outside.hook_url(f"/paging/{n}"), "event_types": [f"paging_{_tag()}.*"]}),
            201)["id"] for n in range(3)}
    return Listing(w.admin_token, "/webhooks", created=made)


def _webhook_deliveries(w: World) -> Listing:
    with w.admin() as c:
        endpoint = _ok(c.post("/api/v1/webhooks", json={
            "url": w.outside.hook_url("/paging/customers"), "event_types": ["customer.*"]}),
            201)["id"]
    with w.as_rep() as c:
        for n in range(3):
            _ok(c.post("/api/v1/customers", json={"name": f"翻页钩子{n}-{_tag()}",
                                                  "kind": "person"}), 201)
    with w.admin() as c:
        wait_until(lambda: len(c.get(f"/api/v1/webhooks/{endpoint}/deliveries").json()[
            "items"]) >= 3, 30, "three webhook deliveries")
    return Listing(w.admin_token, f"/webhooks/{endpoint}/deliveries")


def _inbound_sources(w: World) -> Listing:
    _inbox_messages(w)  # the rep is known to notify
    with w.admin() as c:
        made = {_ok(c.post("/api/v1/inbound-sources", json={
            "name": f"paging-{_tag()}", "owner_id": w.rep["id"]}), 201)["id"]
            for _ in range(3)}
    return Listing(w.admin_token, "/inbound-sources", created=made)


def _member_tiers(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/member-tiers", json={
            "code": f"page{_tag()}", "name": "翻页等级",
            "threshold": 10 ** 8 + int(_tag(), 16) % 10 ** 8}), 201)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/member-tiers", created=made)


def _member_card(w: World) -> str:
    with w.as_rep() as c:
        card = c.get("/api/v1/member-cards", params={"customer_id": w.customers[2]}).json()
        if card["items"]:
            return str(card["items"][0]["id"])
        return str(_ok(c.post("/api/v1/member-cards",
                              json={"customer_id": w.customers[2]}), 201)["id"])


def _member_cards(w: World) -> Listing:
    _member_card(w)
    with w.as_rep() as c:
        made = {_ok(c.post("/api/v1/member-cards", json={"customer_id": customer_id}),
                    201)["id"] for customer_id in w.customers[:2]}
    return Listing(w.rep["token"], "/member-cards", created=made | {_member_card(w)})


def _points_entries(w: World) -> Listing:
    card_id = _member_card(w)
    with w.admin() as admin:
        made = {_ok(admin.post(f"/api/v1/member-cards/{card_id}/points/adjust", json={
            "points": n + 1, "reason": f"翻页{n}"}), 201)["entry"]["id"] for n in range(3)}
    return Listing(w.rep["token"], f"/member-cards/{card_id}/points", created=made)


def _points_bonus_rules(w: World) -> Listing:
    # inactive: they give no points to the other tests' payments; one day, so the id
    # orders them
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/points-bonus-rules", json={
            "name": f"翻页{n}", "fixed_points": n + 1, "active": False,
            "starts_on": "2026-01-01", "ends_on": "2026-01-01"}), 201)["id"]
            for n in range(3)}
    return Listing(w.admin_token, "/points-bonus-rules", created=made)


def _stored_value_account(w: World) -> str:
    with w.platform.client(w.finance["token"]) as f:
        found = f.get("/api/v1/stored-value-accounts", params={
            "customer_id": w.customers[2], "currency": "CNY"}).json()["items"]
        if found:
            return str(found[0]["id"])
        return str(_ok(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": w.customers[2], "currency": "CNY"}), 201)["id"])


def _stored_value_accounts(w: World) -> Listing:
    made = {_stored_value_account(w)}
    with w.platform.client(w.finance["token"]) as f:
        made |= {_ok(f.post("/api/v1/stored-value-accounts", json={
            "customer_id": customer_id, "currency": "CNY"}), 201)["id"]
            for customer_id in w.customers[:2]}
    return Listing(w.rep["token"], "/stored-value-accounts", created=made)


def _stored_value_entries(w: World) -> Listing:
    account_id = _stored_value_account(w)
    with w.platform.client(w.finance["token"]) as f:
        made = {_ok(f.post(f"/api/v1/stored-value-accounts/{account_id}/top-ups", json={
            "amount": f"{n + 1}.00", "currency": "CNY", "method": "cash"}), 201)["entry"]["id"]
            for n in range(3)}
    return Listing(w.rep["token"], f"/stored-value-accounts/{account_id}/entries",
                   created=made)

def _calls(w: World) -> Listing:
    customer_id = _desk_customer(w)
    start = datetime.now(UTC) - timedelta(hours=1)
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/calls", json={
            "direction": "inbound", "from_number": f"1390000{n:04d}",
            "to_number": "4008001234", "customer_id": customer_id,
            "started_at": (start + timedelta(minutes=n)).isoformat()}), 201)["id"]
            for n in range(3)}
    return Listing(w.admin_token, "/calls", {"customer_id": customer_id}, made)


def _call_list_with_entries(w: World) -> tuple[str, set[str]]:
    """A manual call list of a customer with three contacts, once the service desk's
    copy has them."""
    customer_id = _desk_customer(w)
    phones = [f"1391{uuid.uuid4().int % 10**7:07d}" for _ in range(3)]
    with w.admin() as admin:
        contacts = {_ok(admin.post(f"/api/v1/customers/{customer_id}/contacts", json={
            "name": f"翻页联系人{n}", "phones": [phone]}), 201)["id"]
            for n, phone in enumerate(phones)}

        def copied() -> bool:
            return all(_ok(admin.get("/api/v1/calls/lookup", params={"phone": p}))["contacts"]
                       for p in phones)
        wait_until(copied, 30, "the service desk's copy has the contacts")
        made = _ok(admin.post("/api/v1/call-lists", json={
            "name": f"翻页名单{_tag()}", "purpose": "service", "source": "manual",
            "customer_ids": [customer_id]}), 201)
        entries = _ok(admin.get(f"/api/v1/call-lists/{made['id']}/entries"))["items"]
    assert made["entries"] == 3, made
    assert {e["contact_id"] for e in entries} == contacts
    return made["id"], {e["id"] for e in entries}


def _call_lists(w: World) -> Listing:
    customer_id = _desk_customer(w)
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/call-lists", json={
            "name": f"翻页名单{n}", "purpose": "service", "source": "manual",
            "customer_ids": [customer_id]}), 201)["id"] for n in range(3)}
    return Listing(w.admin_token, "/call-lists", created=made)


def _call_list_entries(w: World) -> Listing:
    list_id, made = _call_list_with_entries(w)
    return Listing(w.admin_token, f"/call-lists/{list_id}/entries", created=made)


def _telephony_connectors(w: World) -> Listing:
    with w.admin() as admin:
        made = {_ok(admin.post("/api/v1/telephony/connectors", json={
            "name": f"paging-{_tag()}"}), 201)["id"] for _ in range(3)}
    return Listing(w.admin_token, "/telephony/connectors", created=made)


FACTORIES: dict[str, Callable[[World], Listing]] = {
    "list_teams": _teams,
    "list_users": _users,
    "list_api_keys": _api_keys,
    "list_audit_log": _audit_log,
    "list_customers": _customers,
    "list_duplicates": _duplicates,
    "get_customer_history": _customer_history,
    "list_contacts": _contacts,
    "list_categories": _categories,
    "list_followups": _followups,
    "list_due_followups": _due_followups,
    "list_visit_plans": _visit_plans,
    "list_segments": _segments,
    "list_segment_members": _segment_members,
    "list_assignment_rules": _assignment_rules,
    "list_leads": _leads,
    "list_pipeline_stages": _pipeline_stages,
    "list_opportunities": _opportunities,
    "get_opportunity_history": _opportunity_history,
    "list_campaigns": _campaigns,
    "list_product_categories": _product_categories,
    "list_product_lines": _product_lines,
    "list_products": _products,
    "list_quotes": _quotes,
    "list_customer_quotes": _customer_quotes,
    "list_orders": _orders,
    "list_deliveries": _deliveries,
    "list_sales_targets": _sales_targets,
    "list_work_logs": _work_logs,
    "list_payment_plans": _payment_plans,
    "list_invoices": _invoices,
    "list_payments": _payments,
    "list_receivables": _receivables,
    "list_expenses": _expenses,
    "list_tickets": _tickets,
    "list_ticket_comments": _ticket_comments,
    "get_ticket_log": _ticket_log,
    "list_work_orders": _work_orders,
    "list_technicians": _technicians,
    "list_sla_policies": _sla_policies,
    "list_business_calendars": _calendars,
    "list_callbacks": _callbacks,
    "list_calls": _calls,
    "list_call_lists": _call_lists,
    "list_call_list_entries": _call_list_entries,
    "list_telephony_connectors": _telephony_connectors,
    "list_kb_articles": _articles,
    "portal_list_tickets": _portal_tickets,
    "portal_list_articles": _portal_articles,
    "list_documents": _documents,
    "list_document_categories": _document_categories,
    "list_versions": _document_versions,
    "list_grants": _document_grants,
    "list_access_requests": _access_requests,
    "get_access_log": _access_log,
    "list_retention_due": _retention_due,
    "list_destruction_requests": _destruction_requests,
    "list_destruction_records": _destruction_records,
    "list_inbox": _inbox,
    "list_notification_deliveries": _message_deliveries,
    "list_templates": _templates,
    "list_rules": _notification_rules,
    "list_holidays": _holidays,
    "list_webhooks": _webhooks,
    "list_webhook_deliveries": _webhook_deliveries,
    "list_inbound_sources": _inbound_sources,
    "list_member_tiers": _member_tiers,
    "list_member_cards": _member_cards,
    "list_points_entries": _points_entries,
    "list_points_bonus_rules": _points_bonus_rules,
    "list_stored_value_accounts": _stored_value_accounts,
    "list_stored_value_entries": _stored_value_entries,
}


def page_operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Operation id → operation, for every GET whose 200 response is a page."""
    schemas = spec["components"]["schemas"]
    found = {}
    for ops in spec["paths"].values():
        operation = ops.get("get")
        if operation is None:
            continue
        content = operation["responses"].get("200", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        properties = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        if {"items", "next_cursor"} <= set(properties):
            found[operation["operationId"]] = operation
    return found


@pytest.fixture(scope="module")
def world(platform: Platform, outside: Outside) -> World:
    return World(platform, outside)


def test_every_list_operation_has_a_factory(openapi: dict[str, Any]) -> None:
    listed = set(page_operations(openapi))
    assert listed, "no list operation found in the OpenAPI"
    assert listed - set(FACTORIES) == set(), "list operations without a paging factory"
    assert set(FACTORIES) - listed == set(), "factories for operations that do not page"


def _walk(c: httpx.Client, listing: Listing, limit: int) -> list[str]:
    keys: list[str] = []
    cursor = None
    for _ in range(10_000):
        params = {**listing.params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = _ok(c.get(f"/api/v1{listing.path}", params=params))
        assert len(body["items"]) <= limit, (limit, len(body["items"]))
        keys += [listing.key(item) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return keys
        assert body["items"], "a page with a next cursor has rows"
    raise AssertionError(f"{listing.path}: the cursor never ended")


@pytest.mark.parametrize("operation_id", sorted(FACTORIES))
def test_walking_the_cursor_returns_every_row_exactly_once(
        openapi: dict[str, Any], world: World, operation_id: str) -> None:
    operation = page_operations(openapi).get(operation_id)
    assert operation is not None, f"{operation_id} is not a list operation"
    parameters = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    assert {"limit", "cursor"} <= set(parameters), parameters
    assert parameters["limit"]["schema"].get("minimum") == 1
    assert parameters["limit"]["schema"].get("maximum") == MAX_LIMIT

    listing = FACTORIES[operation_id](world)
    with world.platform.client(listing.token) as c:
        walks = {limit: _walk(c, listing, limit) for limit in (1, 2, MAX_LIMIT)}
        for limit, keys in walks.items():
            assert len(keys) == len(set(keys)), f"limit={limit}: a row came twice"
        assert set(walks[1]) == set(walks[2]) == set(walks[MAX_LIMIT])
        assert walks[1] == walks[2] == walks[MAX_LIMIT], "the order changed with the page size"
        assert listing.created <= set(walks[1]), listing.created - set(walks[1])
        assert len(walks[1]) >= listing.minimum, walks[1]
        for bad in (0, MAX_LIMIT + 1):
            r = c.get(f"/api/v1{listing.path}", params={**listing.params, "limit": bad})
            problem = expect_problem(r, 422)
            assert "limit" in json.dumps(problem), problem
