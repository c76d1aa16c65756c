"""Work orders (SVC-02), callbacks (SVC-04), satisfaction (SVC-05), the knowledge base
(SVC-06) and the service desk's part in the customer's 360 view, merge and handover
(CUS-16, CUS-14, CUS-07), through the gateway."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.service_desk_support import EventTap, company, new_ticket, ok, problem
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _resolved(platform: Platform, desk: dict[str, Any], **fields: Any
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ticket assigned to the agent and resolved, with its callback."""
    agent = desk["agent"]
    ticket = new_ticket(platform, agent["token"], desk["customer"]["id"],
                        contact_id=desk["contact"]["id"], assignee_id=agent["id"], **fields)
    with platform.client(agent["token"]) as c:
        ok(c.post(f"/api/v1/tickets/{ticket['id']}/resolve",
                  json={"resolution": "远程指导重置后恢复"}))
        (callback,) = ok(c.get("/api/v1/callbacks", params={"ticket_id": ticket["id"]}))[
            "items"]
    return ticket, callback


def test_three_failed_callback_attempts_close_the_ticket_unreached(
        platform: Platform, desk: dict[str, Any], desk_events: EventTap) -> None:
    ticket, callback = _resolved(platform, desk)
    assert callback["status"] == "due" and callback["agent_id"] == desk["agent"]["id"]
    with platform.client(desk["agent"]["token"]) as c:
        due = ok(c.get("/api/v1/callbacks", params={"status": "due"}))["items"]
        assert callback["id"] in [x["id"] for x in due]
        url = f"/api/v1/callbacks/{callback['id']}/attempts"
        problem(c.post(url, json={"outcome": "no_answer", "rating": 5}), 422,
                "invalid_attempt")
        for n in (1, 2):
            after = ok(c.post(url, json={"outcome": "no_answer"}), 201)
            assert (after["status"], after["failed_attempts"]) == ("due", n)
        last = ok(c.post(url, json={"outcome": "no_answer", "comment": "三次未接"}), 201)
        assert (last["status"], last["outcome"], len(last["attempts"])) == (
            "unreached", "no_answer", 3)
        closed = ok(c.get(f"/api/v1/tickets/{ticket['id']}"))
        assert (closed["status"], closed["close_reason"]) == ("closed", "unreached")
        problem(c.post(url, json={"outcome": "no_answer"}), 409, "invalid_transition")
    event = desk_events.wait_for("callback.completed", lambda d: d["id"] == callback["id"])
    assert event["data"]["status"] == "unreached" and event["data"]["on_time"]
    desk_events.wait_for("ticket.closed", lambda d: d["id"] == ticket["id"]
                         and d["close_reason"] == "unreached")


def test_an_unhappy_callback_reopens_and_escalates(platform: Platform,
                                                    desk: dict[str, Any],
                                                    desk_events: EventTap) -> None:
    ticket, callback = _resolved(platform, desk)
    with platform.client(desk["agent"]["token"]) as c:
        done = ok(c.post(f"/api/v1/callbacks/{callback['id']}/attempts", json={
            "outcome": "reached", "resolved": True, "rating": 2, "comment": "还是有噪音"}), 201)
        assert (done["status"], done["outcome"]) == ("done", "unhappy")
        reopened = ok(c.get(f"/api/v1/tickets/{ticket['id']}"))
    assert reopened["status"] == "open" and reopened["reopened_count"] == 1
    assert (reopened["escalation_level"], reopened["escalated_to_id"]) == (
        1, desk["lead"]["id"])
    assert reopened["rating"]["rating"] == 2 and reopened["rating"]["source"] == "callback"
    resolution = next(t for t in reopened["sla"]["targets"] if t["target"] == "resolution")
    assert resolution["met_at"] is None and resolution["due_at"] is not None
    desk_events.wait_for("ticket.reopened", lambda d: d["id"] == ticket["id"])
    desk_events.wait_for("ticket.escalated", lambda d: d["id"] == ticket["id"]
                         and d["reason"] == "unhappy_callback")
    rated = desk_events.wait_for("satisfaction.rated", lambda d: d["ticket_id"] == ticket["id"])
    assert rated["data"]["rating"] == 2 and rated["data"]["handled_by"] == desk["agent"]["id"]

    # resolved again, a happy callback closes it as confirmed
    with platform.client(desk["agent"]["token"]) as c:
        ok(c.post(f"/api/v1/tickets/{ticket['id']}/resolve", json={"resolution": "更换风扇"}))
        second = ok(c.get("/api/v1/callbacks", params={"ticket_id": ticket["id"],
                                                      "status": "due"}))["items"][0]
        ok(c.post(f"/api/v1/callbacks/{second['id']}/attempts", json={
            "outcome": "reached", "resolved": True, "rating": 5}), 201)
        closed = ok(c.get(f"/api/v1/tickets/{ticket['id']}"))
    assert (closed["status"], closed["close_reason"], closed["rating"]["rating"]) == (
        "closed", "confirmed", 5)


