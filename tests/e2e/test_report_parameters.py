"""Every report honours every parameter it documents (#28 defect 4): generated from the
gateway's OpenAPI. A report is a GET with query parameters whose answer is not a page
(analytics, ageing, statements, period figures, campaign costs, the customer export).
For each documented parameter the table below gives a value that must change the
report on this module's data, and/or a bad value that must be refused with a 422
problem. A report, or a parameter, missing from the table fails the test, so one added
later cannot be left out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
import pytest

from tests.e2e.sales_support import _ok, _product
from tests.e2e.service_desk_support import desk_knows
from tests.e2e.test_paging import page_operations
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import expect_problem

TODAY = date.today()


def _tag() -> str:
    return uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class Param:
    """``change``: a value that must change the report from its baseline; ``bad``: a
    value that must be a 422. At least one of them."""

    change: Any = None
    bad: Any = None


class Data:
    """A team (manager, a rep, and a rep in a sub-team) and a rep outside it, with
    customers of each kind, open and closed opportunities in two currencies, orders
    confirmed and invoiced, and two campaigns, one with an expense."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        platform.admin().close()
        self.admin_token = platform.tokens["admin"]

    def client(self, who: str) -> httpx.Client:
        token = self.admin_token if who == "admin" else getattr(self, who)["token"]
        return self.platform.client(token)

    def _team(self, **extra: Any) -> str:
        with self.client("admin") as admin:
            return str(_ok(admin.post("/api/v1/teams", json={
                "name": f"报表组{_tag()}", **extra}), 201)["id"])

    @cached_property
    def team(self) -> str:
        return self._team()

    @cached_property
    def sub_team(self) -> str:
        return self._team(parent_id=self.team)

    @cached_property
    def manager(self) -> dict[str, Any]:
        self.sub_team  # noqa: B018 - in the manager's scope (team and sub-teams)
        manager = self.platform.new_user(["sales_manager"], team_id=self.team)
        with self.client("admin") as admin:
            _ok(admin.patch(f"/api/v1/teams/{self.team}", json={"manager_id": manager["id"]}))
        return manager

    @cached_property
    def workspace_user(self) -> dict[str, Any]:
        """A rep who also repairs (CUS-18's agenda): a work order dispatched to them for
        yesterday (late) and a follow-up reminder in three days."""
        user = self.platform.new_user(["sales_rep", "technician"])
        desk_knows(self.platform, user)
        with self.platform.client(user["token"]) as c:
            customer = _ok(c.post("/api/v1/customers", json={
                "name": f"议程报表{_tag()}", "kind": "company"}), 201)
            _ok(c.post(f"/api/v1/customers/{customer['id']}/follow-ups", json={
                "method": "visit", "content": "面谈",
                "next_followup_on": (TODAY + timedelta(days=3)).isoformat()}), 201)
        with self.client("admin") as admin:
            ticket = _ok(admin.post("/api/v1/tickets", json={
                "customer_id": customer["id"], "category": "fault", "channel": "phone",
                "subject": "设备报修", "description": "客户来电"}), 201)
            _ok(admin.post(f"/api/v1/tickets/{ticket['id']}/work-orders", json={
                "technician_id": user["id"],
                "scheduled_at": f"{(TODAY - timedelta(days=1)).isoformat()}T10:00:00Z"}),
                201)
        return user

    @cached_property
    def rep(self) -> dict[str, Any]:
        return self.platform.new_user(["sales_rep"], team_id=self.team)

    @cached_property
    def sub_rep(self) -> dict[str, Any]:
        return self.platform.new_user(["sales_rep"], team_id=self.sub_team)

    @cached_property
    def outsider(self) -> dict[str, Any]:
        return self.platform.new_user(["sales_rep"])

    @cached_property
    def finance(self) -> dict[str, Any]:
        return self.platform.new_user(["finance"])

    def _customer(self, who: str, name: str, kind: str = "company", **fields: Any) -> str:
        with self.client(who) as c:
            return str(_ok(c.post("/api/v1/customers", json={
                "name": f"{name}{_tag()}", "kind": kind, **fields}), 201)["id"])

    @cached_property
    def category(self) -> str:
        with self.client("admin") as admin:
            return str(_ok(admin.post("/api/v1/customer-categories", json={
                "dimension": "industry", "name": f"报表类别{_tag()}"}), 201)["id"])

    @cached_property
    def customers(self) -> dict[str, str]:
        """The team's customers, made in an order their names do not sort in."""
        made = {
            "zhe": self._customer("rep", "浙江甲", region={"province": "浙江", "city": "杭州"},
                                  industry="制造业", tags=["报表标签"],
                                  category_ids=[self.category]),
            "person": self._customer("rep", "个人乙", kind="person"),
            "sub": self._customer("sub_rep", "阿子团队丙"),
            "archived": self._customer("rep", "已归档丁"),
            "pooled": self._customer("rep", "公海戊"),
        }
        with self.client("rep") as c:
            archived = _ok(c.get(f"/api/v1/customers/{made['archived']}"))
            _ok(c.delete(f"/api/v1/customers/{made['archived']}",
                         headers={"If-Match": f'"{archived["version"]}"'}))
            _ok(c.post(f"/api/v1/customers/{made['pooled']}/release"))
        return made

    @cached_property
    def stored_value_accounts(self) -> list[str]:
        """Stored-value accounts of two customers with different balances."""
        accounts = []
        with self.client("finance") as f:
            for key, amount in (("zhe", "100.00"), ("person", "250.00")):
                account = _ok(f.post("/api/v1/stored-value-accounts", json={
                    "customer_id": self.customers[key], "currency": "CNY"}), 201)
                _ok(f.post(f"/api/v1/stored-value-accounts/{account['id']}/top-ups", json={
                    "amount": amount, "currency": "CNY", "method": "cash"}), 201)
                accounts.append(account["id"])
        return accounts

    @cached_property
    def segment(self) -> str:
        with self.client("manager") as c:
            return str(_ok(c.post("/api/v1/segments", json={
                "name": f"报表分群{_tag()}",
                "conditions": [{"field": "kind", "op": "eq", "value": "person"}]}), 201)["id"])

    @cached_property
    def opportunities(self) -> None:
        """Open ones (dated in 2031-05 or undated, CNY and USD) and closed ones (won,
        lost), for the team's rep and the outsider."""
        outsider_customer = self._customer("outsider", "外部客户")
        for who, customer in (("rep", self.customers["zhe"]), ("outsider", outsider_customer)):
            with self.client(who) as c:
                def opp(currency: str = "CNY", close: str | None = None,
                        c: httpx.Client = c, customer: str = customer) -> str:
                    return str(_ok(c.post("/api/v1/opportunities", json={
                        "name": f"报表商机{_tag()}", "customer_id": customer,
                        "amount": "1000.00" if currency == "CNY" else "700.00",
                        "currency": currency,
                        "expected_close_date": close}), 201)["id"])
                opp(close="2031-05-10" if who == "rep" else None)
                opp(currency="USD", close="2031-05-10")
                _ok(c.post(f"/api/v1/opportunities/{opp()}/win"))
                _ok(c.post(f"/api/v1/opportunities/{opp(currency='USD')}/win"))
                _ok(c.post(f"/api/v1/opportunities/{opp()}/lose", json={"reason": "预算"}))

    @cached_property
    def invoiced(self) -> list[str]:
        """Two of the rep's customers with a confirmed order each, invoiced at once."""
        product = _product(self.platform, "300.00")
        customers = [self.customers["zhe"], self._customer("rep", "对账乙")]
        with self.client("rep") as c:
            for customer in customers:
                order = _ok(c.post("/api/v1/orders", json={
                    "customer_id": customer, "currency": "CNY",
                    "lines": [{"product_id": product["id"], "quantity": "1"}],
                    "payment_terms": {"installments": [{"percent": "100", "due_days": 0}]}}),
                    201)
                _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))

        def billed() -> bool:
            with self.client("rep") as c:
                return all(c.get("/api/v1/invoices", params={"customer_id": customer})
                           .json()["items"] for customer in customers)
        wait_until(billed, 30, "invoices from order.confirmed")
        return customers

    @cached_property
    def campaigns(self) -> list[str]:
        with self.client("admin") as admin:
            ids = [str(_ok(admin.post("/api/v1/campaigns", json={
                "name": f"报表活动{_tag()}", "kind": "event", "budget": "1000.00"}), 201)["id"])
                for _ in range(2)]
        with self.client("rep") as c:
            expense = _ok(c.post("/api/v1/expenses", json={
                "kind": "company", "category": "venue", "amount": "120.00",
                "description": "场地", "incurred_on": TODAY.isoformat(),
                "campaign_id": ids[0]}), 201)
            _ok(c.post(f"/api/v1/expenses/{expense['id']}/submit"))
        return ids


    @cached_property
    def service(self) -> str:
        """Two tickets of a customer (one resolved and rated) and two public knowledge
        articles sharing a word; returns the word."""
        customer = self._customer("rep", "售后报表")
        word = f"报表知识{_tag()}"
        with self.client("admin") as admin:
            tickets = [_ok(admin.post("/api/v1/tickets", json={
                "customer_id": customer, "category": category, "channel": "phone",
                "subject": f"报表工单{_tag()}"}), 201)["id"]
                for category in ("fault", "complaint")]
            _ok(admin.post(f"/api/v1/tickets/{tickets[0]}/resolve",
                           json={"resolution": "已修复"}))
            _ok(admin.post(f"/api/v1/tickets/{tickets[0]}/rating", json={"rating": 5}))
            for n in range(2):
                article = _ok(admin.post("/api/v1/kb/articles", json={
                    "title": f"{word}{n}", "body": f"{word}：报表用的文章", "category": "报表",
                    "visibility": "public"}), 201)
                _ok(admin.post(f"/api/v1/kb/articles/{article['id']}/versions/1/publish"))
        return word

    @cached_property
    def portal(self) -> dict[str, Any]:
        """A contact of a customer signed in to the portal."""
        customer = self._customer("rep", "门户报表")
        email = f"report.{_tag()}@example.com"
        with self.client("admin") as admin:
            contact = _ok(admin.post(f"/api/v1/customers/{customer}/contacts", json={
                "name": "报表联系人", "emails": [email]}), 201)
            invitation = _ok(admin.post(f"/api/v1/customers/{customer}/contacts/"
                                        f"{contact['id']}/portal-invite", json={}), 201)
            _ok(admin.post("/api/v1/portal/accept", json={
                "invite_token": invitation["invite_token"], "password": "report-pass-123"}))
        return {"token": self.platform.login(email, "report-pass-123")}


