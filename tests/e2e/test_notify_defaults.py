"""The service desk's and the documents service's events reach people through notify's
default rules (issues 21–23, NTF-02): a technician hears of a work order dispatched to
them, a breached SLA reaches the assignee and whoever the ticket escalated to, a
borrowing goes to the document's owner and the archive managers and its decision back
to the borrower, and a portal invitation reaches the contact by e-mail (the token never
on the event bus). Work photos are documents linked to work orders, which the documents
service checks with the service desk. Mail is read back from a local aiosmtpd server."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Outside
from tests.e2e.service_desk_support import company, desk_knows, new_ticket, ok, problem
from tests.e2e.test_docs import _docs_knows
from tests.e2e.test_notify import notify_knows
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
API = "/api/v1"
# the service takes every event of the session's other tests too: a backlog can wait
MAIL_WAIT = 120


def _mail() -> str:
    return f"s{uuid.uuid4().hex[:8]}@crm-staff.test"


def _user(platform: Platform, roles: list[str], name: str, **extra: Any) -> dict[str, Any]:
    return platform.new_user(roles, display_name=name, email=_mail(), **extra)


def _inbox(platform: Platform, user: dict[str, Any], event_type: str, text: str
           ) -> dict[str, Any]:
    """The user's inbox message of ``event_type`` that mentions ``text``, once it came."""
    def found() -> list[dict[str, Any]]:
        with platform.client(user["token"]) as c:
            items = ok(c.get(f"{API}/inbox", params={"limit": "100"}))["items"]
        return [m for m in items if m["event_type"] == event_type
                and (text in m["title"] or text in m["body"])]
    return dict(wait_until(found, MAIL_WAIT, f"{event_type} in {user['display_name']}'s "
                                             "inbox")[0])


@pytest.fixture(scope="module")
def service_team(platform: Platform) -> dict[str, Any]:
    """A service team (its lead manages it) with an agent, a technician and a service
    manager, every one with an e-mail, known to the service desk and notify."""
    with platform.admin() as admin:
        team = ok(admin.post(f"{API}/teams", json={"name": f"通知-{uuid.uuid4().hex[:4]}"}),
                  201)
    lead = _user(platform, ["service_agent"], "陈组长", team_id=team["id"])
    with platform.admin() as admin:
        ok(admin.patch(f"{API}/teams/{team['id']}", json={"manager_id": lead["id"]}))
    agent = _user(platform, ["service_agent"], "林客服", team_id=team["id"])
    technician = _user(platform, ["technician"], "韩师傅")
    bystander = _user(platform, ["technician"], "袁师傅")
    manager = _user(platform, ["service_manager"], "何经理")
    people = [lead, agent, technician, bystander, manager]
    for user in people:
        desk_knows(platform, user)
    notify_knows(platform, user_ids=[u["id"] for u in people])
    customer, contact = company(platform)
    return {"team": team, "lead": lead, "agent": agent, "technician": technician,
            "bystander": bystander, "manager": manager, "customer": customer,
            "contact": contact}


def _dispatched_order(platform: Platform, team: dict[str, Any]) -> dict[str, Any]:
    ticket = new_ticket(platform, team["agent"]["token"], team["customer"]["id"],
                        subject="中央空调漏水")
    with platform.client(team["agent"]["token"]) as c:
        order = ok(c.post(f"{API}/tickets/{ticket['id']}/work-orders",
                          json={"address": "上海市浦东新区世纪大道 88 号"}), 201)
        ok(c.post(f"{API}/work-orders/{order['id']}/dispatch",
                  json={"technician_id": team["technician"]["id"]}))
    return order


def test_a_dispatched_work_order_reaches_the_technician(
        platform: Platform, outside: Outside, service_team: dict[str, Any]) -> None:
    technician = service_team["technician"]
    order = _dispatched_order(platform, service_team)

    def mail() -> list[Any]:
        return [m for m in outside.smtp.to(technician["email"])
                if order["number"] in str(m["Subject"])]
    found = wait_until(mail, MAIL_WAIT, "the dispatch e-mail")[0]
    assert "中央空调漏水" in str(found["Subject"])
    text = found.get_body(("plain",)).get_content()
    assert "上海市浦东新区世纪大道 88 号" in text and service_team["customer"]["name"] in text
    _inbox(platform, technician, "work_order.dispatched", order["number"])


