"""The call centre (SVC-08) through the gateway: a signed telephony connector rings,
the caller is looked up by any way of writing their number and published as
``call.ringing``; call logs and their scope; an answered call becomes a ticket; outbound
call lists from a customer segment; bad signatures are refused."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg2
import pytest
from standardwebhooks import Webhook

from tests.e2e.sales_support import _product
from tests.e2e.service_desk_support import EventTap, ok, problem
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _mobile() -> tuple[str, str]:
    """A fresh mobile number as stored (11 digits) and as a phone shows it."""
    digits = f"139{random.randrange(10**8):08d}"
    return digits, f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"


@pytest.fixture(scope="module")
def connector(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        made = ok(admin.post("/api/v1/telephony/connectors",
                             json={"name": f"pbx-{uuid.uuid4().hex[:6]}"}), 201)
        assert made["secret"].startswith("whsec_")
        listed = ok(admin.get("/api/v1/telephony/connectors", params={"limit": 500}))
        assert all("secret" not in c or c["secret"] is None for c in listed["items"])
    return made


def _send(platform: Platform, connector: dict[str, Any], event: dict[str, Any], *,
          msg_id: str | None = None, secret: str | None = None,
          at: datetime | None = None) -> httpx.Response:
    """The event as a connector sends it, signed with the Standard Webhooks library (not
    our own code) so the scheme is checked against its reference implementation."""
    body = json.dumps(event)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret or connector["secret"]).sign(msg_id, at, body)
    headers = {"content-type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}
    with platform.client() as c:
        return c.post(f"/api/v1/telephony/{connector['name']}/events", content=body,
                      headers=headers)


def _event(call_id: str, kind: str, from_number: str, **more: Any) -> dict[str, Any]:
    return {"call_id": call_id, "event": kind, "direction": "inbound", "from": from_number,
            "to": "4008001234", "at": datetime.now(UTC).isoformat(), **more}


def _customer(platform: Platform, token: str | None, phone: str, **fields: Any
              ) -> dict[str, Any]:
    with platform.client(token) if token else platform.admin() as c:
        return ok(c.post("/api/v1/customers", json={
            "name": f"来电客户{uuid.uuid4().hex[:8]}有限公司", "kind": "company",
            "phones": [phone], **fields}), 201)


def _lookup(platform: Platform, token: str, phone: str) -> dict[str, Any]:
    with platform.client(token) as c:
        return ok(c.get("/api/v1/calls/lookup", params={"phone": phone}))


def _known(platform: Platform, token: str, phone: str, customer_id: str) -> dict[str, Any]:
    """The lookup once the service desk's copy has the customer (it follows events)."""
    found: dict[str, Any] = {}

    def has() -> bool:
        found.update(_lookup(platform, token, phone))
        return customer_id in [c["id"] for c in found["customers"]]
    wait_until(has, 30, "the service desk's copy has the customer's phone")
    return found


