"""Contacts, categories, account teams, follow-ups and visit plans through the gateway
(CUS-02, CUS-03, CUS-08, CUS-09, CUS-10)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_customers import _staff_known
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def crew(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        team = admin.post("/api/v1/teams", json={"name": f"West-{uuid.uuid4().hex[:4]}"}).json()
    manager = platform.new_user(["sales_manager"], team_id=team["id"], display_name="周经理")
    with platform.admin() as admin:
        admin.patch(f"/api/v1/teams/{team['id']}", json={"manager_id": manager["id"]})
    rep = platform.new_user(["sales_rep"], team_id=team["id"], display_name="吴销售")
    helper = platform.new_user(["sales_rep"], display_name="郑协助")
    for user in (manager, rep, helper):
        _staff_known(platform, user["token"], user["id"])
    with platform.client(rep["token"]) as c:
        company = c.post("/api/v1/customers", json={
            "name": f"成都蓉城{uuid.uuid4().hex[:4]}有限公司", "kind": "company"}).json()
    return {"team": team, "manager": manager, "rep": rep, "helper": helper,
            "company": company}


def test_contacts_are_searchable_and_versioned(platform: Platform, crew: dict[str, Any]) -> None:
    cid = crew["company"]["id"]
    with platform.client(crew["rep"]["token"]) as c:
        r = c.post(f"/api/v1/customers/{cid}/contacts", json={
            "name": "欧阳娜娜", "title": "采购经理", "phones": ["186 0000 1111"],
            "email": "NaNa@Example.com", "birthday": "1990-05-01", "is_decision_maker": True})
        assert r.status_code == 201, r.text
        contact = r.json()
        assert contact["phones"] == ["+8618600001111"] and contact["emails"] == ["nana@example.com"]
        assert [x["id"] for x in c.get(f"/api/v1/customers/{cid}/contacts").json()["items"]] \
            == [contact["id"]]
        for q in ("oyn", "ouyangnana", "欧阳"):  # initials, full pinyin, two characters
            found = c.get("/api/v1/customers", params={"q": q}).json()["items"]
            assert cid in {x["id"] for x in found}, q  # a contact's name finds the customer
        stale = c.patch(f"/api/v1/customers/{cid}/contacts/{contact['id']}",
                        json={"title": "总监"}, headers={"If-Match": '"7"'})
        assert stale.status_code == 409
        ok = c.patch(f"/api/v1/customers/{cid}/contacts/{contact['id']}",
                     json={"marketing_opt_out": True}, headers={"If-Match": '"1"'})
        assert ok.status_code == 200 and ok.json()["marketing_opt_out"] is True
        bad = c.post(f"/api/v1/customers/{cid}/contacts", json={"name": "x", "phones": ["abc"]})
        assert bad.status_code == 422 and bad.json()["errors"][0]["type"] == "invalid_phone"
        bad = c.post(f"/api/v1/customers/{cid}/contacts", json={"name": "x", "phones": ["12"]})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_phone"
    with platform.client(crew["helper"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{cid}/contacts").status_code == 404


def test_categories_retire_without_losing_history(platform: Platform,
                                                 crew: dict[str, Any]) -> None:
    name = f"政府-{uuid.uuid4().hex[:4]}"
    with platform.client(crew["rep"]["token"]) as c:
        denied = c.post("/api/v1/customer-categories", json={"dimension": "nature", "name": name})
        assert denied.status_code == 403
    with platform.admin() as c:
        cat = c.post("/api/v1/customer-categories",
                     json={"dimension": "nature", "name": name}).json()
        dup = c.post("/api/v1/customer-categories", json={"dimension": "nature", "name": name})
        assert dup.status_code == 409
    with platform.client(crew["rep"]["token"]) as c:
        tagged = c.patch(f"/api/v1/customers/{crew['company']['id']}",
                         json={"category_ids": [cat["id"]]})
        assert tagged.status_code == 200, tagged.text
    with platform.admin() as c:
        retired = c.patch(f"/api/v1/customer-categories/{cat['id']}", json={"retired": True})
        assert retired.json()["retired_at"]
        active = c.get("/api/v1/customer-categories", params={"dimension": "nature"}).json()
        assert cat["id"] not in {x["id"] for x in active["items"]}
    with platform.client(crew["rep"]["token"]) as c:
        # still on the customer that had it, not assignable anew
        assert c.get(f"/api/v1/customers/{crew['company']['id']}").json()["category_ids"] \
            == [cat["id"]]
        fresh = c.post("/api/v1/customers", json={"name": f"新-{uuid.uuid4().hex[:5]}",
                                                  "kind": "person", "category_ids": [cat["id"]]})
        assert fresh.status_code == 422 and fresh.json()["code"] == "invalid_category"


def test_account_team_members_see_the_customer(platform: Platform,
                                               crew: dict[str, Any]) -> None:
    cid = crew["company"]["id"]
    with platform.client(crew["helper"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{cid}").status_code == 404
    with platform.client(crew["rep"]["token"]) as c:
        r = c.post(f"/api/v1/customers/{cid}/team",
                   json={"user_id": crew["helper"]["id"], "role": "技术支持"})
        assert r.status_code == 201, r.text
        assert [m["display_name"] for m in r.json()["members"]] == ["郑协助"]
        again = c.post(f"/api/v1/customers/{cid}/team", json={"user_id": crew["helper"]["id"]})
        assert again.status_code == 409
    with platform.client(crew["helper"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{cid}").status_code == 200


def test_followups_reminders_and_pool_clock(platform: Platform, crew: dict[str, Any]) -> None:
    cid = crew["company"]["id"]
    soon = (date.today() - timedelta(days=1)).isoformat()
    with platform.client(crew["rep"]["token"]) as c:
        three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
        r = c.post(f"/api/v1/customers/{cid}/follow-ups", json={
            "method": "phone", "content": "电话沟通需求", "occurred_at": three_days_ago,
            "next_followup_on": soon})
        assert r.status_code == 201, r.text
        first = r.json()
        due = c.get("/api/v1/follow-ups/due").json()["items"]
        assert first["id"] in {f["id"] for f in due}
        later = c.post(f"/api/v1/customers/{cid}/follow-ups", json={
            "method": "wechat", "content": "微信确认"}).json()
        due = c.get("/api/v1/follow-ups/due").json()["items"]
        assert first["id"] not in {f["id"] for f in due}  # answered by the later follow-up
        listed = c.get(f"/api/v1/customers/{cid}/follow-ups").json()["items"]
        assert [f["id"] for f in listed][:2] == [later["id"], first["id"]]
        customer = c.get(f"/api/v1/customers/{cid}").json()
        assert customer["classification"]["last_followup_at"]
        future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        bad = c.post(f"/api/v1/customers/{cid}/follow-ups", json={
            "method": "phone", "content": "x", "occurred_at": future})
        assert bad.status_code == 422
        bad_method = c.post(f"/api/v1/customers/{cid}/follow-ups", json={
            "method": "fax", "content": "x"})
        assert bad_method.status_code == 422


def test_visit_plan_review_by_the_manager(platform: Platform, crew: dict[str, Any]) -> None:
    cid = crew["company"]["id"]
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    with platform.client(crew["rep"]["token"]) as c:
        plan = c.post("/api/v1/visit-plans", json={"customer_id": cid, "purpose": "季度回访",
                                                   "planned_at": past}).json()
        assert plan["status"] == "planned" and plan["overdue"] is True

        def act(client: Any, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
            r = client.post(f"/api/v1/visit-plans/{plan['id']}/actions", json=body)
            assert r.status_code == expect, r.text
            return dict(r.json())

        skip = act(c, {"action": "approve"}, 403)
        assert skip["code"] == "not_the_reviewer"
        refused = act(c, {"action": "report", "report": "x"}, 409)
        assert refused["code"] == "invalid_transition" and refused["status"] == 409
        assert refused["current_state"] == "planned" and refused["action"] == "report"
    with platform.client(crew["manager"]["token"]) as m:
        overdue = m.get("/api/v1/visit-plans", params={"overdue": True}).json()["items"]
        assert plan["id"] in {p["id"] for p in overdue}
    with platform.client(crew["rep"]["token"]) as c:
        act(c, {"action": "record", "record": "拜访了采购部"})
        act(c, {"action": "report", "report": "客户有扩容需求"})
    with platform.client(crew["manager"]["token"]) as m:
        assert act(m, {"action": "return"}, 422)["code"] == "comment_required"
        returned = act(m, {"action": "return", "comment": "补充预算信息"})
        assert returned["status"] == "returned" and returned["review_comment"] == "补充预算信息"
    with platform.client(crew["rep"]["token"]) as c:
        act(c, {"action": "report", "report": "预算约50万"})
    with platform.client(crew["manager"]["token"]) as m:
        approved = act(m, {"action": "approve", "comment": "好"})
        assert approved["reviewer_id"] == crew["manager"]["id"]
        assert act(m, {"action": "archive"})["status"] == "archived"
    with platform.client(crew["rep"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{cid}").json()["classification"]["last_visit_at"]


def test_customer_360_composes_and_marks_missing_sections(platform: Platform,
                                                          crew: dict[str, Any]) -> None:
    cid = crew["company"]["id"]
    with platform.client(crew["rep"]["token"]) as c:
        opp = c.post("/api/v1/opportunities", json={"name": "扩容", "customer_id": cid,
                                                    "amount": "1200.00"})
        assert opp.status_code == 201, opp.text
        r = c.get(f"/api/v1/customers/{cid}/360")
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["customer"]["id"] == cid
        assert view["contacts"] and view["latest_followups"]
        assert view["account_team"]["owner"]["id"] == crew["rep"]["id"]
        sales = view["sections"]["sales"]
        assert sales["status"] == "ok", sales
        assert [o["id"] for o in sales["data"]["open_opportunities"]] == [opp.json()["id"]]
        assert view["sections"]["billing"]["status"] == "ok"
        assert view["sections"]["billing"]["data"]["customer_id"] == cid
        # services not running in this deployment are marked, not fatal
        assert view["sections"]["service"]["status"] == "unavailable"
        assert view["sections"]["documents"]["status"] == "unavailable"
    with platform.client(crew["helper"]["token"]) as c:
        other = c.post("/api/v1/customers", json={"name": f"z{uuid.uuid4().hex[:6]}",
                                                  "kind": "person"}).json()
    with platform.client(crew["rep"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{other['id']}/360").status_code == 404


def test_assignment_rules_route_new_customers(platform: Platform, crew: dict[str, Any]) -> None:
    """CUS-06: a region rule sends a province's customers to its rep; round-robin spreads
    the rest over flagged new staff; the collector stays the default."""
    province = f"省{uuid.uuid4().hex[:4]}"
    newbies = [platform.new_user(["sales_rep"], display_name=f"新人{i}", is_new_staff=True)
               for i in range(2)]
    for user in newbies:
        _staff_known(platform, user["token"], user["id"])
    with platform.admin() as admin:
        bad = admin.post("/api/v1/assignment-rules", json={"kind": "region", "config": {}})
        assert bad.status_code == 422 and "region.config.province" in {
            e["field"] for e in bad.json()["errors"]}
        region = admin.post("/api/v1/assignment-rules", json={
            "kind": "region", "priority": 1,
            "config": {"province": province, "owner_id": crew["helper"]["id"]}})
        assert region.status_code == 201, region.text
        rr = admin.post("/api/v1/assignment-rules",
                        json={"kind": "round_robin", "priority": 2}).json()
    with platform.client(crew["rep"]["token"]) as c:
        forbidden = c.post("/api/v1/assignment-rules", json={"kind": "round_robin"})
        assert forbidden.status_code == 403
    try:
        with platform.client(crew["manager"]["token"]) as c:
            routed = c.post("/api/v1/customers", json={
                "name": f"区域客户{uuid.uuid4().hex[:4]}", "kind": "company",
                "region": {"province": province}}).json()
            assert routed["owner"]["id"] == crew["helper"]["id"], routed
            spread = [c.post("/api/v1/customers", json={
                "name": f"轮转客户{uuid.uuid4().hex[:6]}", "kind": "person"}).json()
                for _ in range(4)]
        owners = [x["owner"]["id"] for x in spread]
        # the two new staff members take turns; nobody gets a second before both had one
        assert set(owners) == {u["id"] for u in newbies}
        assert owners[0] != owners[1] and owners[:2] == owners[2:]
    finally:
        with platform.admin() as admin:
            admin.delete(f"/api/v1/assignment-rules/{region.json()['id']}")
            admin.delete(f"/api/v1/assignment-rules/{rr['id']}")
            assert admin.get("/api/v1/assignment-rules").json()["items"] == []
    with platform.client(crew["rep"]["token"]) as c:
        mine = c.post("/api/v1/customers", json={"name": f"自录{uuid.uuid4().hex[:4]}",
                                                 "kind": "person"}).json()
        assert mine["owner"]["id"] == crew["rep"]["id"]  # back to the collector default