@dataclass(frozen=True)
class Report:
    who: str  # whose token reads it
    params: dict[str, Any]  # the baseline
    table: dict[str, Param]


def _analytics(d: Data, *, grouped: bool = False) -> Report:
    d.opportunities  # noqa: B018 - made first
    table = {
        "currency": Param(change="USD", bad="usd"),
        "owner_id": Param(change=d.rep["id"]),
        "team_id": Param(change=d.team),
        "period": Param(change="2031-05" if not grouped else "2030", bad="bogus"),
    }
    if grouped:
        table["group_by"] = Param(change="rep", bad="bogus")
    return Report("admin", {}, table)


def _ageing(d: Data) -> Report:
    d.invoiced  # noqa: B018
    return Report("finance", {}, {
        "as_of": Param(change="2020-01-01", bad="bogus"),
        "group_by": Param(change="rep", bad="bogus"),
        "currency": Param(change="USD", bad="usd"),
        "customer_id": Param(change=d.invoiced[0]),
    })


def _statement(d: Data) -> Report:
    first, second = d.invoiced
    return Report("rep", {"customer_id": first, "from": (TODAY - timedelta(days=30)).isoformat(),
                          "to": (TODAY + timedelta(days=1)).isoformat()}, {
        "customer_id": Param(change=second),
        "from": Param(change=(TODAY + timedelta(days=1)).isoformat(), bad="bogus"),
        "to": Param(change=(TODAY - timedelta(days=1)).isoformat(), bad="bogus"),
        "currency": Param(change="USD", bad="usd"),
    })