def test_a_ringing_phone_pops_the_caller_and_an_answered_call_becomes_a_ticket(
        platform: Platform, desk: dict[str, Any], connector: dict[str, Any],
        desk_events: EventTap) -> None:
    stored, shown = _mobile()
    customer = _customer(platform, None, stored)
    agent, manager = desk["agent"], desk["manager"]
    found = _known(platform, agent["token"], shown, customer["id"])
    assert found["phone"] == f"+86{stored}"
    (hit,) = [c for c in found["customers"] if c["id"] == customer["id"]]
    assert hit["owner_id"] == customer["owner_id"] and hit["owner_name"]
    assert _lookup(platform, agent["token"], f"0086{stored}")["customers"] == found["customers"]

    call_id = f"pbx-{uuid.uuid4().hex[:8]}"
    rang = ok(_send(platform, connector, _event(call_id, "ringing", shown,
                                                agent_id=agent["id"])))
    assert (rang["state"], rang["duplicate"]) == ("ringing", False)
    ringing = desk_events.wait_for("call.ringing", lambda d: d["external_id"] == call_id)
    assert customer["id"] in [m["customer_id"] for m in ringing["data"]["matches"]]
    assert ringing["data"]["party_number"] == f"+86{stored}"

    ok(_send(platform, connector, _event(call_id, "answered", shown, agent_id=agent["id"])))
    ended = _event(call_id, "ended", shown, duration_seconds=95,
                   recording_url="https://rec.example.com/a.mp3")
    first = ok(_send(platform, connector, ended, msg_id=f"msg_{call_id}_end"))
    assert (first["state"], first["duplicate"]) == ("ended", False)
    # the same message replayed, and the same event sent again as a new message
    replay = ok(_send(platform, connector, ended, msg_id=f"msg_{call_id}_end"))
    again = ok(_send(platform, connector, {**ended, "duration_seconds": 300}))
    assert replay["duplicate"] and again["duplicate"]
    assert replay["call_id"] == again["call_id"] == first["call_id"]

    with platform.client(agent["token"]) as c:
        call = ok(c.get(f"/api/v1/calls/{first['call_id']}"))
    assert (call["state"], call["duration_seconds"], call["customer_id"]) == (
        "ended", 95, customer["id"])
    assert call["recording_url"] == "https://rec.example.com/a.mp3"
    assert call["agent_id"] == agent["id"] and call["connector"] == connector["name"]
    assert call["version"] == 2  # the ended event applied once
    desk_events.wait_for("call.ended", lambda d: d["id"] == call["id"])
    assert len(desk_events.matching("call.ended", lambda d: d["id"] == call["id"])) == 1

    with platform.client(manager["token"]) as c:
        ticket = ok(c.post(f"/api/v1/calls/{call['id']}/ticket", json={
            "category": "fault", "subject": "来电报修：空调不制冷"}), 201)
        assert (ticket["channel"], ticket["customer_id"]) == ("phone", customer["id"])
        assert ok(c.get(f"/api/v1/calls/{call['id']}"))["ticket_id"] == ticket["id"]
        problem(c.post(f"/api/v1/calls/{call['id']}/ticket", json={
            "category": "fault", "subject": "again"}), 409, "call_has_ticket")
    # the caller's screen now shows the open ticket, and the 360 view the call
    assert ticket["id"] in [t["id"] for t in _lookup(platform, agent["token"], shown)
                            ["open_tickets"]]
    with platform.admin() as admin:
        view = ok(admin.get(f"/api/v1/customers/{customer['id']}/360"))
    assert call["id"] in [x["id"] for x in view["sections"]["service"]["data"]
                          ["recent_calls"]]


def test_a_wrongly_signed_event_is_refused_and_changes_nothing(
        platform: Platform, desk: dict[str, Any], connector: dict[str, Any]) -> None:
    stored, shown = _mobile()
    call_id = f"pbx-{uuid.uuid4().hex[:8]}"
    event = _event(call_id, "ringing", shown)
    other_secret = "whsec_" + "A" * 32
    for r in (_send(platform, connector, event, secret=other_secret),
              _send(platform, connector, event, at=datetime.now(UTC) - timedelta(minutes=10)),
              _send(platform, {**connector, "name": "nobody"}, event)):
        problem(r, 401, "invalid_telephony_signature")
    with platform.client(desk["manager"]["token"]) as c:
        assert ok(c.get("/api/v1/calls", params={"phone": shown}))["items"] == []
    # a well signed event that is no event is a 422, after the signature
    problem(_send(platform, connector, {"call_id": call_id}), 422, "invalid_telephony_event")


