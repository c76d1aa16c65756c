"""The customer's self-service portal (SVC-07): a contact invited by staff accepts with a
password, signs in through the same /auth/token, raises requests and complaints, sees
their own customer's tickets with the public replies (never an internal note, never
another customer's ticket), replies, rates, and reads public knowledge — and reaches
nothing else in the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.service_desk_support import EventTap, company, new_ticket, ok, problem
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e
PASSWORD = "portal-pass-123"


def _portal_contact(platform: Platform, desk: dict[str, Any]) -> dict[str, Any]:
    """A customer, its contact invited and signed in to the portal."""
    customer, contact = company(platform)
    agent = desk["agent"]
    base = f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}"
    with platform.client(agent["token"]) as c:
        invitation = ok(c.post(f"{base}/portal-invite", json={}), 201)
        account = invitation["account"]
        assert account["username"] == contact["email"] and account["status"] == "invited"
        assert ok(c.get(f"{base}/portal-account"))["status"] == "invited"
    with httpx.Client(base_url=platform.base_url) as anonymous:
        problem(anonymous.post("/api/v1/auth/token", data={
            "username": contact["email"], "password": PASSWORD}), 401, "invalid_credentials")
        problem(anonymous.post("/api/v1/portal/accept", json={
            "invite_token": invitation["invite_token"], "password": "short"}), 422)
        active = ok(anonymous.post("/api/v1/portal/accept", json={
            "invite_token": invitation["invite_token"], "password": PASSWORD}))
        assert active["status"] == "active"
        # the invitation works once
        problem(anonymous.post("/api/v1/portal/accept", json={
            "invite_token": invitation["invite_token"], "password": "another-pass-1"}), 400,
            "invalid_invite")
        problem(anonymous.post("/api/v1/portal/accept", json={
            "invite_token": "pi_made-up", "password": PASSWORD}), 400, "invalid_invite")
    token = platform.login(contact["email"], PASSWORD)
    return {"customer": customer, "contact": contact, "token": token, "account": active,
            "base": base}


def test_a_contact_sees_their_customers_tickets_and_only_public_replies(
        platform: Platform, desk: dict[str, Any], desk_events: EventTap) -> None:
    me = _portal_contact(platform, desk)
    agent = desk["agent"]
    ours = new_ticket(platform, agent["token"], me["customer"]["id"],
                      contact_id=me["contact"]["id"], subject="打印机卡纸")
    theirs = new_ticket(platform, agent["token"], desk["customer"]["id"])
    with platform.client(agent["token"]) as c:
        ok(c.post(f"/api/v1/tickets/{ours['id']}/replies",
                  json={"body": "请先清理进纸通道，再试一次。"}), 201)
        ok(c.post(f"/api/v1/tickets/{ours['id']}/notes",
                  json={"body": "内部：这位客户上月已投诉两次"}), 201)
        ok(c.post(f"/api/v1/tickets/{ours['id']}/pending", json={}))
    with platform.client(me["token"]) as p:
        listed = ok(p.get("/api/v1/portal/tickets"))["items"]
        assert [t["id"] for t in listed] == [ours["id"]]
        mine = ok(p.get(f"/api/v1/portal/tickets/{ours['id']}"))
        assert [r["body"] for r in mine["replies"]] == ["请先清理进纸通道，再试一次。"]
        assert "内部" not in str(mine) and "assignee_id" not in mine
        problem(p.get(f"/api/v1/portal/tickets/{theirs['id']}"), 404, "ticket_not_found")
        problem(p.post(f"/api/v1/portal/tickets/{theirs['id']}/replies",
                       json={"body": "hi"}), 404)
        # writing back to a pending ticket opens it again
        back = ok(p.post(f"/api/v1/portal/tickets/{ours['id']}/replies",
                         json={"body": "清理后还是卡纸"}), 201)
        assert back["status"] == "open" and back["replies"][-1]["author_kind"] == "contact"
        problem(p.post(f"/api/v1/portal/tickets/{ours['id']}/rating", json={"rating": 5}),
                409, "invalid_transition")
        raised = ok(p.post("/api/v1/portal/tickets", json={
            "category": "complaint", "subject": "上门服务迟到两小时",
            "description": "约定上午九点，十一点才到"}), 201)
        assert raised["status"] == "new" and raised["number"].startswith("TK-")
    replied = desk_events.wait_for("ticket.replied", lambda d: d["id"] == ours["id"]
                                   and d["author_kind"] == "contact")
    assert replied["data"]["assignee_id"] is None and replied["data"]["customer_id"] == \
        me["customer"]["id"]
    with platform.client(agent["token"]) as c:
        staff_view = ok(c.get(f"/api/v1/tickets/{raised['id']}"))
        assert (staff_view["source"], staff_view["channel"], staff_view["contact_id"]) == (
            "portal", "web", me["contact"]["id"])
        assert any(t["target"] == "dispatch" for t in staff_view["sla"]["targets"])
        ok(c.post(f"/api/v1/tickets/{ours['id']}/resolve", json={"resolution": "更换搓纸轮"}))
        ok(c.post(f"/api/v1/tickets/{ours['id']}/close", json={}))
    with platform.client(me["token"]) as p:
        rated = ok(p.post(f"/api/v1/portal/tickets/{ours['id']}/rating",
                          json={"rating": 5, "comment": "师傅很专业"}))
        assert rated["rating"]["rating"] == 5 and rated["rating"]["source"] == "portal"
        problem(p.post(f"/api/v1/portal/tickets/{ours['id']}/replies", json={"body": "x"}),
                409, "invalid_transition")
    with platform.client(agent["token"]) as c:
        assert ok(c.get(f"/api/v1/tickets/{ours['id']}"))["rating"]["source"] == "portal"


def test_portal_knowledge_is_public_and_in_effect(platform: Platform,
                                                   desk: dict[str, Any]) -> None:
    me = _portal_contact(platform, desk)
    word = f"墨盒{uuid.uuid4().hex[:4]}"
    with platform.client(desk["manager"]["token"]) as c:
        public = ok(c.post("/api/v1/kb/articles", json={
            "title": f"{word}更换方法", "body": f"打开前盖，取出旧{word}，装入新的。",
            "category": "打印机", "visibility": "public", "kind": "standard_answer"}), 201)
        internal = ok(c.post("/api/v1/kb/articles", json={
            "title": f"{word}返修政策", "body": f"{word}保修期内免费更换（内部）",
            "category": "打印机"}), 201)
        for article in (public, internal):
            ok(c.post(f"/api/v1/kb/articles/{article['id']}/versions/1/publish"))
    with platform.client(me["token"]) as p:
        hits = ok(p.get("/api/v1/portal/kb/search", params={"q": f"更换{word}"}))["items"]
        assert hits[0]["article_id"] == public["id"]  # other public articles say 更换 too
        assert internal["id"] not in [h["article_id"] for h in hits]
        assert {h["visibility"] for h in hits} == {"public"}
        article = ok(p.get(f"/api/v1/portal/kb/articles/{public['id']}"))
        assert article["title"] == f"{word}更换方法" and article["version"] == 1
        problem(p.get(f"/api/v1/portal/kb/articles/{internal['id']}"), 404)
        listed = ok(p.get("/api/v1/portal/kb/articles", params={"category": "打印机"}))
        assert public["id"] in [a["id"] for a in listed["items"]]
        assert internal["id"] not in [a["id"] for a in listed["items"]]


def _fill(path: str) -> str:
    out = []
    for part in path.split("/"):
        out.append(str(uuid.uuid4()) if part.startswith("{") else part)
    return "/".join(out)


def test_a_portal_account_reaches_nothing_but_the_portal(platform: Platform,
                                                          desk: dict[str, Any]) -> None:
    me = _portal_contact(platform, desk)
    spec = httpx.get(f"{platform.base_url}/openapi.json").json()
    walked = 0
    with platform.client(me["token"]) as p:
        for path, operations in spec["paths"].items():
            if path in ("/api/v1/auth/token", "/api/v1/auth/refresh",
                        "/api/v1/portal/accept"):
                continue
            for method, operation in operations.items():
                if operation.get("x-portal"):
                    assert path.startswith("/api/v1/portal/"), path
                    continue
                if operation.get("security") == []:
                    continue  # signed by its sender (a webhook): no token is looked at
                r = p.request(method.upper(), _fill(path),
                              json={} if method in ("post", "put", "patch") else None)
                assert r.status_code == 403, (method, path, r.status_code, r.text)
                walked += 1
        assert walked > 150
        problem(p.get("/api/v1/me"), 403, "portal_only")
        problem(p.post("/api/v1/tickets", json={
            "customer_id": me["customer"]["id"], "category": "fault", "channel": "web",
            "subject": "x"}), 403, "portal_only")
        problem(p.get(f"/api/v1/customers/{me['customer']['id']}"), 403, "portal_only")
    # staff do not reach the portal's operations either
    with platform.client(desk["agent"]["token"]) as c:
        problem(c.get("/api/v1/portal/tickets"), 403)
    with platform.admin() as admin:
        problem(admin.get("/api/v1/portal/tickets"), 403, "portal_contact_only")
    # the refresh token gives another portal token; revoking ends the sessions at once
    with httpx.Client(base_url=platform.base_url) as anonymous:
        tokens = ok(anonymous.post("/api/v1/auth/token", data={
            "username": me["contact"]["email"], "password": PASSWORD}))
        fresh = ok(anonymous.post("/api/v1/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]}))
    with platform.client(fresh["access_token"]) as p:
        ok(p.get("/api/v1/portal/tickets"))
        problem(p.get("/api/v1/me"), 403)
    with platform.client(desk["agent"]["token"]) as c:
        revoked = ok(c.post(f"{me['base']}/portal-revoke"))
        assert revoked["status"] == "revoked"
    with platform.client(fresh["access_token"]) as p:
        problem(p.get("/api/v1/portal/tickets"), 401)
    with httpx.Client(base_url=platform.base_url) as anonymous:
        problem(anonymous.post("/api/v1/auth/token", data={
            "username": me["contact"]["email"], "password": PASSWORD}), 401)


def test_invitations_are_checked(platform: Platform, desk: dict[str, Any]) -> None:
    customer, contact = company(platform)
    other, _ = company(platform)
    with platform.client(desk["agent"]["token"]) as c:
        # the contact is not the other customer's
        problem(c.post(f"/api/v1/customers/{other['id']}/contacts/{contact['id']}"
                       "/portal-invite", json={}), 404)
        # a name already signing in (a user's) cannot be a contact's too
        problem(c.post(f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}"
                       "/portal-invite", json={"username": desk["agent"]["username"]}), 409,
                "username_taken")
    with platform.client(desk["technician"]["token"]) as c:
        problem(c.post(f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}"
                       "/portal-invite", json={}), 403)
    # a contact the customer service deletes reaches nothing any more
    me = _portal_contact(platform, desk)
    with platform.admin() as admin:
        ok(admin.delete(f"/api/v1/customers/{me['customer']['id']}/contacts/"
                        f"{me['contact']['id']}"))

    def removed() -> bool:
        with platform.client(me["token"]) as p:
            return p.get("/api/v1/portal/tickets").status_code == 403
    wait_until(removed, 20, "the service desk's copy of the deleted contact")