def _stored_value_statement(d: Data) -> Report:
    accounts = d.stored_value_accounts
    return Report("finance", {"account_id": accounts[0],
                              "from": (TODAY - timedelta(days=30)).isoformat(),
                              "to": (TODAY + timedelta(days=1)).isoformat()}, {
        "account_id": Param(change=accounts[1]),
        "from": Param(change=(TODAY + timedelta(days=1)).isoformat(), bad="bogus"),
        "to": Param(change=(TODAY - timedelta(days=1)).isoformat(), bad="bogus"),
    })


def _stored_value_balances(d: Data) -> Report:
    d.stored_value_accounts  # noqa: B018 - made first
    return Report("finance", {"customer_id": d.customers["zhe"]}, {
        "customer_id": Param(change=d.customers["person"], bad=""),
    })


def _period_report(d: Data) -> Report:
    d.invoiced  # noqa: B018
    return Report("finance", {"from": (TODAY - timedelta(days=1)).isoformat(),
                              "to": (TODAY + timedelta(days=1)).isoformat()}, {
        # today's orders and invoices fall out of the period either way
        "from": Param(change=(TODAY + timedelta(days=1)).isoformat(), bad="bogus"),
        "to": Param(change=(TODAY - timedelta(days=1)).isoformat(), bad="bogus"),
        "group_by": Param(change="customer", bad="bogus"),
        "currency": Param(change="USD", bad="usd"),
    })


