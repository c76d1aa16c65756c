"""The audit trail (#28 defect 7): every operation the OpenAPI marks ``x-confidential``
leaves an entry for each call, denied ones too (generated: a marked operation without a
case below fails), and a write's entry records its record's changed fields as
``{field: [old, new]}``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _ok
from tests.support.infra import wait_until
from tests.support.platform import Platform

# what the issue named: their reads were not audited
NAMED = {"get_credit", "get_statement", "list_payments", "get_payment", "list_contacts",
         "get_contact"}


class Data:
    """A rep with a customer, its contact, a payment and a credit profile."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        platform.admin().close()
        self.admin_token = platform.tokens["admin"]

    @cached_property
    def rep(self) -> dict[str, Any]:
        return self.platform.new_user(["sales_rep"])

    @cached_property
    def manager(self) -> dict[str, Any]:
        return self.platform.new_user(["sales_manager"])

    @cached_property
    def customer(self) -> str:
        with self.platform.client(self.rep["token"]) as c:
            return str(_ok(c.post("/api/v1/customers", json={
                "name": f"审计客户{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}),
                201)["id"])

    @cached_property
    def contact(self) -> str:
        with self.platform.client(self.rep["token"]) as c:
            return str(_ok(c.post(f"/api/v1/customers/{self.customer}/contacts", json={
                "name": "王总", "phones": ["139 0000 0000"]}), 201)["id"])

    @cached_property
    def document(self) -> str:
        """A document of the rep's with one version."""
        with self.platform.client(self.rep["token"]) as c:
            doc = _ok(c.post("/api/v1/documents", json={
                "title": "审计合同", "category": "contract", "level": "confidential"}), 201)
            _ok(c.post(f"/api/v1/documents/{doc['id']}/versions",
                       params={"filename": "合同.txt"}, content="合同正文".encode()), 201)
        return str(doc["id"])

    @cached_property
    def payment(self) -> str:
        body = {"customer_id": self.customer, "amount": "10.00", "currency": "CNY",
                "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat()}

        def paid() -> str | None:  # once billing has the customer (customer.created)
            with self.platform.client(self.admin_token) as admin:
                r = admin.post("/api/v1/payments", json=body)
            return str(r.json()["id"]) if r.status_code == 201 else None
        return str(wait_until(paid, 20, "a payment once billing knows the customer"))


@dataclass(frozen=True)
class Call:
    who: str  # "rep" or "manager"
    path: str  # below /api/v1
    params: dict[str, Any]
    resource_id: str | None  # the record read (the first path parameter for a list)


def _statement_params(d: Data) -> dict[str, Any]:
    return {"customer_id": d.customer, "from": (date.today() - timedelta(days=7)).isoformat(),
            "to": date.today().isoformat()}


CASES: dict[str, Any] = {
    "get_customer": lambda d: Call("rep", f"/customers/{d.customer}", {}, d.customer),
    "export_customers": lambda d: Call("manager", "/customers/export", {}, None),
    "get_customer_history": lambda d: Call("rep", f"/customers/{d.customer}/history", {},
                                           d.customer),
    "get_customer_360": lambda d: Call("rep", f"/customers/{d.customer}/360", {}, d.customer),
    "list_contacts": lambda d: Call("rep", f"/customers/{d.customer}/contacts", {},
                                    d.customer),
    "get_contact": lambda d: Call("rep", f"/customers/{d.customer}/contacts/{d.contact}", {},
                                  d.contact),
    "list_payments": lambda d: Call("rep", "/payments", {"customer_id": d.customer}, None),
    "get_payment": lambda d: Call("rep", f"/payments/{d.payment}", {}, d.payment),
    "get_statement": lambda d: Call("rep", "/statements", _statement_params(d), None),
    "get_credit": lambda d: Call("rep", f"/credit/{d.customer}", {}, d.customer),
    "get_document": lambda d: Call("rep", f"/documents/{d.document}", {}, d.document),
    "download_version": lambda d: Call("rep", f"/documents/{d.document}/versions/1/content",
                                       {}, d.document),
    # the directory finds customers' contacts (CUS-18)
    "search_directory": lambda d: Call("rep", "/directory", {"q": "王总"}, None),
}


def confidential_operations(spec: dict[str, Any]) -> set[str]:
    return {operation["operationId"] for ops in spec["paths"].values()
            for operation in ops.values()
            if isinstance(operation, dict) and operation.get("x-confidential")}


@pytest.fixture(scope="module")
def data(platform: Platform) -> Data:
    return Data(platform)


def _entry(platform: Platform, actor_id: str, action: str, request_id: str
           ) -> dict[str, Any]:
    """The audit entry of one request (the gateway writes its trail in batches)."""
    def written() -> dict[str, Any] | None:
        with platform.admin() as admin:
            items = _ok(admin.get("/api/v1/audit-log", params={
                "actor_id": actor_id, "action": action, "limit": 500}))["items"]
        return next((e for e in items if e["request_id"] == request_id), None)
    return dict(wait_until(written, 20, f"the audit entry of {action}"))


def test_every_confidential_operation_has_a_case(openapi: dict[str, Any]) -> None:
    marked = confidential_operations(openapi)
    assert marked >= NAMED, f"not marked confidential: {NAMED - marked}"
    assert marked - set(CASES) == set(), "confidential operations without an audit case"
    assert set(CASES) - marked == set(), "cases for operations not marked confidential"


@pytest.mark.parametrize("operation_id", sorted(CASES))
def test_every_confidential_read_is_audited(data: Data, operation_id: str) -> None:
    call = CASES[operation_id](data)
    user = getattr(data, call.who)
    request_id = uuid.uuid4().hex
    with data.platform.client(user["token"], **{"X-Request-ID": request_id}) as c:
        r = c.get(f"/api/v1{call.path}", params=call.params)
    assert r.status_code == 200, r.text
    entry = _entry(data.platform, user["id"], operation_id, request_id)
    assert (entry["method"], entry["status"], entry["outcome"]) == ("GET", 200, "success")
    assert entry["resource_id"] == call.resource_id
    assert entry["detail"] is not None and "query" in entry["detail"]


def test_a_denied_confidential_read_is_audited(data: Data) -> None:
    viewer = data.platform.new_user(["viewer"])  # may read customers, not their credit
    request_id = uuid.uuid4().hex
    with data.platform.client(viewer["token"], **{"X-Request-ID": request_id}) as c:
        assert c.get(f"/api/v1/credit/{data.customer}").status_code == 403
    entry = _entry(data.platform, viewer["id"], "get_credit", request_id)
    assert (entry["status"], entry["outcome"]) == (403, "denied")


def _changes(data: Data, actor_id: str, action: str, r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    entry = _entry(data.platform, actor_id, action, r.headers["x-request-id"])
    return dict((entry["detail"] or {}).get("changes") or {})


def test_write_entries_record_the_changed_fields_old_and_new_values(data: Data) -> None:
    rep = data.rep
    with data.platform.client(rep["token"]) as c:
        before = _ok(c.get(f"/api/v1/customers/{data.customer}"))
        r = c.patch(f"/api/v1/customers/{data.customer}",
                    json={"name": f"{before['name']}（新）", "industry": "制造业",
                          "region": {"province": "浙江"}},
                    headers={"If-Match": f'"{before["version"]}"'})
        assert "_audit_changes" not in r.json()
    assert _changes(data, rep["id"], "update_customer", r) == {
        "name": [before["name"], f"{before['name']}（新）"], "industry": [None, "制造业"],
        "province": [None, "浙江"]}

    with data.platform.client(data.admin_token) as admin:
        admin_id = _ok(admin.get("/api/v1/me"))["id"]
        version = _ok(admin.get(f"/api/v1/credit/{data.customer}"))["version"]
        first = _ok(admin.put(f"/api/v1/credit/{data.customer}",
                              json={"limit": "1000.00", "currency": "CNY"},
                              headers={"If-Match": f'"{version}"'}))
        r = admin.put(f"/api/v1/credit/{data.customer}",
                      json={"limit": "2500.00", "currency": "CNY"},
                      headers={"If-Match": f'"{first["version"]}"'})
    assert _changes(data, admin_id, "put_credit", r) == {"limit": ["1000.00", "2500.00"]}

    with data.platform.client(data.admin_token) as admin:  # the gateway's own records
        user = _ok(admin.get(f"/api/v1/users/{data.manager['id']}"))
        r = admin.patch(f"/api/v1/users/{user['id']}",
                        json={"display_name": "新名字", "password": "another-pass-123"},
                        headers={"If-Match": f'"{user["version"]}"'})
    changes = _changes(data, admin_id, "update_user", r)
    assert changes == {"display_name": [user["display_name"], "新名字"]}  # no password hash
