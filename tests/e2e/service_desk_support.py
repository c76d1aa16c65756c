"""Shared set-up of the service desk's end-to-end tests: a service team (its manager,
two agents), a technician, a service manager, a company customer with a contact, and
a subscriber to ``service_desk.events``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from kombu import Connection, Exchange, Queue

from tests.support.infra import wait_until
from tests.support.platform import Platform


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    body = dict(r.json())
    if code is not None:
        assert body["code"] == code, body
    return body


def desk_knows(platform: Platform, user: dict[str, Any]) -> None:
    """Wait until the service desk's staff copy has the user (an internal ticket
    assigned to them is accepted)."""
    def known() -> bool:
        with platform.admin() as admin:
            r = admin.post("/api/v1/tickets", json={
                "kind": "internal", "category": "consultation", "channel": "phone",
                "subject": "probe", "assignee_id": user["id"]})
            return r.status_code == 201
    wait_until(known, 30, f"service desk knows {user['display_name']}")


def company(platform: Platform, name: str | None = None) -> tuple[dict[str, Any],
                                                                   dict[str, Any]]:
    """A company customer (the admin's) and one contact of it with an e-mail."""
    with platform.admin() as admin:
        customer = ok(admin.post("/api/v1/customers", json={
            "name": name or f"售后客户{uuid.uuid4().hex[:8]}有限公司", "kind": "company"}), 201)
        contact = ok(admin.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": "刘联系", "phones": ["138 0013 8001"],
            "emails": [f"liu.{uuid.uuid4().hex[:6]}@example.com"]}), 201)
    return customer, {**contact, "email": contact["emails"][0]}


@pytest.fixture(scope="session")
def desk(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        team = ok(admin.post("/api/v1/teams", json={"name": f"售后-{uuid.uuid4().hex[:4]}"}),
                  201)
    lead = platform.new_user(["service_agent"], team_id=team["id"], display_name="孙组长")
    with platform.admin() as admin:
        ok(admin.patch(f"/api/v1/teams/{team['id']}", json={"manager_id": lead["id"]}))
    agent = platform.new_user(["service_agent"], team_id=team["id"], display_name="周客服")
    other_agent = platform.new_user(["service_agent"], team_id=team["id"],
                                    display_name="吴客服")
    manager = platform.new_user(["service_manager"], display_name="郑经理")
    technician = platform.new_user(["technician"], display_name="冯师傅")
    for user in (lead, agent, other_agent, manager, technician):
        desk_knows(platform, user)
    customer, contact = company(platform)
    return {"team": team, "lead": lead, "agent": agent, "other_agent": other_agent,
            "manager": manager, "technician": technician, "customer": customer,
            "contact": contact}


def new_ticket(platform: Platform, token: str, customer_id: str, **fields: Any
               ) -> dict[str, Any]:
    body = {"customer_id": customer_id, "category": "fault", "channel": "phone",
            "subject": "空调不制冷", "description": "客户来电：空调开机后不制冷", **fields}
    with platform.client(token) as c:
        return ok(c.post("/api/v1/tickets", json=body), 201)


class EventTap:
    """A plain AMQP subscriber bound to ``service_desk.events``, as any internal app
    (notifications) would be."""

    def __init__(self, conn: Connection, queue: Queue) -> None:
        self.conn, self.queue = conn, queue
        self.seen: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        bound = self.queue(self.conn.channel())
        while (message := bound.get(no_ack=True)) is not None:
            self.seen.append(json.loads(message.body))
        return self.seen

    def matching(self, event_type: str, match: Callable[[dict[str, Any]], bool]
                 ) -> list[dict[str, Any]]:
        return [e for e in self.drain() if e["type"] == event_type and match(e["data"])]

    def wait_for(self, event_type: str, match: Callable[[dict[str, Any]], bool],
                 timeout: float = 20) -> dict[str, Any]:
        found = wait_until(lambda: self.matching(event_type, match), timeout,
                           f"{event_type} on service_desk.events")
        return dict(found[0])


@pytest.fixture()
def desk_events(platform: Platform) -> Iterator[EventTap]:
    conn = Connection(platform.amqp_uri)
    queue = Queue(f"test-desk-{uuid.uuid4().hex[:6]}",
                  Exchange("service_desk.events", type="topic", durable=True),
                  routing_key="#", auto_delete=True)
    queue(conn.channel()).declare()
    try:
        yield EventTap(conn, queue)
    finally:
        conn.release()