def _campaign_costs(d: Data) -> Report:
    first, second = d.campaigns
    return Report("finance", {"campaign_id": first}, {"campaign_id": Param(change=second)})


def _export(d: Data) -> Report:
    d.customers  # noqa: B018
    return Report("manager", {}, {
        "q": Param(change="浙江甲"),
        "owner_id": Param(change=d.sub_rep["id"]),
        "team_id": Param(change=d.sub_team),
        "category_id": Param(change=d.category),
        "kind": Param(change="person", bad="bogus"),
        "province": Param(change="浙江"),
        "city": Param(change="杭州"),
        "industry": Param(change="制造业"),
        "tier": Param(bad="Z"),  # computed nightly from payments: none here yet
        "lifecycle": Param(bad="bogus"),
        "stage": Param(bad="bogus"),
        "tag": Param(change="报表标签"),
        "segment_id": Param(change=d.segment),
        "in_pool": Param(change="true", bad="maybe"),
        "include_archived": Param(change="true", bad="maybe"),
        "sort": Param(change="name", bad="bogus"),
    })


def _service_report(d: Data, regrouped: str) -> Report:
    """The service desk's reports count days in Asia/Shanghai: a wide baseline."""
    d.service  # noqa: B018
    start, end = TODAY - timedelta(days=2), TODAY + timedelta(days=3)
    return Report("admin", {"from": start.isoformat(), "to": end.isoformat()}, {
        "from": Param(change=(end - timedelta(days=1)).isoformat(), bad="bogus"),
        "to": Param(change=(start + timedelta(days=1)).isoformat(), bad="bogus"),
        "group_by": Param(change=regrouped, bad="bogus"),
    })


def _kb_search(d: Data, who: str) -> Report:
    return Report(who, {"q": d.service}, {
        "q": Param(change="完全无关的词", bad=""),
        "limit": Param(change=1, bad=0),
    })


def _document_count(d: Data) -> Report:
    """How many documents the rep sees: each filter narrows the count of what exists."""
    tag = f"报表{_tag()}"
    with d.client("rep") as c:
        for category, level in (("contract", "confidential"), ("work_summary", "internal")):
            _ok(c.post("/api/v1/documents", json={
                "title": f"报表文档{tag}", "category": category, "level": level,
                "tags": [tag]}), 201)
        _ok(c.post("/api/v1/documents", json={"title": "其他", "category": "tender"}), 201)
    nobody = str(uuid.uuid4())
    return Report("rep", {}, {
        "q": Param(change=f"报表文档{tag}", bad="x" * 201),
        "category": Param(change="contract", bad="Not A Code"),
        "level": Param(change="confidential", bad="bogus"),
        "owner_id": Param(change=nobody, bad="x" * 37),
        "tag": Param(change=tag, bad="a|b"),
        "customer_id": Param(change=nobody, bad="x" * 37),
        "order_id": Param(change=nobody, bad="x" * 37),
        "product_id": Param(change=nobody, bad="x" * 37),
        "campaign_id": Param(change=nobody, bad="x" * 37),
        "work_order_id": Param(change=nobody, bad="x" * 37),
    })


def _agenda(d: Data) -> Report:
    """The agenda (CUS-18): today has the late work order; a window with the follow-up's
    day has the follow-up too; without overdue items the work order goes."""
    d.workspace_user  # noqa: B018
    later = (TODAY + timedelta(days=3)).isoformat()
    return Report("workspace_user", {}, {
        "from": Param(change=later, bad="bogus"),
        "to": Param(change=later, bad="bogus"),
        "include_overdue": Param(change="false", bad="maybe"),
    })


def _directory(d: Data) -> Report:
    """Two colleagues named alike: a term finds both, ``limit`` one."""
    tag = _tag()
    for suffix in ("甲", "乙"):
        d.platform.new_user(["viewer"], display_name=f"目录{tag}{suffix}")
    return Report("rep", {"q": f"目录{tag}"}, {
        "q": Param(change=f"目录{tag}甲", bad=""),
        "limit": Param(change=1, bad=0),
    })