def test_calls_are_logged_and_each_agent_sees_their_own(
        platform: Platform, desk: dict[str, Any]) -> None:
    stored, shown = _mobile()
    customer = _customer(platform, None, stored)
    agent, other, manager = desk["agent"], desk["other_agent"], desk["manager"]
    _known(platform, agent["token"], shown, customer["id"])
    start = datetime.now(UTC) - timedelta(minutes=5)
    with platform.client(agent["token"]) as c:
        call = ok(c.post("/api/v1/calls", json={
            "direction": "outbound", "from_number": "4008001234", "to_number": shown,
            "started_at": start.isoformat(),
            "answered_at": (start + timedelta(seconds=10)).isoformat(),
            "ended_at": (start + timedelta(seconds=130)).isoformat(),
            "outcome": "resolved", "notes": "回访：已恢复"}), 201)
        assert (call["customer_id"], call["duration_seconds"], call["agent_id"]) == (
            customer["id"], 120, agent["id"])
        problem(c.post("/api/v1/calls", json={
            "direction": "inbound", "from_number": shown, "to_number": "4008001234",
            "started_at": start.isoformat(),
            "ended_at": (start - timedelta(seconds=1)).isoformat()}), 422,
            "invalid_call_times")
        problem(c.patch(f"/api/v1/calls/{call['id']}", json={"notes": "x"},
                        headers={"If-Match": '"99"'}), 412)
        edited = ok(c.patch(f"/api/v1/calls/{call['id']}", json={"outcome": "follow_up"},
                            headers={"If-Match": f'"{call["version"]}"'}))
        assert edited["outcome"] == "follow_up"
        today = datetime.now(UTC).date()
        report = ok(c.get("/api/v1/calls-report", params={
            "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=2)).isoformat()}))
        assert report["calls"] >= 1
        assert {row["agent_id"] for row in report["by_agent_hour"]} == {agent["id"]}
    with platform.client(other["token"]) as c:
        problem(c.get(f"/api/v1/calls/{call['id']}"), 404, "call_not_found")
        mine = ok(c.get("/api/v1/calls", params={"customer_id": customer["id"]}))
        assert mine["items"] == []
    with platform.client(manager["token"]) as c:
        seen = ok(c.get("/api/v1/calls", params={"customer_id": customer["id"]}))
        assert [x["id"] for x in seen["items"]] == [call["id"]]


def test_a_lookup_shows_only_customers_the_caller_may_see(
        platform: Platform, desk: dict[str, Any]) -> None:
    rep = platform.new_user(["sales_rep"])
    theirs_phone, theirs_shown = _mobile()
    others_phone, others_shown = _mobile()
    theirs = _customer(platform, rep["token"], theirs_phone)
    others = _customer(platform, None, others_phone)
    manager = desk["manager"]["token"]
    _known(platform, manager, others_shown, others["id"])
    _known(platform, rep["token"], theirs_shown, theirs["id"])
    assert _lookup(platform, rep["token"], others_shown)["customers"] == []
    with platform.client(rep["token"]) as c:
        problem(c.get("/api/v1/calls/lookup", params={"phone": "not-a-number"}), 422,
                "invalid_phone")
    with platform.client(desk["technician"]["token"]) as c:
        problem(c.get("/api/v1/calls/lookup", params={"phone": others_shown}), 403)


def test_a_segment_call_list_leaves_out_opted_out_contacts_and_is_worked_by_agents(
        platform: Platform, desk: dict[str, Any]) -> None:
    tag = f"电销{uuid.uuid4().hex[:6]}"
    agent, other, manager = desk["agent"], desk["other_agent"], desk["manager"]
    phones = [_mobile() for _ in range(5)]
    first = _customer(platform, None, phones[0][0], tags=[tag])
    second = _customer(platform, None, phones[1][0], tags=[tag])
    with platform.admin() as admin:
        willing = ok(admin.post(f"/api/v1/customers/{first['id']}/contacts", json={
            "name": "王愿意", "phones": [phones[2][0]]}), 201)
        opted_out = ok(admin.post(f"/api/v1/customers/{first['id']}/contacts", json={
            "name": "李退订", "phones": [phones[3][0]], "marketing_opt_out": True}), 201)
        third = ok(admin.post(f"/api/v1/customers/{second['id']}/contacts", json={
            "name": "赵联系", "phones": [phones[4][0]]}), 201)
        segment = ok(admin.post("/api/v1/segments", json={
            "name": f"电销名单{tag}", "conditions": [
                {"field": "tags", "op": "contains", "value": tag}]}), 201)

    def copied(phone: str, contact_id: str) -> bool:
        found = _lookup(platform, manager["token"], phone)["contacts"]
        return contact_id in [c["id"] for c in found]
    for (_, shown), contact in ((phones[2], willing), (phones[3], opted_out),
                                (phones[4], third)):
        wait_until(lambda s=shown, k=contact["id"]: copied(s, k), 30,
                   "the service desk's copy has the contact")

    body = {"name": "十二月电销", "purpose": "telemarketing", "source": "segment",
            "segment_id": segment["id"], "agent_ids": [agent["id"], other["id"]]}
    with platform.client(manager["token"]) as c:
        made = ok(c.post("/api/v1/call-lists", json=body), 201)
        assert (made["entries"], made["open_entries"]) == (2, 2)
        assert made["left_out"] == {"marketing_opt_out": 1}
        # the same people are not put on a second active list
        twice = ok(c.post("/api/v1/call-lists", json={**body, "name": "重复"}), 201)
        assert (twice["entries"], twice["left_out"]) == (
            0, {"already_on_a_list": 2, "marketing_opt_out": 1})
        everyone = ok(c.get(f"/api/v1/call-lists/{made['id']}/entries"))["items"]
    assert {e["contact_id"] for e in everyone} == {willing["id"], third["id"]}
    assert {e["agent_id"] for e in everyone} == {agent["id"], other["id"]}

    base = f"/api/v1/call-lists/{made['id']}/entries"
    with platform.client(agent["token"]) as c:
        (mine,) = ok(c.get(base))["items"]
        assert mine["agent_id"] == agent["id"]
        tried = ok(c.post(f"{base}/{mine['id']}/attempts", json={"outcome": "no_answer"}),
                   201)
        assert (tried["status"], tried["attempts"]) == ("pending", 1)
        later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
        asked = ok(c.post(f"{base}/{mine['id']}/attempts", json={
            "outcome": "callback", "callback_at": later}), 201)
        assert asked["status"] == "callback" and asked["callback_at"]
        assert ok(c.get(base, params={"due": "true"}))["items"] == []
        (theirs,) = [e for e in everyone if e["agent_id"] == other["id"]]
        problem(c.post(f"{base}/{theirs['id']}/attempts", json={"outcome": "reached"}),
                404, "call_list_entry_not_found")
    with platform.client(other["token"]) as c:
        done = ok(c.post(f"{base}/{theirs['id']}/attempts", json={"outcome": "interested"}),
                  201)
        assert done["status"] == "done"
        problem(c.post(f"{base}/{theirs['id']}/attempts", json={"outcome": "reached"}),
                409, "invalid_transition")
    with platform.client(manager["token"]) as c:
        closed = ok(c.post(f"/api/v1/call-lists/{made['id']}/close"))
        assert (closed["status"], closed["open_entries"]) == ("closed", 0)
        problem(c.post(f"/api/v1/call-lists/{made['id']}/close"), 409, "invalid_transition")
        # closed, its people may go on another list
        again = ok(c.post("/api/v1/call-lists", json={**body, "name": "再来"}), 201)
        assert again["entries"] == 2


def _rep_with_order(platform: Platform, rep: dict[str, Any]
                    ) -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]]:
    """A rep's customer (the number as a phone shows it) with a follow-up and a
    confirmed order."""
    stored, shown = _mobile()
    product = _product(platform, "800.00")  # sold at its list price: nothing to approve
    customer = _customer(platform, rep["token"], stored)
    with platform.client(rep["token"]) as c:
        followup = ok(c.post(f"/api/v1/customers/{customer['id']}/follow-ups", json={
            "method": "visit", "content": "上门演示，客户有意采购"}), 201)
        order = ok(c.post("/api/v1/orders", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "1",
                       "unit_price": "800.00"}],
            "payment_terms": {"installments": [{"percent": "100", "due_days": 30}]}}), 201)
        ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
    return customer, shown, followup, order