def test_a_breach_reaches_the_assignee_and_whoever_it_escalated_to(
        platform: Platform, outside: Outside, service_team: dict[str, Any]) -> None:
    agent, lead = service_team["agent"], service_team["lead"]
    # logged five hours after the call: the first response (four hours around the
    # clock by default, no calendar set) is overdue, and the sweep records it
    received = datetime.now(UTC) - timedelta(hours=5)
    complaint = new_ticket(platform, agent["token"], service_team["customer"]["id"],
                           subject="报修五小时无人回复", received_at=received.isoformat(),
                           assignee_id=agent["id"], team_id=service_team["team"]["id"])

    def escalated() -> bool:
        with platform.client(service_team["manager"]["token"]) as c:
            ok(c.post(f"{API}/service-desk/sla-sweep"))
            ticket = ok(c.get(f"{API}/tickets/{complaint['id']}"))
        return ticket["escalated_to_id"] == lead["id"]
    wait_until(escalated, 60, "the breach recorded and escalated")
    for person in (agent, lead):
        _inbox(platform, person, "ticket.sla_breached", complaint["number"])

        def mail(address: str = person["email"]) -> list[Any]:
            return [m for m in outside.smtp.to(address)
                    if complaint["number"] in str(m["Subject"])]
        found = wait_until(mail, MAIL_WAIT, f"the breach e-mail to {person['display_name']}")
        assert "first_response" in str(found[0]["Subject"])


def test_a_manual_escalation_reaches_whoever_it_went_to(
        platform: Platform, service_team: dict[str, Any]) -> None:
    agent, lead = service_team["agent"], service_team["lead"]
    ticket = new_ticket(platform, agent["token"], service_team["customer"]["id"],
                        subject="客户要求主管回电", assignee_id=agent["id"],
                        team_id=service_team["team"]["id"])
    with platform.client(agent["token"]) as c:
        up = ok(c.post(f"{API}/tickets/{ticket['id']}/escalate",
                       json={"reason": "客户情绪激动"}))
    assert up["escalated_to_id"] == lead["id"]
    message = _inbox(platform, lead, "ticket.escalated", ticket["number"])
    assert "客户情绪激动" in message["body"]


def test_work_photos_are_documents_linked_to_a_work_order(
        platform: Platform, service_team: dict[str, Any]) -> None:
    technician, bystander = service_team["technician"], service_team["bystander"]
    for user in (technician, bystander):
        _docs_knows(platform, user)
    order = _dispatched_order(platform, service_team)
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000)
    with platform.client(technician["token"]) as c:
        doc = ok(c.post(f"{API}/documents", json={
            "title": f"{order['number']} 现场照片", "category": "service_photo",
            "links": {"work_order_ids": [order["id"]]}}), 201)
        assert doc["links"]["work_order_ids"] == [order["id"]]
        version = ok(c.post(f"{API}/documents/{doc['id']}/versions",
                            params={"filename": "现场.jpg"}, content=photo,
                            headers={"Content-Type": "application/octet-stream"}), 201)
        assert version["content_type"] == "image/jpeg"
        listed = ok(c.get(f"{API}/documents", params={"work_order_id": order["id"]}))
        assert [d["id"] for d in listed["items"]] == [doc["id"]]
        made_up = problem(c.post(f"{API}/documents", json={
            "title": "照片", "category": "service_photo",
            "links": {"work_order_ids": [str(uuid.uuid4())]}}), 422, "unknown_link")
        assert made_up["errors"][0]["field"] == "links.work_order_ids"
    # a technician the work order is not theirs cannot see it, so cannot link to it
    with platform.client(bystander["token"]) as c:
        problem(c.post(f"{API}/documents", json={
            "title": "照片", "category": "service_photo",
            "links": {"work_order_ids": [order["id"]]}}), 422, "unknown_link")
    # the agent who dispatched it may, and moves a document's links onto it
    with platform.client(service_team["agent"]["token"]) as c:
        summary = ok(c.post(f"{API}/documents", json={
            "title": "维修总结", "category": "work_summary"}), 201)
        moved = ok(c.patch(f"{API}/documents/{summary['id']}",
                           json={"links": {"work_order_ids": [order["id"]]}},
                           headers={"If-Match": f'"{summary["version"]}"'}))
        assert moved["links"]["work_order_ids"] == [order["id"]]