def _calls_report(d: Data) -> Report:
    """The admin's calls today (Asia/Shanghai days): a wide baseline."""
    with d.client("admin") as admin:
        _ok(admin.post("/api/v1/calls", json={
            "direction": "outbound", "from_number": "4008001234", "to_number": "13900001111",
            "started_at": datetime.now(UTC).isoformat()}), 201)
    start, end = TODAY - timedelta(days=2), TODAY + timedelta(days=3)
    return Report("admin", {"from": start.isoformat(), "to": end.isoformat()}, {
        "from": Param(change=(end - timedelta(days=1)).isoformat(), bad="bogus"),
        "to": Param(change=(start + timedelta(days=1)).isoformat(), bad="bogus"),
        "agent_id": Param(change=str(uuid.uuid4()), bad="x" * 37),
    })


def _caller_lookup(d: Data) -> Report:
    return Report("admin", {"phone": "13900001111"}, {
        "phone": Param(change="010-12345678", bad="not a number"),
    })


REPORTS = {
    "get_my_agenda": _agenda,
    "search_directory": _directory,
    "get_call_report": _calls_report,
    "lookup_caller": _caller_lookup,
    "get_satisfaction_report": lambda d: _service_report(d, "agent"),
    "get_sla_report": lambda d: _service_report(d, "team"),
    "search_kb": lambda d: _kb_search(d, "admin"),
    "portal_search_kb": lambda d: _kb_search(d, "portal"),
    "get_funnel": _analytics,
    "get_win_loss": lambda d: _analytics(d, grouped=True),
    "get_forecast": _analytics,
    "get_ageing": _ageing,
    "get_statement": _statement,
    "get_stored_value_statement": _stored_value_statement,
    "get_stored_value_balances": _stored_value_balances,
    "get_period_report": _period_report,
    "get_campaign_costs": _campaign_costs,
    "export_customers": _export,
    "count_documents": _document_count,
}


def report_operations(spec: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Operation id → (path, operation) of every GET with query parameters that does not
    answer with a page."""
    pages = page_operations(spec)
    found = {}
    for path, ops in spec["paths"].items():
        operation = ops.get("get")
        if operation is None or operation["operationId"] in pages:
            continue
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            found[operation["operationId"]] = (path, operation)
    return found


@pytest.fixture(scope="module")
def data(platform: Platform) -> Data:
    return Data(platform)


def test_every_report_is_in_the_table(openapi: dict[str, Any]) -> None:
    found = set(report_operations(openapi))
    assert found, "no report found in the OpenAPI"
    assert found - set(REPORTS) == set(), "reports without a parameter table"
    assert set(REPORTS) - found == set(), "table entries for operations that are no report"


def _read(c: httpx.Client, path: str, params: dict[str, Any]) -> Any:
    r = c.get(path, params=params)
    assert r.status_code == 200, f"{params}: {r.status_code} {r.text}"
    if r.headers["content-type"].startswith("text/csv"):
        return r.text
    body = r.json()
    # what merely echoes the parameters back is not the report
    return {k: v for k, v in body.items()
            if k not in ("currency", "from", "to", "as_of", "group_by", "customer_id",
                         "customer_name")}


@pytest.mark.parametrize("operation_id", sorted(REPORTS))
def test_each_documented_parameter_changes_the_report_or_is_refused(
        openapi: dict[str, Any], data: Data, operation_id: str) -> None:
    path, operation = report_operations(openapi)[operation_id]
    documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    report = REPORTS[operation_id](data)
    assert documented - set(report.table) == set(), "documented parameters not in the table"
    assert set(report.table) - documented == set(), "table parameters not documented"
    with data.client(report.who) as c:
        baseline = _read(c, path, report.params)
        for name, param in sorted(report.table.items()):
            assert param.change is not None or param.bad is not None, name
            if param.change is not None:
                changed = _read(c, path, {**report.params, name: param.change})
                assert changed != baseline, f"{name}={param.change!r} changed nothing"
            if param.bad is not None:
                r = c.get(path, params={**report.params, name: param.bad})
                problem = expect_problem(r, 422)
                assert name in str(problem), problem


def test_the_funnel_counts_only_the_period_asked_for(data: Data) -> None:
    """The user's case: the funnel honours ``period`` and refuses ``period=bogus``."""
    data.opportunities  # noqa: B018
    with data.client("rep") as c:
        may = _ok(c.get("/api/v1/analytics/funnel", params={"period": "2031-05"}))
        assert may["total_count"] == 1 and may["total_amount"] == "1000.00"
        assert _ok(c.get("/api/v1/analytics/funnel",
                         params={"period": "2031-06"}))["total_count"] == 0
        expect_problem(c.get("/api/v1/analytics/funnel", params={"period": "bogus"}), 422)
        expect_problem(c.get("/api/v1/analytics/funnel", params={"group_by": "rep"}), 422)
