"""Converting a lead keeps its contact person: the company it becomes has the lead's
contact (name, phone, email) and the opportunity is with that contact (issue #28,
defect 6)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.sales_support import _ok
from tests.support.platform import Platform


def _phone() -> str:
    return f"139 {uuid.uuid4().int % 10000:04d} {uuid.uuid4().int % 10000:04d}"


def test_conversion_creates_the_contact_and_links_it(platform: Platform,
                                                      org: dict[str, Any]) -> None:
    phone = _phone()
    with platform.client(org["rep"]["token"]) as c:
        lead = _ok(c.post("/api/v1/leads", json={
            "name": f"苏州工业园{uuid.uuid4().hex[:5]}科技有限公司", "contact_name": "林总",
            "phone": phone, "email": "lin@example.cn", "source": "展会"}), 201)
        converted = _ok(c.post(f"/api/v1/leads/{lead['id']}/convert", json={}))
        contacts = _ok(c.get(f"/api/v1/customers/{converted['customer_id']}/contacts"))
        assert [(x["name"], x["phones"], x["emails"]) for x in contacts["items"]] == [
            ("林总", ["+86" + phone.replace(" ", "")], ["lin@example.cn"])]
        opportunity = _ok(c.get(f"/api/v1/opportunities/{converted['opportunity_id']}"))
        assert opportunity["contact_id"] == contacts["items"][0]["id"]
        assert opportunity["lead_id"] == lead["id"]


def test_converting_into_the_reps_existing_company_adds_the_contact(
        platform: Platform, org: dict[str, Any]) -> None:
    company = f"无锡{uuid.uuid4().hex[:5]}机械有限公司"
    with platform.client(org["rep"]["token"]) as c:
        existing = _ok(c.post("/api/v1/customers", json={"name": company, "kind": "company"}),
                       201)
        lead = _ok(c.post("/api/v1/leads", json={"name": company, "contact_name": "王工"}),
                   201)
        converted = _ok(c.post(f"/api/v1/leads/{lead['id']}/convert", json={}))
        assert converted["customer_id"] == existing["id"]
        contacts = _ok(c.get(f"/api/v1/customers/{existing['id']}/contacts"))["items"]
        assert [x["name"] for x in contacts] == ["王工"]
        opportunity = _ok(c.get(f"/api/v1/opportunities/{converted['opportunity_id']}"))
        assert opportunity["contact_id"] == contacts[0]["id"]


def test_a_persons_lead_becomes_the_customer_without_a_contact(
        platform: Platform, org: dict[str, Any]) -> None:
    phone = _phone()
    with platform.client(org["rep"]["token"]) as c:
        lead = _ok(c.post("/api/v1/leads", json={
            "name": "赵先生", "kind": "person", "phone": phone}), 201)
        converted = _ok(c.post(f"/api/v1/leads/{lead['id']}/convert", json={}))
        customer = _ok(c.get(f"/api/v1/customers/{converted['customer_id']}"))
        assert customer["kind"] == "person"
        assert customer["phones"] == ["+86" + phone.replace(" ", "")]
        opportunity = _ok(c.get(f"/api/v1/opportunities/{converted['opportunity_id']}"))
        assert opportunity["contact_id"] is None
