"""Tickets through the gateway (SVC-01, SVC-03): numbers, lifecycle, replies and notes,
assignment, lists, the sla block and its pause, the callback that resolving schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.service_desk_support import EventTap, company, new_ticket, ok, problem
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _target(ticket: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in ticket["sla"]["targets"] if t["target"] == name)


def test_a_ticket_from_phone_call_to_resolution(platform: Platform, desk: dict[str, Any],
                                                desk_events: EventTap) -> None:
    agent, customer, contact = desk["agent"], desk["customer"], desk["contact"]
    called = datetime.now(UTC) - timedelta(minutes=20)
    ticket = new_ticket(platform, agent["token"], customer["id"], contact_id=contact["id"],
                        priority="high", received_at=called.isoformat(),
                        product_model="KFR-35GW", product_category="空调")
    year = datetime.now(UTC).astimezone().year
    assert ticket["number"].startswith("TK-") and ticket["status"] == "new"
    assert abs(int(ticket["number"].split("-")[1]) - year) <= 1
    assert ticket["customer_name"] == customer["name"] and ticket["contact_name"] == "刘联系"
    assert _at(ticket["received_at"]) == called
    first = _target(ticket, "first_response")
    assert first["minutes"] == 60 and _at(first["due_at"]) == called + timedelta(minutes=60)
    created = desk_events.wait_for("ticket.created", lambda d: d["id"] == ticket["id"])
    assert created["data"]["number"] == ticket["number"]
    assert created["data"]["ticket_subject"] == "空调不制冷"
    assert created["data"]["customer_name"] == customer["name"]
    with platform.client(agent["token"]) as c:
        # a refused step is one 409 with the state the ticket is in
        body = problem(c.post(f"/api/v1/tickets/{ticket['id']}/close", json={}), 409,
                       "invalid_transition")
        assert body["current_state"] == "new"
        assigned = ok(c.post(f"/api/v1/tickets/{ticket['id']}/assign",
                             json={"assignee_id": agent["id"]}))
        assert assigned["status"] == "open" and assigned["team_id"] == desk["team"]["id"]
        assert assigned["assignee_name"] == "周客服"
        reply = ok(c.post(f"/api/v1/tickets/{ticket['id']}/replies",
                          json={"body": "您好，师傅明天上门检查。"}), 201)
        ok(c.post(f"/api/v1/tickets/{ticket['id']}/notes",
                  json={"body": "内部：压缩机可能故障"}), 201)
        after = ok(c.get(f"/api/v1/tickets/{ticket['id']}"))
        assert after["first_responded_at"] == reply["created_at"]
        assert _target(after, "first_response")["met_at"] == reply["created_at"]
        assert not after["breached"]
        comments = ok(c.get(f"/api/v1/tickets/{ticket['id']}/comments"))["items"]
        assert [(x["visibility"], x["body"][:2]) for x in comments] == [
            ("public", "您好"), ("internal", "内部")]
        resolved = ok(c.post(f"/api/v1/tickets/{ticket['id']}/resolve",
                             json={"resolution": "更换压缩机电容后恢复制冷"}))
        assert resolved["status"] == "resolved"
        assert all(t["met_at"] == resolved["resolved_at"] for t in resolved["sla"]["targets"]
                   if t["target"] == "resolution")
        (callback,) = ok(c.get("/api/v1/callbacks", params={
            "ticket_id": ticket["id"], "status": "due"}))["items"]
        # SVC-04: a callback due 72 hours after the resolution
        assert _at(callback["due_at"]) == _at(resolved["resolved_at"]) + timedelta(hours=72)
        assert callback["contact_phones"] == contact["phones"]
        log = [e["action"] for e in ok(c.get(f"/api/v1/tickets/{ticket['id']}/log"))["items"]]
        assert log[0] == "create" and "assign" in log and log[-1] == "resolve"
    assigned_event = desk_events.wait_for("ticket.assigned",
                                          lambda d: d["id"] == ticket["id"])
    assert assigned_event["data"]["assignee_id"] == agent["id"]
    replied = desk_events.wait_for("ticket.replied", lambda d: d["id"] == ticket["id"])
    assert replied["data"]["author_kind"] == "staff"
    desk_events.wait_for("ticket.resolved", lambda d: d["id"] == ticket["id"]
                         and d["callback_id"] == callback["id"])
    # an internal note publishes nothing: every reply event is the one public reply
    assert len(desk_events.matching("ticket.replied", lambda d: d["id"] == ticket["id"])) == 1


def test_pending_moves_the_resolution_due_time_by_exactly_the_pause(
        platform: Platform, desk: dict[str, Any]) -> None:
    agent = desk["agent"]
    ticket = new_ticket(platform, agent["token"], desk["customer"]["id"])
    due_before = _at(_target(ticket, "resolution")["due_at"])
    with platform.client(agent["token"]) as c:
        pending = ok(c.post(f"/api/v1/tickets/{ticket['id']}/pending",
                            json={"comment": "等客户提供购买凭证"}))
        assert pending["status"] == "pending" and pending["sla"]["paused"]
        assert _target(pending, "resolution")["due_at"] is None
        listed = ok(c.get("/api/v1/tickets", params={"status": "pending",
                                                     "customer_id": desk["customer"]["id"]}))
        assert ticket["id"] in [t["id"] for t in listed["items"]]
        assert all(t["sla_paused"] for t in listed["items"])
        resumed = ok(c.post(f"/api/v1/tickets/{ticket['id']}/open", json={}))
        log = ok(c.get(f"/api/v1/tickets/{ticket['id']}/log"))["items"]
    paused_at = next(_at(e["at"]) for e in log if e["to_status"] == "pending")
    resumed_at = next(_at(e["at"]) for e in log if e["action"] == "open")
    due_after = _at(_target(resumed, "resolution")["due_at"])
    assert resumed_at > paused_at
    assert due_after - due_before == resumed_at - paused_at
    assert _target(resumed, "resolution")["paused_seconds"] == pytest.approx(
        (resumed_at - paused_at).total_seconds(), abs=1e-6)


def test_lists_filter_and_sort_by_due_time(platform: Platform, desk: dict[str, Any]) -> None:
    agent = desk["agent"]
    customer, _ = company(platform)
    now = datetime.now(UTC)
    urgent = new_ticket(platform, agent["token"], customer["id"], priority="urgent")
    low = new_ticket(platform, agent["token"], customer["id"], priority="low",
                     category="consultation")
    older = new_ticket(platform, agent["token"], customer["id"], priority="normal",
                       received_at=(now - timedelta(hours=3)).isoformat())
    with platform.client(agent["token"]) as c:
        page = ok(c.get("/api/v1/tickets", params={"customer_id": customer["id"],
                                                   "sort": "due", "limit": 2}))
        rest = ok(c.get("/api/v1/tickets", params={"customer_id": customer["id"],
                                                   "sort": "due",
                                                   "cursor": page["next_cursor"]}))
        ordered = [t["id"] for t in page["items"] + rest["items"]]
        # urgent: 30 min to first response; 3 h old normal: 4 h - 3 h = 1 h; low: 8 h
        assert ordered == [urgent["id"], older["id"], low["id"]]
        assert rest["next_cursor"] is None
        by_category = ok(c.get("/api/v1/tickets", params={
            "customer_id": customer["id"], "category": "consultation"}))["items"]
        assert [t["id"] for t in by_category] == [low["id"]]
        ok(c.post(f"/api/v1/tickets/{low['id']}/assign",
                  json={"assignee_id": desk["other_agent"]["id"]}))
        mine = ok(c.get("/api/v1/tickets", params={
            "customer_id": customer["id"], "assignee_id": desk["other_agent"]["id"]}))
        assert [t["id"] for t in mine["items"]] == [low["id"]]
        unassigned = ok(c.get("/api/v1/tickets", params={
            "customer_id": customer["id"], "unassigned": "true", "status": "new,open"}))
        assert {t["id"] for t in unassigned["items"]} == {urgent["id"], older["id"]}
        assert ok(c.get("/api/v1/tickets", params={
            "customer_id": customer["id"], "breached": "true"}))["items"] == []
        problem(c.get("/api/v1/tickets", params={"status": "nonsense"}), 422)
        problem(c.get("/api/v1/tickets", params={"cursor": "garbage"}), 400)


def test_bad_input_is_refused_clearly(platform: Platform, desk: dict[str, Any]) -> None:
    agent, customer = desk["agent"], desk["customer"]
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    with platform.client(agent["token"]) as c:
        base = {"customer_id": customer["id"], "category": "fault", "channel": "phone",
                "subject": "x"}
        problem(c.post("/api/v1/tickets", json={**base, "received_at": future}), 422,
                "received_in_future")
        problem(c.post("/api/v1/tickets", json={**base, "customer_id": "no-such"}), 422,
                "unknown_customer")
        problem(c.post("/api/v1/tickets", json={**base, "category": "praise"}), 422)
        problem(c.post("/api/v1/tickets", json={**base, "surprise": 1}), 422)
        problem(c.post("/api/v1/tickets", json={k: v for k, v in base.items()
                                                if k != "customer_id"}), 422,
                "customer_required")
        problem(c.post("/api/v1/tickets", json={**base, "assignee_id": "nobody"}), 422,
                "invalid_assignee")
        problem(c.post("/api/v1/tickets", json={**base, "contact_id": "nobody"}), 422,
                "invalid_contact")
        problem(c.get("/api/v1/tickets/no-such-ticket"), 404, "ticket_not_found")
        ticket = new_ticket(platform, agent["token"], customer["id"])
        stale = c.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "urgent"},
                        headers={"If-Match": '"0"'})
        assert stale.status_code in (409, 412), stale.text
        changed = ok(c.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "urgent"},
                             headers={"If-Match": f'"{ticket["version"]}"'}))
        # urgent: 30 minutes to first response from when it was received
        assert _at(_target(changed, "first_response")["due_at"]) == \
            _at(ticket["received_at"]) + timedelta(minutes=30)
        problem(c.patch(f"/api/v1/tickets/{ticket['id']}", json={"subject": None}), 422)


def test_others_see_only_what_their_scope_allows(platform: Platform,
                                                  desk: dict[str, Any]) -> None:
    agent, technician = desk["agent"], desk["technician"]
    ticket = new_ticket(platform, agent["token"], desk["customer"]["id"])
    rep = platform.new_user(["sales_rep"])
    with platform.client(technician["token"]) as c:
        problem(c.get(f"/api/v1/tickets/{ticket['id']}"), 404)
        assert ticket["id"] not in [t["id"] for t in ok(c.get("/api/v1/tickets"))["items"]]
        problem(c.post("/api/v1/tickets", json={
            "customer_id": desk["customer"]["id"], "category": "fault", "channel": "web",
            "subject": "x"}), 403)
    with platform.client(rep["token"]) as c:  # not the rep's customer
        problem(c.get(f"/api/v1/tickets/{ticket['id']}"), 404)
