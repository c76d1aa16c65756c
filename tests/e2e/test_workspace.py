"""Each employee's workspace (CUS-18) through the gateway, on the real platform: the
agenda gathers the caller's own items from several services, by due time, and nothing
of a peer's; a bad window is one problem code; a service that is down leaves its section
marked and the rest shown. The directory finds colleagues, teams, and the contacts of
customers the reader may see."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _ok, _product, _sales_knows_team
from tests.e2e.service_desk_support import desk_knows, problem
from tests.e2e.test_customers import _staff_known
from tests.support.infra import wait_until
from tests.support.platform import Platform

TODAY = datetime.now(UTC).date()


def _team(platform: Platform, label: str) -> dict[str, Any]:
    """A sales team whose manager also works as a technician, with one rep."""
    with platform.admin() as admin:
        team = _ok(admin.post("/api/v1/teams", json={
            "name": f"{label}-{uuid.uuid4().hex[:4]}"}), 201)
    manager = platform.new_user(["sales_manager", "technician"], team_id=team["id"],
                                display_name=f"{label}经理{uuid.uuid4().hex[:3]}")
    with platform.admin() as admin:
        _ok(admin.patch(f"/api/v1/teams/{team['id']}", json={"manager_id": manager["id"]}))
    rep = platform.new_user(["sales_rep"], team_id=team["id"],
                            display_name=f"{label}代表{uuid.uuid4().hex[:3]}")
    for user in (manager, rep):
        _staff_known(platform, user["token"], user["id"])
    desk_knows(platform, manager)
    _sales_knows_team(platform, manager, rep)
    return {"team": team, "manager": manager, "rep": rep}


def _items_for(platform: Platform, team: dict[str, Any]) -> dict[str, str]:
    """For the team's manager: a follow-up due tomorrow, a work order dispatched to them
    for the day after at ten, a quote and an expense of their rep waiting on their
    approval. Returns each item's id by kind."""
    manager, rep = team["manager"], team["rep"]
    with platform.client(manager["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"议程客户{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        followup = _ok(c.post(f"/api/v1/customers/{customer['id']}/follow-ups", json={
            "method": "phone", "content": "确认续约意向",
            "next_followup_on": (TODAY + timedelta(days=1)).isoformat()}), 201)
    scheduled = datetime.combine(TODAY + timedelta(days=2), time(10), UTC)
    with platform.admin() as admin:
        ticket = _ok(admin.post("/api/v1/tickets", json={
            "customer_id": customer["id"], "category": "fault", "channel": "phone",
            "subject": "打印机卡纸", "description": "客户来电"}), 201)
        work_order = _ok(admin.post(f"/api/v1/tickets/{ticket['id']}/work-orders", json={
            "technician_id": manager["id"], "scheduled_at": scheduled.isoformat(),
            "address": "上海市浦东新区世纪大道 1 号"}), 201)
        assert work_order["status"] == "dispatched"
    with platform.client(rep["token"]) as c:
        own = _ok(c.post("/api/v1/customers", json={
            "name": f"报价客户{uuid.uuid4().hex[:6]}", "kind": "company"}), 201)
        quote = _ok(c.post("/api/v1/quotes", json={
            "customer_id": own["id"], "currency": "CNY",
            "lines": [{"product_id": _product(platform)["id"], "quantity": "1",
                       "discount_percent": "30"}]}), 201)
        submitted = _ok(c.post(f"/api/v1/quotes/{quote['id']}/submit"))
        assert submitted["approver_id"] == manager["id"]
        expense = _ok(c.post("/api/v1/expenses", json={
            "kind": "personal", "category": "travel", "amount": "320.00",
            "description": "拜访客户差旅", "incurred_on": TODAY.isoformat()}), 201)
        _ok(c.post(f"/api/v1/expenses/{expense['id']}/submit"))
    return {"followup": followup["id"], "work_order": work_order["id"],
            "quote_approval": quote["id"], "expense_approval": expense["id"],
            "invoice_due": _invoice(platform, customer["id"], TODAY + timedelta(days=3))}


def _invoice(platform: Platform, customer_id: str, due: date) -> str:
    """An invoice the admin issues to the customer, falling due on ``due``."""
    body = {"customer_id": customer_id, "type": "vat_ordinary", "currency": "CNY",
            "issue_date": min(due, TODAY).isoformat(), "due_date": due.isoformat(),
            "lines": [{"description": "年度服务费", "unit_price": "880.00"}]}

    def issued() -> str | None:  # once billing has the customer (customer.created)
        with platform.admin() as admin:
            r = admin.post("/api/v1/invoices", json=body)
        return str(r.json()["id"]) if r.status_code == 201 else None
    return str(wait_until(issued, 30, "an invoice once billing knows the customer"))


def _rep_reminders(platform: Platform, team: dict[str, Any]) -> dict[str, str]:
    """The rep's follow-up reminders: one two days late, one due tomorrow (of two
    customers: a customer's next follow-up answers its earlier reminder)."""
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with platform.client(team["rep"]["token"]) as c:
        first, second = (_ok(c.post("/api/v1/customers", json={
            "name": f"跟进客户{uuid.uuid4().hex[:6]}", "kind": "person"}), 201)
            for _ in range(2))
        late = _ok(c.post(f"/api/v1/customers/{first['id']}/follow-ups", json={
            "method": "phone", "content": "约了回电", "occurred_at": three_days_ago.isoformat(),
            "next_followup_on": (TODAY - timedelta(days=2)).isoformat()}), 201)
        soon = _ok(c.post(f"/api/v1/customers/{second['id']}/follow-ups", json={
            "method": "wechat", "content": "发了资料",
            "next_followup_on": (TODAY + timedelta(days=1)).isoformat()}), 201)
    return {"late": late["id"], "soon": soon["id"],
            "late_invoice": _invoice(platform, first["id"], TODAY - timedelta(days=1))}


def _borrowing(platform: Platform, owner: dict[str, Any], borrower: dict[str, Any]) -> str:
    """A confidential document of the owner's that the borrower asks to read (借阅):
    waiting on the owner's decision."""
    with platform.client(owner["token"]) as c:
        doc = _ok(c.post("/api/v1/documents", json={
            "title": f"投标方案{uuid.uuid4().hex[:4]}", "category": "tender",
            "level": "confidential"}), 201)
    with platform.client(borrower["token"]) as c:
        return str(_ok(c.post(f"/api/v1/documents/{doc['id']}/access-requests",
                              json={"reason": "参考投标", "days": 2}), 201)["id"])


@pytest.fixture(scope="module")
def teams(platform: Platform) -> dict[str, Any]:
    mine, peer = _team(platform, "华东"), _team(platform, "华南")
    mine_items, peer_items = _items_for(platform, mine), _items_for(platform, peer)
    # each manager's document borrowed by the other team's rep
    mine_items["access_request"] = _borrowing(platform, mine["manager"], peer["rep"])
    peer_items["access_request"] = _borrowing(platform, peer["manager"], mine["rep"])
    return {"mine": mine, "peer": peer, "mine_items": mine_items,
            "peer_items": peer_items,
            "rep_reminders": _rep_reminders(platform, mine),
            "peer_rep_reminders": _rep_reminders(platform, peer)}


def _agenda(c: httpx.Client, **params: str) -> dict[str, Any]:
    return _ok(c.get("/api/v1/me/agenda", params=params))


def _week(c: httpx.Client) -> dict[str, Any]:
    return _agenda(c, to=(TODAY + timedelta(days=6)).isoformat())


def _by_id(agenda: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in agenda["items"]}


def test_the_agenda_gathers_ones_own_items_from_the_services_by_due_time(
        platform: Platform, teams: dict[str, Any]) -> None:
    mine, theirs = teams["mine_items"], teams["peer_items"]
    with platform.client(teams["mine"]["manager"]["token"]) as c:
        # the expense reaches billing's staff copy of the team by events
        wait_until(lambda: mine["expense_approval"] in _by_id(_week(c)), 30,
                   "the expense waiting on the manager")
        agenda = _week(c)
    items = _by_id(agenda)
    assert agenda["complete"] is True, agenda["sections"]
    assert set(mine.values()) <= set(items), (mine, agenda)
    assert {kind: items[item_id]["kind"] for kind, item_id in mine.items()} == {
        kind: kind for kind in mine}
    assert {s: agenda["sections"][s]["status"] for s in agenda["sections"]} == {
        "customer": "ok", "service_desk": "ok", "sales": "ok", "billing": "ok", "docs": "ok"}

    followup, work_order = items[mine["followup"]], items[mine["work_order"]]
    assert followup["section"] == "customer" and followup["all_day"] is True
    assert followup["due_at"].startswith((TODAY + timedelta(days=1)).isoformat())
    assert followup["state"] == "due"
    assert work_order["link"] == f"/api/v1/work-orders/{mine['work_order']}"
    assert work_order["state"] == "due" and work_order["detail"]["status"] == "dispatched"
    assert datetime.fromisoformat(work_order["due_at"]) == datetime.combine(
        TODAY + timedelta(days=2), time(10), UTC)
    quote = items[mine["quote_approval"]]
    assert quote["state"] == "waiting" and quote["section"] == "sales"
    assert quote["link"] == f"/api/v1/quotes/{mine['quote_approval']}"
    assert items[mine["expense_approval"]]["detail"]["amount"] == "320.00"
    borrowing = items[mine["access_request"]]
    assert borrowing["section"] == "docs" and borrowing["state"] == "waiting"
    assert borrowing["detail"]["requester_id"] == teams["peer"]["rep"]["id"]

    # one list by due time: the approvals waiting since today, tomorrow's follow-up, the
    # work order the day after
    dues = [datetime.fromisoformat(item["due_at"]) for item in agenda["items"]]
    assert dues == sorted(dues)
    order = [item["id"] for item in agenda["items"]]
    assert order.index(mine["quote_approval"]) < order.index(mine["followup"]) \
        < order.index(mine["work_order"])

    # nothing of a peer's, and the peer sees their own and nothing of ours
    assert not set(theirs.values()) & set(items)
    with platform.client(teams["peer"]["manager"]["token"]) as c:
        wait_until(lambda: theirs["expense_approval"] in _by_id(_week(c)), 30,
                   "the peer's expense")
        peer_items = _by_id(_week(c))
    assert set(theirs.values()) <= set(peer_items)
    assert not set(mine.values()) & set(peer_items)
    # the rep who asked for the approvals has none of them on their agenda
    with platform.client(teams["mine"]["rep"]["token"]) as c:
        assert not set(mine.values()) & set(_by_id(_week(c)))


def test_a_managers_agenda_has_the_late_items_of_their_team_only(
        platform: Platform, teams: dict[str, Any]) -> None:
    rep, reminders = teams["mine"]["rep"], teams["rep_reminders"]
    with platform.client(teams["mine"]["manager"]["token"]) as c:
        shown = _by_id(_week(c))
    late = shown[reminders["late"]]
    assert late["assignee_id"] == rep["id"] and late["assignee_name"] == rep["display_name"]
    assert late["state"] == "overdue" and late["kind"] == "followup"
    assert reminders["soon"] not in shown  # the rep's own business until it is late
    invoice = shown[reminders["late_invoice"]]
    assert invoice["kind"] == "invoice_due" and invoice["assignee_id"] == rep["id"]
    assert invoice["state"] == "overdue" and invoice["detail"]["outstanding"] == "880.00"
    assert teams["peer_rep_reminders"]["late"] not in shown  # another team's
    assert all(item["assignee_id"] is None for item in shown.values()
               if item["id"] not in (reminders["late"], reminders["late_invoice"]))
    with platform.client(rep["token"]) as c:  # on the rep's own agenda, as their own
        own = _by_id(_week(c))
    assert own[reminders["late"]]["assignee_id"] is None
    assert reminders["soon"] in own
    with platform.client(teams["peer"]["manager"]["token"]) as c:
        assert reminders["late"] not in _by_id(_week(c))


def test_a_section_the_reader_has_no_permission_for_is_not_asked(
        platform: Platform) -> None:
    technician = platform.new_user(["technician"], display_name="卫师傅")
    with platform.client(technician["token"]) as c:
        agenda = _week(c)
    statuses = {name: s["status"] for name, s in agenda["sections"].items()}
    assert statuses == {"customer": "forbidden", "service_desk": "ok", "sales": "forbidden",
                        "billing": "forbidden", "docs": "ok"}
    assert "followup:read" in agenda["sections"]["customer"]["reason"]
    assert agenda["complete"] is True  # the reader's roles, not an outage


def test_the_window_decides_what_is_shown(platform: Platform, teams: dict[str, Any]
                                          ) -> None:
    mine = teams["mine_items"]
    with platform.client(teams["mine"]["manager"]["token"]) as c:
        today = _by_id(_agenda(c))  # the default: today
        later = _agenda(c, **{"from": (TODAY + timedelta(days=2)).isoformat(),
                              "to": (TODAY + timedelta(days=2)).isoformat()})
        later_only = _by_id(_agenda(c, **{
            "from": (TODAY + timedelta(days=2)).isoformat(),
            "to": (TODAY + timedelta(days=2)).isoformat(), "include_overdue": "false"}))
    assert mine["followup"] not in today and mine["work_order"] not in today
    assert mine["quote_approval"] in today  # waiting since today
    assert later["window"]["from"].startswith((TODAY + timedelta(days=2)).isoformat())
    assert later["window"]["to"].startswith((TODAY + timedelta(days=3)).isoformat())
    assert mine["work_order"] in _by_id(later)
    # tomorrow's follow-up is not late yet: it is not in a later day's window
    assert mine["followup"] not in _by_id(later)
    assert mine["quote_approval"] in _by_id(later)  # still waiting
    assert mine["work_order"] in later_only and mine["followup"] not in later_only
    assert mine["quote_approval"] not in later_only


@pytest.mark.parametrize("params", [
    {"from": "2026-12-08", "to": "2026-12-01"},
    {"from": "2026-01-01", "to": "2026-12-31"},
    {"from": "next tuesday"},
    {"to": "2026-02-30"},
    {"from": "2026-12-05T09:00:00"},
])
def test_a_bad_window_is_invalid_agenda_window(platform: Platform, teams: dict[str, Any],
                                               params: dict[str, str]) -> None:
    with platform.client(teams["mine"]["rep"]["token"]) as c:
        problem(c.get("/api/v1/me/agenda", params=params), 422, "invalid_agenda_window")


def test_a_service_down_marks_its_section_and_the_rest_still_shows(
        platform: Platform, teams: dict[str, Any]) -> None:
    mine = teams["mine_items"]
    platform.procs["docs"].stop()
    try:
        with platform.client(teams["mine"]["manager"]["token"]) as c:
            agenda = _week(c)
    finally:
        platform.procs["docs"].start()
        platform.wait_service_ready("docs")
    assert agenda["complete"] is False
    assert agenda["sections"]["docs"]["status"] == "unavailable"
    assert agenda["sections"]["docs"]["reason"]
    shown = _by_id(agenda)
    assert mine["access_request"] not in shown  # the documents' items only are missing
    assert {v for k, v in mine.items() if k != "access_request"} <= set(shown)


def test_the_directory_finds_colleagues_teams_and_contacts_in_scope(
        platform: Platform, teams: dict[str, Any]) -> None:
    rep, peer_rep = teams["mine"]["rep"], teams["peer"]["rep"]
    colleague = platform.new_user(["sales_rep"], team_id=teams["mine"]["team"]["id"],
                                  display_name="诸葛青云", phone="+8613912345678")
    contact_name = f"欧阳{uuid.uuid4().hex[:2]}明月"
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"目录客户{uuid.uuid4().hex[:6]}", "kind": "company"}), 201)
        contact = _ok(c.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": contact_name, "phones": ["138 0013 9999"]}), 201)

        found = _ok(c.get("/api/v1/directory", params={"q": "诸葛青"}))
        assert colleague["id"] in {p["id"] for p in found["colleagues"]}
        person = next(p for p in found["colleagues"] if p["id"] == colleague["id"])
        assert person["team_name"] == teams["mine"]["team"]["name"]
        assert person["phone"] == "+8613912345678"
        # pinyin initials and full pinyin, as customer search
        assert colleague["id"] in {p["id"] for p in _ok(c.get(
            "/api/v1/directory", params={"q": "zgqy"}))["colleagues"]}
        assert colleague["id"] in {p["id"] for p in _ok(c.get(
            "/api/v1/directory", params={"q": "zhugeqingyun"}))["colleagues"]}
        team = _ok(c.get("/api/v1/directory",
                         params={"q": teams["mine"]["team"]["name"]}))["teams"]
        assert [t["manager_id"] for t in team] == [teams["mine"]["manager"]["id"]]

        mine = _ok(c.get("/api/v1/directory", params={"q": contact_name}))
        assert mine["contacts_section"]["status"] == "ok"
        assert [(x["id"], x["customer_name"]) for x in mine["contacts"]] == [
            (contact["id"], customer["name"])]
        assert mine["contacts"][0]["link"].endswith(f"/contacts/{contact['id']}")
    # a rep of another team sees the colleague, not the other rep's customer's contact
    with platform.client(peer_rep["token"]) as c:
        theirs = _ok(c.get("/api/v1/directory", params={"q": contact_name}))
        assert theirs["contacts"] == [] and theirs["contacts_section"]["status"] == "ok"
        assert colleague["id"] in {p["id"] for p in _ok(c.get(
            "/api/v1/directory", params={"q": "诸葛青云"}))["colleagues"]}
        problem(c.get("/api/v1/directory", params={"q": ""}), 422)


def test_the_due_date_of_a_followup_counts_in_the_readers_window(
        platform: Platform, teams: dict[str, Any]) -> None:
    """A window given with an offset is the reader's day: tomorrow's follow-up (due from
    tomorrow's start in UTC) is in a window to tomorrow at 23:00 Beijing time."""
    mine = teams["mine_items"]
    tomorrow: date = TODAY + timedelta(days=1)
    with platform.client(teams["mine"]["manager"]["token"]) as c:
        shown = _by_id(_agenda(c, **{"from": f"{TODAY.isoformat()}T00:00:00+08:00",
                                     "to": f"{tomorrow.isoformat()}T23:00:00+08:00"}))
    assert mine["followup"] in shown