def test_satisfaction_report_by_week_agent_and_category(platform: Platform,
                                                        desk: dict[str, Any]) -> None:
    ratings = []
    for rating in (5, 4, 1):
        ticket, callback = _resolved(platform, desk, category="consultation")
        with platform.client(desk["agent"]["token"]) as c:
            ok(c.post(f"/api/v1/callbacks/{callback['id']}/attempts", json={
                "outcome": "reached", "resolved": rating > 2, "rating": rating}), 201)
        ratings.append(rating)
    start = date.today() - timedelta(days=1)
    params = {"from": start.isoformat(), "to": (start + timedelta(days=3)).isoformat()}
    with platform.client(desk["manager"]["token"]) as c:
        by_agent = ok(c.get("/api/v1/service/reports/satisfaction",
                            params={**params, "group_by": "agent"}))
        mine = next(g for g in by_agent["groups"] if g["key"] == desk["agent"]["id"])
        assert mine["label"] == "周客服" and mine["count"] >= 3
        by_week = ok(c.get("/api/v1/service/reports/satisfaction",
                           params={**params, "group_by": "week"}))
        assert all(g["key"].count("-W") == 1 for g in by_week["groups"])
        assert sum(g["count"] for g in by_week["groups"]) == by_week["total"]["count"]
        by_category = ok(c.get("/api/v1/service/reports/satisfaction",
                               params={**params, "group_by": "category"}))
        consultation = next(g for g in by_category["groups"] if g["key"] == "consultation")
        assert consultation["count"] == 3
        assert consultation["average"] == round(sum(ratings) / 3, 2)
        assert consultation["csat_percent"] == round(200 / 3, 1)


def test_a_work_order_from_dispatch_to_close(platform: Platform, desk: dict[str, Any],
                                            desk_events: EventTap) -> None:
    agent, technician, manager = desk["agent"], desk["technician"], desk["manager"]
    busy = platform.new_user(["technician"], display_name="褚师傅")
    wait_until(lambda: any(t["id"] == busy["id"] for t in ok(platform.client(
        manager["token"]).get("/api/v1/technicians"))["items"]), 30, "busy technician known")
    with platform.client(manager["token"]) as c:
        ok(c.put(f"/api/v1/technicians/{technician['id']}/skills",
                 json={"skills": [{"product_category": "空调", "level": 4}]}))
        ok(c.put(f"/api/v1/technicians/{busy['id']}/skills",
                 json={"skills": [{"product_category": "空调", "level": 5}]}))
        problem(c.put(f"/api/v1/technicians/{agent['id']}/skills",
                      json={"skills": []}), 422, "invalid_technician")
    # the more skilled technician has an open order already
    other = new_ticket(platform, agent["token"], desk["customer"]["id"],
                       product_category="空调")
    with platform.client(agent["token"]) as c:
        ok(c.post(f"/api/v1/tickets/{other['id']}/work-orders",
                  json={"technician_id": busy["id"]}), 201)
    ticket = new_ticket(platform, agent["token"], desk["customer"]["id"],
                        category="complaint", product_category="空调")
    with platform.client(agent["token"]) as c:
        order = ok(c.post(f"/api/v1/tickets/{ticket['id']}/work-orders",
                          json={"address": "杭州市西湖区文三路 100 号"}), 201)
        assert order["status"] == "not_dispatched" and order["number"].startswith("WO-")
        suggested = ok(c.get(f"/api/v1/work-orders/{order['id']}/suggestions"))
        ranked = [(s["technician_id"], s["skill_level"], s["open_work_orders"])
                  for s in suggested["items"] if s["technician_id"] in (technician["id"],
                                                                        busy["id"])]
        assert ranked[0][0] == technician["id"]  # skilled and idle before skilled and busy
        problem(c.post(f"/api/v1/work-orders/{order['id']}/confirm"), 409,
                "invalid_transition")
        dispatched = ok(c.post(f"/api/v1/work-orders/{order['id']}/dispatch",
                               json={"technician_id": technician["id"]}))
        assert dispatched["status"] == "dispatched"
        after = ok(c.get(f"/api/v1/tickets/{ticket['id']}"))
        dispatch = next(t for t in after["sla"]["targets"] if t["target"] == "dispatch")
        assert dispatch["met_at"] == dispatched["dispatched_at"]
    event = desk_events.wait_for("work_order.dispatched", lambda d: d["id"] == order["id"])
    assert event["data"]["technician_id"] == technician["id"]
    assert event["data"]["ticket_number"] == ticket["number"]
    assert event["data"]["address"] == "杭州市西湖区文三路 100 号"
    with platform.client(busy["token"]) as c:  # another technician's order
        problem(c.post(f"/api/v1/work-orders/{order['id']}/confirm"), 404)
    with platform.client(technician["token"]) as c:
        mine = ok(c.get("/api/v1/work-orders", params={"technician_id": technician["id"]}))
        assert order["id"] in [w["id"] for w in mine["items"]]
        ok(c.get(f"/api/v1/tickets/{ticket['id']}"))  # their work order's ticket
        problem(c.get(f"/api/v1/tickets/{other['id']}"), 404)
        for step in ("confirm", "start"):
            ok(c.post(f"/api/v1/work-orders/{order['id']}/{step}"))
        problem(c.post(f"/api/v1/work-orders/{order['id']}/complete",
                       json={"work_done": "x", "hours": "abc"}), 422)
        done = ok(c.post(f"/api/v1/work-orders/{order['id']}/complete", json={
            "work_done": "更换压缩机电容", "hours": "1.5",
            "parts": [{"name": "电容 35μF", "quantity": 1}]}))
        assert (done["status"], done["hours"]) == ("completed", "1.50")
    completed = desk_events.wait_for("work_order.completed", lambda d: d["id"] == order["id"])
    assert completed["data"]["work_done"] == "更换压缩机电容"
    with platform.client(agent["token"]) as c:
        assert ok(c.post(f"/api/v1/work-orders/{order['id']}/close"))["status"] == "closed"
        problem(c.post(f"/api/v1/work-orders/{order['id']}/cancel", json={"reason": "x"}),
                409, "invalid_transition")


