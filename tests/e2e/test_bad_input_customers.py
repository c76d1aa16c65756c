"""Request bodies the customer service could not store (schemathesis found them as 500 /
502: ``null`` for a NOT NULL column, NUL in text, NaN in a JSON attribute, numbers past
their columns, segment values the database cannot compare) are refused as 422
problem+json before anything is written: a refused update leaves the record as it was,
a refused create makes nothing. Bodies are sent as raw JSON so they reach the gateway
exactly as a client wrote them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.sales_support import _ok
from tests.support.platform import Platform
from tests.support.problems import refused, send_raw

pytestmark = pytest.mark.e2e






def _tag() -> str:
    return f"坏输入{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("body", [
    {"name": None}, {"phones": None}, {"emails": None}, {"tags": None},
    {"category_ids": None}, {"attributes": None},
    {"name": "半个\u0000名字"}, {"tags": ["ok", "bad\u0000"]},
    {"attributes": {"备注": "x\u0000y"}}, {"attributes": {"\u0000": 1}},
    '{"attributes": {"vehicle_age": NaN}}', '{"attributes": {"vehicle_age": Infinity}}',
    {"attributes": {"vehicle_age": 2 ** 64}},
    {"registered_capital": 5.311602347083468e+16}, {"registered_capital": "1e308"},
    {"category_ids": [""]},
])
def test_a_customer_update_it_cannot_store_is_refused_and_changes_nothing(
        platform: Platform, body: Any) -> None:
    with platform.admin() as admin:
        created = _ok(admin.post("/api/v1/customers", json={
            "name": _tag(), "kind": "person", "tags": ["原样"],
            "attributes": {"vehicle_age": 3}}), 201)
        refused(send_raw(admin, "PATCH", f"/customers/{created['id']}", body,
                       version=created["version"]))
        after = _ok(admin.get(f"/api/v1/customers/{created['id']}"))
    # the classification is recomputed from events on its own: the rest is as created
    assert {**after, "classification": None} == {**created, "classification": None}


@pytest.mark.parametrize("field, value", [
    ("name", "含\u0000的名字"), ("address", "x\u0000"), ("attributes", {"a": ["\u0000"]}),
    ("registered_capital", 1e17), ("owner_id", ""),
])
def test_a_customer_create_it_cannot_store_is_refused_and_makes_nothing(
        platform: Platform, field: str, value: Any) -> None:
    tag = _tag()
    with platform.admin() as admin:
        refused(send_raw(admin, "POST", "/customers", {
            "name": f"{tag}公司", "kind": "company", "tags": [tag], field: value}))
        assert _ok(admin.get("/api/v1/customers", params={"tag": tag}))["items"] == []


@pytest.mark.parametrize("body", [
    {"name": None}, {"phones": None}, {"is_decision_maker": None},
    {"marketing_opt_out": None}, {"notes": "a\u0000b"},
])
def test_a_contact_update_it_cannot_store_is_refused(platform: Platform, body: Any) -> None:
    with platform.admin() as admin:
        customer = _ok(admin.post("/api/v1/customers", json={
            "name": f"{_tag()}有限公司", "kind": "company"}), 201)
        path = f"/customers/{customer['id']}/contacts"
        contact = _ok(admin.post(f"/api/v1{path}", json={"name": "李四",
                                                          "is_decision_maker": True}), 201)
        refused(send_raw(admin, "PATCH", f"{path}/{contact['id']}", body,
                       version=contact["version"]))
        assert _ok(admin.get(f"/api/v1{path}/{contact['id']}")) == contact


@pytest.mark.parametrize("body", [{"name": None}, {"retired": None}, {"name": "\u0000"}])
def test_a_category_update_it_cannot_store_is_refused(platform: Platform, body: Any) -> None:
    with platform.admin() as admin:
        category = _ok(admin.post("/api/v1/customer-categories", json={
            "dimension": "type", "name": _tag()}), 201)
        refused(send_raw(admin, "PATCH", f"/customer-categories/{category['id']}", body,
                       version=category["version"]))
        listed = _ok(admin.get("/api/v1/customer-categories",
                               params={"dimension": "type", "include_retired": "true"}))
    assert category in listed["items"]


@pytest.mark.parametrize("body", [{"active": None}, {"priority": None}, {"config": None},
                                  {"config": {"province": "x\u0000"}}])
def test_an_assignment_rule_update_it_cannot_store_is_refused(
        platform: Platform, body: Any) -> None:
    with platform.admin() as admin:
        me = _ok(admin.get("/api/v1/me"))
        # inactive and last: no other test's customers are assigned by it
        rule = _ok(admin.post("/api/v1/assignment-rules", json={
            "kind": "region", "config": {"province": _tag(), "owner_id": me["id"]},
            "priority": 10000, "active": False}), 201)
        try:
            refused(send_raw(admin, "PATCH", f"/assignment-rules/{rule['id']}", body,
                           version=rule["version"]))
            rules = _ok(admin.get("/api/v1/assignment-rules"))["items"]
            assert rule in rules
        finally:
            admin.delete(f"/api/v1/assignment-rules/{rule['id']}")


@pytest.mark.parametrize("condition", [
    {"field": "last_visit_at", "op": "within_days", "value": 10 ** 9},
    {"field": "paid_revenue", "op": "gte", "value": "NaN"},
    {"field": "province", "op": "eq", "value": {"a": 1}},
    {"field": "province", "op": "eq", "value": 5},
    {"field": "paid_orders", "op": "eq", "value": "1.5e400"},
    {"field": "attributes.vehicle_age", "op": "eq", "value": True},
    {"field": "tags", "op": "contains", "value": "\u0000"},
    # past 64 bits the gateway could not put the body on the wire (a 500)
    {"field": "province", "op": "eq", "value": {"n": 2 ** 70}},
])
def test_a_segment_the_database_cannot_evaluate_is_refused(
        platform: Platform, condition: dict[str, Any]) -> None:
    name = _tag()
    with platform.admin() as admin:
        problem = refused(send_raw(admin, "POST", "/segments", {
            "name": name, "conditions": [condition]}))
        assert problem.get("code") in ("invalid_segment", "validation_failed"), problem
        segments = _ok(admin.get("/api/v1/segments", params={"limit": "500"}))["items"]
    assert name not in {s["name"] for s in segments}


def test_a_segment_whose_numbers_are_text_still_counts(platform: Platform) -> None:
    """A decimal string compared with an integer column (the money convention) works."""
    with platform.admin() as admin:
        segment = _ok(admin.post("/api/v1/segments", json={"name": _tag(), "conditions": [
            {"field": "paid_orders", "op": "gte", "value": "0"},
            {"field": "paid_orders", "op": "ne", "value": "1.5"}]}), 201)
        members = _ok(admin.get(f"/api/v1/segments/{segment['id']}/members",
                                params={"limit": "1"}))
        assert len(members["items"]) == 1
        refused(send_raw(admin, "PATCH", f"/segments/{segment['id']}", {"conditions": None},
                       version=segment["version"]))
        after = _ok(admin.get(f"/api/v1/segments/{segment['id']}"))
    assert after["conditions"] == segment["conditions"]


@pytest.mark.parametrize("path, body", [
    ("/classification-settings", {"at_risk_days": 10 ** 12}),
    ("/classification-settings", {"key_account_revenue": 1e20}),
    ("/classification-settings", {"run_every_hours": 1e-300}),
    ("/classification-settings", {"currency": "c\u0000y"}),
    ("/pool-settings", {"days_without_followup": 10 ** 6}),
    ("/pool-settings", {"claim_limit": 2 ** 70}),
])
def test_settings_past_what_they_can_mean_are_refused(platform: Platform, path: str,
                                                      body: dict[str, Any]) -> None:
    with platform.admin() as admin:
        before = _ok(admin.get(f"/api/v1{path}"))
        assert _ok(admin.put(f"/api/v1{path}", json=before)) == before  # a valid body
        refused(send_raw(admin, "PUT", path, {**before, **body}))
        assert _ok(admin.get(f"/api/v1{path}")) == before