def test_a_lookup_brings_the_callers_follow_ups_and_open_orders_as_the_agent_may_see(
        platform: Platform, desk: dict[str, Any], org: dict[str, Any]) -> None:
    rep = org["rep"]
    customer, shown, followup, order = _rep_with_order(platform, rep)
    found = _known(platform, rep["token"], shown, customer["id"])
    assert found["followups"]["status"] == "ok"
    assert [f["id"] for f in found["followups"]["items"]] == [followup["id"]]
    assert found["open_orders"]["status"] == "ok"
    (open_order,) = found["open_orders"]["items"]
    assert (open_order["id"], open_order["status"], open_order["amount"],
            open_order["currency"]) == (order["id"], "confirmed", order["amount"], "CNY")
    # another rep's call:lookup scope does not reach this customer: nothing of it shows
    other = _lookup(platform, org["other"]["token"], shown)
    assert other["customers"] == [] and other["open_orders"]["items"] == []
    assert other["followups"]["items"] == []
    # a service agent sees every caller and their follow-ups, but has no order:read
    agent = _lookup(platform, desk["agent"]["token"], shown)
    assert [f["id"] for f in agent["followups"]["items"]] == [followup["id"]]
    assert agent["open_orders"] == {"status": "forbidden", "reason": "needs order:read",
                                    "items": []}