def test_a_kb_article_drafted_from_a_ticket_is_found_in_chinese(
        platform: Platform, desk: dict[str, Any], desk_events: EventTap) -> None:
    agent, manager = desk["agent"], desk["manager"]
    ticket = new_ticket(platform, agent["token"], desk["customer"]["id"],
                        subject="冷启动时有异响", description="车辆冷启动时发动机舱有明显异响",
                        product_model="X5-2026", product_category="汽车")
    with platform.client(agent["token"]) as c:
        problem(c.post(f"/api/v1/tickets/{ticket['id']}/kb-article", json={}), 422,
                "ticket_not_resolved")
        ok(c.post(f"/api/v1/tickets/{ticket['id']}/resolve",
                  json={"resolution": "张紧轮老化，更换皮带张紧轮后异响消除"}))
        draft = ok(c.post(f"/api/v1/tickets/{ticket['id']}/kb-article",
                          json={"visibility": "public", "kind": "product_defect"}), 201)
        assert draft["source_ticket_id"] == ticket["id"] and draft["category"] == "汽车"
        (version,) = draft["versions"]
        assert version["status"] == "draft" and "张紧轮" in version["body"]
        assert "发动机舱有明显异响" in version["body"]
        # drafts are not found; agents may not publish
        assert ok(c.get("/api/v1/kb/search", params={"q": "发动机异响"}))["items"] == []
        problem(c.post(f"/api/v1/kb/articles/{draft['id']}/versions/1/publish"), 403)
    with platform.client(manager["token"]) as c:
        published = ok(c.post(f"/api/v1/kb/articles/{draft['id']}/versions/1/publish"))
        assert published["in_effect_version"] == 1
    event = desk_events.wait_for("kb_article.published", lambda d: d["id"] == draft["id"])
    assert event["data"]["visibility"] == "public"
    with platform.client(agent["token"]) as c:
        hits = ok(c.get("/api/v1/kb/search", params={"q": "发动机异响"}))["items"]
        assert [h["article_id"] for h in hits][:1] == [draft["id"]]
        assert "异响" in hits[0]["snippet"]
        assert draft["id"] not in [h["article_id"] for h in ok(c.get(
            "/api/v1/kb/search", params={"q": "变速箱漏油"}))["items"]]
        problem(c.get("/api/v1/kb/search", params={"q": "，。"}), 422, "empty_query")
    # a second version effective tomorrow: today still finds version 1
    tomorrow = (datetime.now(UTC) + timedelta(hours=8)).date() + timedelta(days=1)
    with platform.client(manager["token"]) as c:
        two = ok(c.post(f"/api/v1/kb/articles/{draft['id']}/versions", json={
            "body": "更新：先检查张紧轮，再检查水泵", "effective_from": tomorrow.isoformat()}),
            201)
        assert two["latest_version"] == 2
        after = ok(c.post(f"/api/v1/kb/articles/{draft['id']}/versions/2/publish"))
        v1, v2 = after["versions"]
        assert v1["effective_to"] == tomorrow.isoformat() and v1["in_effect"]
        assert v2["status"] == "published" and not v2["in_effect"]
        hits = ok(c.get("/api/v1/kb/search", params={"q": "异响"}))["items"]
        assert [(h["article_id"], h["version"]) for h in hits if h["article_id"]
                == draft["id"]] == [(draft["id"], 1)]
        # an internal article is found by staff only (the portal test checks the portal)
        internal = ok(c.post("/api/v1/kb/articles", json={
            "title": "内部：异响索赔流程", "body": "异响类索赔需先提交检测报告",
            "category": "流程"}), 201)
        ok(c.post(f"/api/v1/kb/articles/{internal['id']}/versions/1/publish"))
        assert internal["id"] in [h["article_id"] for h in ok(c.get(
            "/api/v1/kb/search", params={"q": "异响"}))["items"]]
        ok(c.post(f"/api/v1/kb/articles/{internal['id']}/versions/1/retire"))
        assert internal["id"] not in [h["article_id"] for h in ok(c.get(
            "/api/v1/kb/search", params={"q": "异响"}))["items"]]


