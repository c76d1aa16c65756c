"""SLA breaches (SVC-03) with two service desk processes sweeping at once: a complaint not
dispatched within 60 minutes of receipt is breached, ``ticket.sla_breached`` is
published once, and the ticket escalates to the manager of its team, then the service
manager. Policies with a business-hours calendar; the SLA report."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.service_desk_support import (
    EventTap,
    company,
    desk_knows,
    new_ticket,
    ok,
    problem,
)
from tests.support.infra import Proc, free_port, service_proc, wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


@pytest.fixture()
def second_desk(platform: Platform) -> Iterator[Proc]:
    """Another service desk replica, sweeping every second."""
    log_dir = platform.procs["service_desk"].log_path.parent / "desk-replica"
    log_dir.mkdir(exist_ok=True)
    port = free_port()
    replica = service_proc("service_desk", {**platform.env,
                                            "CRM_SERVICE_DESK_SWEEP_SECONDS": "1"},
                           log_dir, port)
    replica.start()
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                   60, "second service desk replica")
        yield replica
    finally:
        replica.stop()


def _breached(platform: Platform, token: str, ticket_id: str) -> dict[str, Any] | None:
    with platform.client(token) as c:
        ticket = ok(c.get(f"/api/v1/tickets/{ticket_id}"))
    return ticket if ticket["breached"] else None


def test_an_undispatched_complaint_breaches_once_with_two_replicas(
        platform: Platform, desk: dict[str, Any], desk_events: EventTap,
        second_desk: Proc) -> None:
    manager, lead, agent = desk["manager"], desk["lead"], desk["agent"]
    with platform.client(manager["token"]) as c:
        settings = ok(c.get("/api/v1/service-desk/settings"))
        ok(c.put("/api/v1/service-desk/settings",
                 json={**settings, "service_manager_id": manager["id"]}))
    received = datetime.now(UTC) - timedelta(minutes=61)
    complaint = new_ticket(platform, agent["token"], desk["customer"]["id"],
                           category="complaint", subject="维修人员态度差",
                           received_at=received.isoformat(), team_id=desk["team"]["id"])
    dispatch = next(t for t in complaint["sla"]["targets"] if t["target"] == "dispatch")
    assert dispatch["minutes"] == 60 and not dispatch["business_hours"]
    assert datetime.fromisoformat(dispatch["due_at"]) == received + timedelta(minutes=60)

    def sweep(_: int) -> int:
        with platform.client(manager["token"]) as c:
            return int(ok(c.post("/api/v1/service-desk/sla-sweep"))["breached"])

    # both replicas' timers and six sweeps asked for at once, spread over the replicas
    with ThreadPoolExecutor(6) as pool:
        swept = sum(pool.map(sweep, range(6)))
    assert swept <= 1
    breached = wait_until(lambda: _breached(platform, agent["token"], complaint["id"]), 30,
                          "the complaint flagged breached")
    dispatch = next(t for t in breached["sla"]["targets"] if t["target"] == "dispatch")
    assert dispatch["breached"] and dispatch["met_at"] is None
    assert breached["escalation_level"] == 1 and breached["escalated_to_id"] == lead["id"]
    event = desk_events.wait_for("ticket.sla_breached",
                                 lambda d: d["id"] == complaint["id"])
    assert event["data"]["target"] == "dispatch" and event["data"]["team_id"] == \
        desk["team"]["id"]
    assert event["data"]["number"] == complaint["number"]
    # a later breach, swept after the first by the same timers, has come through: the
    # first complaint's breach is still the only one
    sentinel = new_ticket(platform, agent["token"], desk["customer"]["id"],
                          category="complaint", received_at=received.isoformat())
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(sweep, range(6)))
    desk_events.wait_for("ticket.sla_breached", lambda d: d["id"] == sentinel["id"])
    assert len(desk_events.matching("ticket.sla_breached",
                                    lambda d: d["id"] == complaint["id"])) == 1
    escalations = desk_events.matching("ticket.escalated",
                                       lambda d: d["id"] == complaint["id"])
    assert [(e["data"]["level"], e["data"]["escalated_to_id"]) for e in escalations] == [
        (1, lead["id"])]
    with platform.client(agent["token"]) as c:
        listed = ok(c.get("/api/v1/tickets", params={"breached": "true",
                                                     "category": "complaint"}))["items"]
        assert complaint["id"] in [t["id"] for t in listed]
        # the next escalation goes to the service manager, and no further
        up = ok(c.post(f"/api/v1/tickets/{complaint['id']}/escalate",
                       json={"reason": "客户再次投诉"}))
        assert (up["escalation_level"], up["escalated_to_id"]) == (2, manager["id"])
        problem(c.post(f"/api/v1/tickets/{complaint['id']}/escalate",
                       json={"reason": "again"}), 422, "cannot_escalate")
        # dispatching late meets the target but the breach stays on record
        assigned = ok(c.post(f"/api/v1/tickets/{complaint['id']}/assign",
                             json={"assignee_id": agent["id"]}))
        dispatch = next(t for t in assigned["sla"]["targets"] if t["target"] == "dispatch")
        assert dispatch["met_at"] is not None and dispatch["breached"]


def test_a_complaint_handed_over_after_its_dispatch_time_is_a_breach_once(
        platform: Platform, desk: dict[str, Any], desk_events: EventTap) -> None:
    """Met late before any sweep reached it — logged an hour after the call, already
    handed to an agent — the breach is recorded with the ticket, as the sweep would."""
    lead, agent = desk["lead"], desk["agent"]
    received = datetime.now(UTC) - timedelta(minutes=61)
    late = new_ticket(platform, agent["token"], desk["customer"]["id"],
                      category="complaint", subject="上门迟到一小时",
                      received_at=received.isoformat(), team_id=desk["team"]["id"],
                      assignee_id=agent["id"])
    dispatch = next(t for t in late["sla"]["targets"] if t["target"] == "dispatch")
    assert dispatch["met_at"] is not None and dispatch["breached"]
    event = desk_events.wait_for("ticket.sla_breached", lambda d: d["id"] == late["id"])
    assert event["data"]["target"] == "dispatch"
    assert event["data"]["escalated_to_id"] == lead["id"]
    with platform.client(agent["token"]) as c:
        ticket = ok(c.get(f"/api/v1/tickets/{late['id']}"))
        assert (ticket["escalation_level"], ticket["escalated_to_id"]) == (1, lead["id"])
    # a later breach has come through: the first is still recorded once
    sentinel = new_ticket(platform, agent["token"], desk["customer"]["id"],
                          category="complaint", received_at=received.isoformat(),
                          team_id=desk["team"]["id"], assignee_id=agent["id"])
    desk_events.wait_for("ticket.sla_breached", lambda d: d["id"] == sentinel["id"])
    assert len(desk_events.matching("ticket.sla_breached",
                                    lambda d: d["id"] == late["id"])) == 1


def test_a_policy_with_business_hours_and_the_sla_report(platform: Platform,
                                                         desk: dict[str, Any]) -> None:
    manager, agent = desk["manager"], desk["agent"]
    with platform.client(manager["token"]) as c:
        # around the clock except one holiday: today, in Shanghai
        shanghai_today = (datetime.now(UTC) + timedelta(hours=8)).date()
        calendar = ok(c.post("/api/v1/business-calendars", json={
            "name": "全天候", "hours": [{"weekday": d, "start": "00:00", "end": "24:00"}
                                     for d in range(7)],
            "holidays": [shanghai_today.isoformat()]}), 201)
        assert calendar["timezone"] == "Asia/Shanghai"
        problem(c.post("/api/v1/business-calendars", json={
            "name": "坏", "hours": [{"weekday": 0, "start": "18:00", "end": "09:00"}]}), 422)
        policy = ok(c.post("/api/v1/sla-policies", json={
            "name": "建议", "category": "suggestion", "first_response_minutes": 120,
            "resolution_minutes": 600, "calendar_id": calendar["id"]}), 201)
        problem(c.post("/api/v1/sla-policies", json={
            "name": "again", "category": "suggestion", "first_response_minutes": 1,
            "resolution_minutes": 1}), 409, "duplicate_policy")
    ticket = new_ticket(platform, agent["token"], desk["customer"]["id"],
                        category="suggestion", subject="希望增加夜间服务")
    assert ticket["sla"]["policy_id"] == policy["id"]
    first = next(t for t in ticket["sla"]["targets"] if t["target"] == "first_response")
    # the clock waits for the holiday to end: due at 02:00 tomorrow, Shanghai time
    midnight = datetime.combine(shanghai_today + timedelta(days=1), datetime.min.time(),
                                tzinfo=UTC) - timedelta(hours=8)
    assert datetime.fromisoformat(first["due_at"]) == midnight + timedelta(hours=2)
    with platform.client(agent["token"]) as c:
        ok(c.post(f"/api/v1/tickets/{ticket['id']}/replies", json={"body": "收到，谢谢"}),
           201)
    with platform.client(manager["token"]) as c:
        start = date.today() - timedelta(days=1)
        report = ok(c.get("/api/v1/service/reports/sla", params={
            "from": start.isoformat(), "to": (start + timedelta(days=3)).isoformat(),
            "group_by": "category"}))
        suggestion = next(g for g in report["groups"] if g["key"] == "suggestion")
        first_response = suggestion["targets"]["first_response"]
        assert first_response["met"] >= 1 and first_response["median_minutes"] == 0.0
        assert report["total"]["tickets"] >= suggestion["tickets"] >= 1
        assert "rate_percent" in report["callbacks"]
        problem(c.get("/api/v1/service/reports/sla", params={
            "from": "2026-01-02", "to": "2026-01-01"}), 422, "invalid_period")
        ok(c.delete(f"/api/v1/sla-policies/{policy['id']}"))


def test_the_report_scopes_follow_the_caller(platform: Platform,
                                             desk: dict[str, Any]) -> None:
    customer, _ = company(platform)
    colleague = platform.new_user(["service_agent"], team_id=desk["team"]["id"])
    desk_knows(platform, colleague)
    new_ticket(platform, colleague["token"], customer["id"], assignee_id=colleague["id"])
    start = date.today() - timedelta(days=1)
    params = {"from": start.isoformat(), "to": (start + timedelta(days=3)).isoformat(),
              "group_by": "agent"}
    with platform.client(desk["technician"]["token"]) as c:
        problem(c.get("/api/v1/service/reports/sla", params=params), 403)
    with platform.client(desk["agent"]["token"]) as c:
        groups = ok(c.get("/api/v1/service/reports/sla", params=params))["groups"]
        assert colleague["id"] not in [g["key"] for g in groups]