@pytest.fixture(scope="module")
def archive(platform: Platform) -> dict[str, Any]:
    found = {"owner": _user(platform, ["sales_rep"], "郭合同"),
             "borrower": _user(platform, ["sales_rep"], "梁借阅"),
             "archivist": _user(platform, ["archivist"], "秦档案")}
    for user in found.values():
        _docs_knows(platform, user)
    notify_knows(platform, user_ids=[u["id"] for u in found.values()])
    return found


def test_borrowing_asks_the_owner_and_archive_managers_and_tells_the_borrower(
        platform: Platform, archive: dict[str, Any]) -> None:
    owner, borrower, archivist = archive["owner"], archive["borrower"], archive["archivist"]
    with platform.client(owner["token"]) as c:
        doc = ok(c.post(f"{API}/documents", json={
            "title": "年度框架合同（机密）", "category": "contract", "level": "confidential"}),
            201)
    with platform.client(borrower["token"]) as c:
        lent = ok(c.post(f"{API}/documents/{doc['id']}/access-requests",
                         json={"reason": "续签参考", "days": 3}), 201)
        refused = ok(c.post(f"{API}/documents/{doc['id']}/access-requests",
                            json={"reason": "随便看看", "days": 30}), 201)
    for approver in (owner, archivist):
        asked = _inbox(platform, approver, "document.access_requested", lent["id"])
        assert doc["id"] in asked["body"]
        # the event names the document by id: its title may itself be confidential
        assert "年度框架合同" not in asked["body"] + asked["title"]
    with platform.client(owner["token"]) as c:
        ok(c.post(f"{API}/access-requests/{lent['id']}/approve", json={}))
    with platform.client(archivist["token"]) as c:
        ok(c.post(f"{API}/access-requests/{refused['id']}/reject",
                  json={"comment": "理由不充分"}))
    _inbox(platform, borrower, "document.access_granted", doc["id"])
    rejected = _inbox(platform, borrower, "document.access_rejected", "理由不充分")
    assert doc["id"] in rejected["body"]


def test_a_portal_invitation_reaches_the_contact_by_email_only(
        platform: Platform, outside: Outside, service_team: dict[str, Any]) -> None:
    customer, contact = company(platform)
    base = f"{API}/customers/{customer['id']}/contacts/{contact['id']}"
    with platform.client(service_team["agent"]["token"]) as c:
        invitation = ok(c.post(f"{base}/portal-invite", json={}), 201)
    assert invitation["emailed"] is True
    mail = wait_until(lambda: outside.smtp.to(contact["email"]), MAIL_WAIT,
                      "the invitation e-mail")[0]
    text = mail.get_body(("plain",)).get_content()
    token = re.search(r"pi_[A-Za-z0-9_-]+", text)
    assert token is not None and token.group(0) == invitation["invite_token"]
    assert customer["name"] in text and contact["email"] in text
    with httpx.Client(base_url=platform.base_url) as anonymous:
        active = ok(anonymous.post(f"{API}/portal/accept", json={
            "invite_token": token.group(0), "password": "portal-pass-1"}))
    assert active["status"] == "active"
    # the delivery log keeps the message, not the token
    def logged() -> list[dict[str, Any]]:
        with platform.admin() as admin:
            items = ok(admin.get(f"{API}/deliveries", params={
                "recipient_id": contact["id"], "channel": "email"}))["items"]
        return [d for d in items if d["status"] == "sent"]
    sent = wait_until(logged, 30, "the invitation logged as sent")
    assert len(sent) == 1 and invitation["invite_token"] not in sent[0]["body_text"]
    assert invitation["invite_token"] not in sent[0]["subject"]