def test_customer_360_merge_and_handover(platform: Platform, desk: dict[str, Any]) -> None:
    agent, manager = desk["agent"], desk["manager"]
    survivor, survivor_contact = company(platform)
    merged, _ = company(platform)
    leaver = platform.new_user(["service_agent"], team_id=desk["team"]["id"],
                               display_name="钱离职")
    technician = platform.new_user(["technician"], display_name="李离职师傅")
    for user in (leaver, technician):
        with platform.admin() as admin:
            wait_until(lambda u=user: admin.post("/api/v1/tickets", json={
                "kind": "internal", "category": "consultation", "channel": "phone",
                "subject": "probe", "assignee_id": u["id"]}).status_code == 201, 30,
                "service desk knows the user")
    ticket = new_ticket(platform, agent["token"], merged["id"], assignee_id=leaver["id"])
    rated, callback = _resolved(platform, {**desk, "customer": survivor,
                                           "contact": survivor_contact})
    with platform.client(agent["token"]) as c:
        order = ok(c.post(f"/api/v1/tickets/{ticket['id']}/work-orders",
                          json={"technician_id": technician["id"]}), 201)
        ok(c.post(f"/api/v1/callbacks/{callback['id']}/attempts", json={
            "outcome": "reached", "resolved": True, "rating": 4}), 201)
    with platform.admin() as admin:
        section = ok(admin.get(f"/api/v1/customers/{survivor['id']}/360"))["sections"][
            "service"]
        assert section["status"] == "ok", section
        assert section["data"]["latest_satisfaction"]["rating"] == 4
        assert section["data"]["latest_satisfaction"]["ticket_id"] == rated["id"]
        ok(admin.post("/api/v1/customers/merge", json={"survivor_id": survivor["id"],
                                                        "merged_id": merged["id"]}))

    def moved() -> bool:
        with platform.client(agent["token"]) as c:
            return bool(ok(c.get(f"/api/v1/tickets/{ticket['id']}"))["customer_id"]
                        == survivor["id"])
    wait_until(moved, 20, "the merged customer's ticket moved to the survivor")
    with platform.admin() as admin:
        section = ok(admin.get(f"/api/v1/customers/{survivor['id']}/360"))["sections"][
            "service"]["data"]
        assert section["open_tickets"] >= 1
        assert ticket["id"] in [t["id"] for t in section["open"]]
        ok(admin.post(f"/api/v1/users/{leaver['id']}/deactivate",
                      json={"successor_id": agent["id"]}))
        ok(admin.post(f"/api/v1/users/{technician['id']}/deactivate",
                      json={"successor_id": desk["technician"]["id"]}))

    def handed_over() -> bool:
        with platform.client(manager["token"]) as c:
            t = ok(c.get(f"/api/v1/tickets/{ticket['id']}"))
            w = ok(c.get(f"/api/v1/work-orders/{order['id']}"))
        return bool(t["assignee_id"] == agent["id"]
                    and w["technician_id"] == desk["technician"]["id"])
    wait_until(handed_over, 20, "the leavers' ticket and work order handed over")
