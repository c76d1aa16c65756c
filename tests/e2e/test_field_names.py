"""Names agree between what a client sends and what it reads (issue #28): contacts have
``phones`` and ``emails`` as customers do, segment conditions name fields by their path
in the customer's JSON (as ``?fields=`` does), assignment rules take a typed
configuration and refuse unknown keys, and round-robin can be limited to a team."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.sales_support import _ok
from tests.e2e.test_customers import _staff_known
from tests.support.platform import Platform
from tests.support.problems import expect_problem


def test_contacts_have_phones_and_emails_as_customers_do(platform: Platform,
                                                        org: dict[str, Any]) -> None:
    with platform.client(org["rep"]["token"]) as c:
        company = _ok(c.post("/api/v1/customers", json={
            "name": f"名称{uuid.uuid4().hex[:6]}有限公司", "kind": "company",
            "phones": ["020 8888 6666"], "emails": ["Info@Example.cn"]}), 201)
        contact = _ok(c.post(f"/api/v1/customers/{company['id']}/contacts", json={
            "name": "陈主任", "phones": ["139 1111 2222"],
            "emails": ["chen@example.cn", "Chen.Home@Example.cn"]}), 201)
        assert set(company) >= {"phones", "emails"} and set(contact) >= {"phones", "emails"}
        assert "email" not in contact
        assert contact["emails"] == ["chen@example.cn", "chen.home@example.cn"]
        read = _ok(c.get(f"/api/v1/customers/{company['id']}/contacts/{contact['id']}"))
        assert read["emails"] == contact["emails"]
        updated = _ok(c.patch(f"/api/v1/customers/{company['id']}/contacts/{contact['id']}",
                              json={"emails": ["new@example.cn"]}))
        assert updated["emails"] == ["new@example.cn"]
        # the name contacts had before is still taken on creation, into emails
        old = _ok(c.post(f"/api/v1/customers/{company['id']}/contacts", json={
            "name": "老接口", "email": "old@example.cn"}), 201)
        assert old["emails"] == ["old@example.cn"]


def test_segment_conditions_use_the_customer_json_paths(platform: Platform,
                                                        org: dict[str, Any]) -> None:
    tag = f"path{uuid.uuid4().hex[:6]}"
    with platform.client(org["rep"]["token"]) as c:
        made = _ok(c.post("/api/v1/customers", json={
            "name": f"路径{tag}", "kind": "person", "tags": [tag],
            "region": {"province": "福建", "band": "county"}}), 201)
        shown = _ok(c.get("/api/v1/customers", params={
            "q": f"路径{tag}", "fields": "region,classification.stage"}))["items"][0]
        assert shown["region"]["province"] == "福建"
        assert shown["classification"]["stage"] == "prospect"
        segment = _ok(c.post("/api/v1/segments", json={"name": tag, "conditions": [
            {"field": "tags", "op": "contains", "value": tag},
            {"field": "region.province", "op": "eq", "value": "福建"},
            {"field": "region.band", "op": "eq", "value": "county"},
            {"field": "classification.stage", "op": "eq", "value": "prospect"}]}), 201)
        members = _ok(c.get(f"/api/v1/segments/{segment['id']}/members"))["items"]
        assert [m["id"] for m in members] == [made["id"]]
        # an old name is read and shown by its path
        old = _ok(c.post("/api/v1/segments", json={"name": f"{tag}-old", "conditions": [
            {"field": "tags", "op": "contains", "value": tag},
            {"field": "province", "op": "eq", "value": "福建"}]}), 201)
        assert [x["field"] for x in old["conditions"]] == ["tags", "region.province"]
        assert old["member_count"] == 1
        expect_problem(c.post("/api/v1/segments", json={"name": "x", "conditions": [
            {"field": "region.planet", "op": "eq", "value": "火星"}]}), 422, "invalid_segment")


def test_assignment_rules_are_typed_and_round_robin_can_stay_in_a_team(
        platform: Platform, org: dict[str, Any]) -> None:
    with platform.admin() as admin:
        team = _ok(admin.post("/api/v1/teams", json={"name": f"轮转{uuid.uuid4().hex[:4]}"}),
                   201)
    inside = platform.new_user(["sales_rep"], team_id=team["id"], is_new_staff=True)
    outside = platform.new_user(["sales_rep"], is_new_staff=True)
    for user in (inside, outside):
        _staff_known(platform, user["token"], user["id"])
    with platform.admin() as admin:
        for body in ({"kind": "capacity", "config": {"max": 10, "maxx": 20}},
                     {"kind": "round_robin", "config": {"team": team["id"]}},
                     {"kind": "region", "config": {"province": "广东"}},
                     {"kind": "collector", "config": {"anything": 1}}):
            expect_problem(admin.post("/api/v1/assignment-rules", json=body), 422)
        rule = _ok(admin.post("/api/v1/assignment-rules", json={
            "kind": "round_robin", "priority": 1, "config": {"team_id": team["id"]}}), 201)
        try:
            assert rule["config"] == {"team_id": team["id"]}
            expect_problem(admin.patch(f"/api/v1/assignment-rules/{rule['id']}",
                                       json={"config": {"team_id": team["id"], "x": 1}},
                                       headers={"If-Match": f'"{rule["version"]}"'}),
                           422, "invalid_rule")
            with platform.client(org["manager"]["token"]) as c:
                owners = {_ok(c.post("/api/v1/customers", json={
                    "name": f"团队轮转{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)
                    ["owner_id"] for _ in range(3)}
            assert owners == {inside["id"]}
        finally:
            admin.delete(f"/api/v1/assignment-rules/{rule['id']}")
