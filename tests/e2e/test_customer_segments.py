"""Segments over attributes and computed metrics (CUS-12)."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.test_customers import _staff_known
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def test_segment_members_follow_the_customers(platform: Platform) -> None:
    rep = platform.new_user(["sales_rep"])
    _staff_known(platform, rep["token"], rep["id"])
    tag = f"seg{uuid.uuid4().hex[:6]}"
    with platform.client(rep["token"]) as c:
        old_car = c.post("/api/v1/customers", json={
            "name": f"车主甲{tag}", "kind": "person", "tags": [tag],
            "region": {"province": "广东"}, "attributes": {"vehicle_age": 6, "use": "家用"}}).json()
        c.post("/api/v1/customers", json={
            "name": f"车主乙{tag}", "kind": "person", "tags": [tag],
            "region": {"province": "广东"}, "attributes": {"vehicle_age": 1}})
        r = c.post("/api/v1/segments", json={"name": "老车主", "conditions": [
            {"field": "tags", "op": "contains", "value": tag},
            {"field": "province", "op": "eq", "value": "广东"},
            {"field": "attributes.vehicle_age", "op": "gte", "value": 5}]})
        assert r.status_code == 201, r.text
        segment = r.json()
        assert segment["member_count"] == 1
        members = c.get(f"/api/v1/segments/{segment['id']}/members").json()["items"]
        assert [m["id"] for m in members] == [old_car["id"]]
        assert "attributes" not in members[0]  # the list summary, unless asked for
        members = c.get(f"/api/v1/segments/{segment['id']}/members",
                        params={"fields": "name,attributes"}).json()["items"]
        assert members == [{"id": old_car["id"], "name": old_car["name"],
                            "attributes": old_car["attributes"]}]
        # a change to a customer changes the segment
        c.post("/api/v1/customers", json={
            "name": f"车主丙{tag}", "kind": "person", "tags": [tag],
            "region": {"province": "广东"}, "attributes": {"vehicle_age": 9}})
        assert c.get(f"/api/v1/segments/{segment['id']}").json()["member_count"] == 2
        listed = c.get("/api/v1/customers", params={"segment_id": segment["id"]}).json()
        assert len(listed["items"]) == 2
        bad = c.post("/api/v1/segments", json={"name": "x", "conditions": [
            {"field": "secret", "op": "eq", "value": 1}]})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_segment"
    other = platform.new_user(["sales_rep"])
    with platform.client(other["token"]) as c:
        # the same segment, seen from another rep's scope, has none of those members
        assert c.get(f"/api/v1/segments/{segment['id']}").json()["member_count"] == 0
        assert c.patch(f"/api/v1/segments/{segment['id']}", json={"name": "mine"}
                       ).status_code == 403