def test_a_lookup_answers_when_the_sales_service_does_not(
        platform: Platform, desk: dict[str, Any], org: dict[str, Any]) -> None:
    customer, shown, followup, _ = _rep_with_order(platform, org["rep"])
    _known(platform, org["rep"]["token"], shown, customer["id"])
    platform.procs["sales"].stop()
    try:
        found = _lookup(platform, org["rep"]["token"], shown)
    finally:
        platform.procs["sales"].start()
        platform.wait_service_ready("sales")
    assert [c["id"] for c in found["customers"]] == [customer["id"]]
    assert [f["id"] for f in found["followups"]["items"]] == [followup["id"]]
    assert found["open_orders"]["status"] == "unavailable"
    assert found["open_orders"]["reason"].startswith("service_unavailable")
    assert found["open_orders"]["items"] == []


def test_a_lookup_answers_when_the_customer_service_refuses_a_section(
        platform: Platform, desk: dict[str, Any]) -> None:
    """A customer the service desk's copy holds but the customer service refuses (a copy
    ahead of or behind its source) marks the follow-ups unavailable; the caller still pops
    up. The refusal used to fail the whole lookup with the customer service's 404."""
    digits, shown = _mobile()
    customer_id = str(uuid.uuid4())
    conn = psycopg2.connect(platform.db_urls["service_desk"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO customers (id, source_version, copied_at, code, name, kind, "
                "owner_id, status, phones) VALUES (%s, 1, now(), %s, %s, 'company', %s, "
                "'active', %s)", (customer_id, f"C{customer_id[:8]}", "只在副本中的客户",
                                  desk["agent"]["id"], json.dumps([f"+86{digits}"])))
    finally:
        conn.close()
    found = _lookup(platform, desk["agent"]["token"], shown)
    assert [c["id"] for c in found["customers"]] == [customer_id]
    assert found["followups"]["status"] == "unavailable"
    assert found["followups"]["reason"].startswith("customer_not_found")
    assert found["followups"]["items"] == []


def test_an_answered_call_is_saved_as_a_follow_up_on_its_customer_in_one_step(
        platform: Platform, desk: dict[str, Any], org: dict[str, Any]) -> None:
    rep = org["rep"]
    stored, shown = _mobile()
    customer = _customer(platform, rep["token"], stored)
    _known(platform, rep["token"], shown, customer["id"])
    start = datetime.now(UTC) - timedelta(minutes=3)
    answered = start + timedelta(seconds=8)
    with platform.client(rep["token"]) as c:
        call = ok(c.post("/api/v1/calls", json={
            "direction": "inbound", "from_number": shown, "to_number": "4008001234",
            "started_at": start.isoformat(), "answered_at": answered.isoformat(),
            "ended_at": (start + timedelta(seconds=200)).isoformat()}), 201)
        assert call["customer_id"] == customer["id"] and call["followup_id"] is None
        missed = ok(c.post("/api/v1/calls", json={
            "direction": "inbound", "from_number": shown, "to_number": "4008001234",
            "started_at": start.isoformat()}), 201)
        problem(c.post(f"/api/v1/calls/{call['id']}/follow-up", json={"content": ""}),
                422)
        saved = ok(c.post(f"/api/v1/calls/{call['id']}/follow-up", json={
            "content": "客户来电询问续约价格", "result": "已报价",
            "next_followup_on": (datetime.now(UTC).date() + timedelta(days=7)).isoformat()}),
            201)
        assert saved["followup_id"] and saved["version"] == call["version"] + 1
        assert ok(c.get(f"/api/v1/calls/{call['id']}"))["followup_id"] == saved["followup_id"]
        (followup,) = ok(c.get(f"/api/v1/customers/{customer['id']}/follow-ups"))["items"]
        assert (followup["id"], followup["method"], followup["content"]) == (
            saved["followup_id"], "phone", "客户来电询问续约价格")
        assert datetime.fromisoformat(followup["occurred_at"]) == answered
        # once only; a call nobody answered is no conversation to save
        problem(c.post(f"/api/v1/calls/{call['id']}/follow-up", json={"content": "again"}),
                409, "call_has_followup")
        problem(c.post(f"/api/v1/calls/{missed['id']}/follow-up", json={"content": "x"}),
                409, "invalid_transition")
        assert len(ok(c.get(f"/api/v1/customers/{customer['id']}/follow-ups"))
                   ["items"]) == 1
    # a service agent may log calls but not write follow-ups (the permission table)
    with platform.client(desk["agent"]["token"]) as c:
        mine = ok(c.post("/api/v1/calls", json={
            "direction": "inbound", "from_number": shown, "to_number": "4008001234",
            "started_at": start.isoformat(), "answered_at": answered.isoformat()}), 201)
        problem(c.post(f"/api/v1/calls/{mine['id']}/follow-up", json={"content": "x"}), 403)


def test_a_care_call_list_calls_the_contacts_the_care_calendar_reminded(
        platform: Platform, desk: dict[str, Any], org: dict[str, Any]) -> None:
    day = date(2024, 1, 1) + timedelta(days=uuid.uuid4().int % 360)  # a day of its own
    (greeted_phone, greeted_shown), (plain_phone, plain_shown) = _mobile(), _mobile()
    customer = _customer(platform, org["rep"]["token"], _mobile()[0])
    base = f"/api/v1/customers/{customer['id']}/contacts"
    with platform.client(org["rep"]["token"]) as c:
        greeted = ok(c.post(base, json={
            "name": "孙关怀", "phones": [greeted_phone], "birthday": f"1990-{day:%m-%d}",
            "email": f"c{uuid.uuid4().hex[:8]}@client.test"}), 201)
        plain = ok(c.post(base, json={"name": "钱平常", "phones": [plain_phone]}), 201)
    manager = desk["manager"]["token"]
    def copied(shown: str, contact_id: str) -> bool:
        return contact_id in [x["id"] for x in _lookup(platform, manager, shown)["contacts"]]
    for shown, contact in ((greeted_shown, greeted), (plain_shown, plain)):
        wait_until(partial(copied, shown, contact["id"]), 30,
                   "the service desk's copy has the contact")
    with platform.admin() as admin:
        (rule,) = [r for r in ok(admin.get("/api/v1/notification-rules",
                                           params={"limit": "500"}))["items"]
                   if r["event_type"] == "schedule.birthday"]

        def greeting_planned() -> bool:  # once notify has its copy of the contact
            at = datetime.combine(day, datetime.min.time(), ZoneInfo("Asia/Shanghai"))
            ok(admin.post("/api/v1/notification-jobs/run",
                          json={"at": (at + timedelta(hours=12)).isoformat()}))
            return bool(ok(admin.get("/api/v1/deliveries", params={
                "recipient_id": greeted["id"], "rule_id": rule["id"]}))["items"])
        wait_until(greeting_planned, 60, "the birthday greeting")

    body = {"name": "生日关怀回访", "purpose": "care", "source": "care",
            "agent_ids": [desk["agent"]["id"]]}
    with platform.client(manager) as c:
        problem(c.post("/api/v1/call-lists", json=body), 422, "invalid_call_list")
        made = ok(c.post("/api/v1/call-lists", json={**body, "care_rule_id": rule["id"]}),
                  201)
        assert (made["source"], made["care_rule_id"]) == ("care", rule["id"])
        entries = ok(c.get(f"/api/v1/call-lists/{made['id']}/entries",
                           params={"limit": "500"}))["items"]
    mine = [e for e in entries if e["customer_id"] == customer["id"]]
    # the contact the greeting reached is called, not the other contact of the customer
    assert [e["contact_id"] for e in mine] == [greeted["id"]] and mine[0]["phone"]
