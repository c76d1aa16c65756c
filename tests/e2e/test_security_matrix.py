"""S1 (authorization matrix), S7 (denied attempts, successful writes and exports
audited; the audit log not editable) and the class rule of #28 (every error is RFC 9457
problem+json with a ``code`` and the response's status).

Generated: every operation in the gateway's OpenAPI × every role of the permission
table (``crm_platform.permissions``). An operation's permission comes from the route
table, or from the ``require(...)`` dependency of a hand-written operation; an
operation whose permission cannot be found fails the test, so an endpoint added later
is covered or noticed. A role that lacks the permission gets 403 problem+json
(``permission_denied``) before its body is even validated; a role that holds it never
gets 403 nor a 5xx for the same call. Every denied call leaves an audit entry, and so
does every write that succeeded and every confidential read (exports, archives) that
answered: counted per user against the audit log, in the matrix and in a story of
successful writes across every service.

Scope: records of a rep in a sub-team are never returned to a rep or manager of a
sibling team, in any list, report, export or search (every parameterless GET), nor by
id (every GET whose path names a customer, contact, lead or opportunity).

``make security`` runs every role (``CRM_SECURITY_FULL=1``); ``make test`` a sample of
roles that between them hold and lack every permission's resource."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg2
import pytest
from crm_platform.permissions import ROLES, scope_for
from fastapi.routing import APIRoute

from gateway.routes import composite, identity, portal, service_routers, service_routes
from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import PROBLEM_JSON

pytestmark = pytest.mark.e2e

FULL = os.environ.get("CRM_SECURITY_FULL") == "1"
SHORT_ROLES = ("admin", "sales_rep", "viewer")
ROLES_UNDER_TEST = ROLES if FULL else SHORT_ROLES
ANY = "(any signed-in user)"
# hand-written operations that check their permission in the body, not in a dependency
CHECKED_INSIDE = {
    "get_me": ANY,
    "list_audit_log": "audit:read",
    "get_customer_360": "customer:read",
    "upload_version": "document:write",
    "download_version": "document:read",
    # the workspace (#27): each agenda section checks its own permissions; the directory
    # needs user:read (contacts, customer:read besides)
    "get_my_agenda": ANY,
    "search_directory": "user:read",
}
# the portal's operations are for customers' contacts: a staff user holding portal:* (an
# admin) still gets 403 there, with this code
PORTAL_ONLY = "portal_contact_only"
# hand-written operations that take no token (they are the way to get one)
SIGN_IN = {"login", "refresh_token", "accept_portal_invite"}
PATH_PARAM = re.compile(r"{(\w+)}")


def _required_permission(dependant: Any) -> str | None:
    """The permission of a ``gateway.deps.require(...)`` among the dependencies."""
    for dep in dependant.dependencies:
        call = dep.call
        if getattr(call, "__qualname__", "").startswith("require.") and call.__closure__:
            for cell in call.__closure__:
                if isinstance(cell.cell_contents, str):
                    return str(cell.cell_contents)
        found = _required_permission(dep)
        if found:
            return found
    return None


def operation_permissions() -> dict[str, str]:
    """operationId → the permission it needs (``ANY``: any signed-in user)."""
    found = {r.rpc: r.permission for r in service_routes() if not r.public}
    for router in (identity.router, portal.router, composite.router, *service_routers()):
        for route in router.routes:
            if isinstance(route, APIRoute) and route.operation_id not in found:
                permission = _required_permission(route.dependant)
                if permission:
                    found[route.operation_id] = permission
    return {**found, **CHECKED_INSIDE}


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    template: str  # the OpenAPI path, parameters unfilled
    json_body: bool
    multipart: bool
    streamed: bool
    confidential: bool = False  # OpenAPI ``x-confidential``: every call audited

    @property
    def acts_without_a_target(self) -> bool:
        """A write that names no record and carries no body to refuse: an allowed
        caller would really run it (a sweep, a recompute), so only denials are tried."""
        return (self.method != "GET" and "{" not in self.template
                and not (self.json_body or self.multipart or self.streamed))


def _fill(template: str, values: dict[str, str] | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if values and name in values:
            return values[name]
        return "1" if name in ("number", "version", "line_no") else uuid.uuid4().hex
    return PATH_PARAM.sub(value, template)


def secured_operations(spec: dict[str, Any]) -> list[tuple[Operation, str]]:
    """(operation, template) for every operation that needs a signed-in caller."""
    ops = []
    for full, entries in spec["paths"].items():
        for method, op in entries.items():
            template = full
            if (not isinstance(op, dict) or op.get("security") == []
                    or op.get("operationId") in SIGN_IN):
                continue
            content = (op.get("requestBody") or {}).get("content", {})
            template = template.removeprefix("/api/v1")
            ops.append((Operation(op["operationId"], method.upper(), template,
                                  "application/json" in content,
                                  "multipart/form-data" in content,
                                  "application/octet-stream" in content,
                                  bool(op.get("x-confidential"))), template))
    return ops


def call(c: httpx.Client, op: Operation, path: str) -> httpx.Response:
    """The operation with a body no schema accepts (a JSON array where an object is
    expected): a denied caller must be refused before it is read, an allowed one gets
    422 and nothing is written."""
    url = "/api/v1" + path
    if op.json_body:
        return c.request(op.method, url, content=b"[]",
                         headers={"Content-Type": "application/json"})
    if op.multipart:
        return c.request(op.method, url, files={"not_the_file": ("x.csv", b"a,b\n")})
    if op.streamed:
        return c.request(op.method, url, params={"filename": "x.txt"}, content=b"x",
                         headers={"Content-Type": "application/octet-stream"})
    return c.request(op.method, url)


def assert_problem(r: httpx.Response, where: str) -> dict[str, Any]:
    """#28's class rule: an error is problem+json whose ``status`` is the response's and
    whose ``code`` is a stable word."""
    assert r.headers.get("content-type", "").startswith(PROBLEM_JSON), \
        f"{where}: {r.status_code} {r.headers.get('content-type')} {r.text[:200]}"
    body = dict(r.json())
    assert body.get("status") == r.status_code, f"{where}: {body}"
    assert isinstance(body.get("code"), str) and re.fullmatch(r"[a-z][a-z0-9_]*", body["code"]), \
        f"{where}: {body}"
    assert body.get("title") and body.get("type") and "detail" in body, f"{where}: {body}"
    return body


@pytest.fixture(scope="module")
def users(platform: Platform) -> dict[str, dict[str, Any]]:
    return {role: platform.new_user([role]) for role in ROLES_UNDER_TEST}


def test_every_operation_has_a_permission(openapi: dict[str, Any]) -> None:
    permissions = operation_permissions()
    missing = sorted(op.id for op, _ in secured_operations(openapi) if op.id not in permissions)
    assert not missing, f"operations without a known permission: {missing}"
    unknown = sorted({p for p in permissions.values() if p != ANY}
                     - {p for p in permissions.values() if scope_for(["admin"], p)})
    assert not unknown, unknown


def test_the_sample_of_roles_is_denied_and_granted_something(openapi: dict[str, Any]) -> None:
    """The short version's roles still try both answers on most operations."""
    permissions = operation_permissions()
    both = [op.id for op, _ in secured_operations(openapi)
            if permissions[op.id] != ANY
            and {scope_for([r], permissions[op.id]) is None for r in SHORT_ROLES}
            == {True, False}]
    assert len(both) > len(secured_operations(openapi)) // 2


# the methods the gateway audits whatever the operation (gateway.middleware.WRITES)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# (actor id, method, path, status) of a call the audit log must hold
Entry = tuple[str, str, str, int]


def audit_entries(platform: Platform, actor_ids: list[str]) -> Counter[Entry]:
    conn = psycopg2.connect(platform.db_urls["gateway"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT actor_id, method, path, status FROM audit_log "
                        "WHERE actor_id = ANY(%s)", (actor_ids,))
            return Counter(cur.fetchall())
    finally:
        conn.close()


def wait_audited(platform: Platform, expected: Counter[Entry]) -> None:
    """Until every entry of ``expected`` is in the audit log as often (the writer flushes
    in batches); fails naming the missing ones."""
    actors = sorted({actor for actor, *_ in expected})
    missing: list[Counter[Entry]] = []

    def audited() -> bool:
        missing[:] = [expected - audit_entries(platform, actors)]
        return not missing[0]
    try:
        wait_until(audited, 30, "an audit entry for every successful write and export")
    except TimeoutError:
        raise AssertionError(f"not audited: {sorted(missing[0].elements())[:20]}") from None


@dataclass
class Tally:
    calls: int = 0
    denied: int = 0
    allowed: int = 0
    skipped: int = 0


def test_authorization_matrix(platform: Platform, openapi: dict[str, Any],
                              users: dict[str, dict[str, Any]]) -> None:
    permissions = operation_permissions()
    tally = Tally()
    denied_per_user: Counter[str] = Counter()
    succeeded: Counter[Entry] = Counter()  # writes and confidential reads that answered
    failures: list[str] = []
    operations = secured_operations(openapi)
    for role, user in users.items():
        with platform.client(user["token"]) as c:
            for op, template in operations:
                permission = permissions[op.id]
                allowed = permission == ANY or scope_for([role], permission) is not None
                if allowed and op.acts_without_a_target:
                    tally.skipped += 1
                    continue
                where = f"{role} {op.method} {template} ({op.id}, {permission})"
                path = _fill(template)
                r = call(c, op, path)
                tally.calls += 1
                if r.status_code < 400 and (op.method in WRITES or op.confidential):
                    succeeded[(user["id"], op.method, "/api/v1" + path, r.status_code)] += 1
                try:
                    assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
                    if r.status_code >= 400:
                        problem = assert_problem(r, where)
                    if not allowed:
                        assert r.status_code == 403, f"{where}: {r.status_code} {r.text[:300]}"
                        assert problem["code"] == "permission_denied", f"{where}: {problem}"
                        tally.denied += 1
                    elif template.startswith("/portal/"):
                        # the service refuses a staff user once the input is valid
                        assert r.status_code in (403, 422), f"{where}: {r.status_code}"
                        assert r.status_code != 403 or problem["code"] == PORTAL_ONLY, \
                            f"{where}: {problem}"
                        tally.allowed += 1
                    else:
                        assert r.status_code != 403, f"{where}: {r.text[:300]}"
                        tally.allowed += 1
                    if r.status_code == 403:
                        denied_per_user[user["id"]] += 1
                except AssertionError as exc:
                    failures.append(str(exc))
    assert not failures, f"{len(failures)} of {tally.calls}:\n" + "\n".join(failures[:60])
    assert tally.denied and tally.allowed
    # S7: every denied attempt is in the audit log (the writer flushes in batches)
    with psycopg2.connect(platform.db_urls["gateway"]) as conn:
        def audited() -> bool:
            with conn.cursor() as cur:
                cur.execute("SELECT actor_id, count(*) FROM audit_log WHERE status = 403 "
                            "AND actor_id = ANY(%s) GROUP BY actor_id",
                            ([u["id"] for u in users.values()],))
                conn.commit()
                return dict(cur.fetchall()) == dict(denied_per_user)
        wait_until(audited, 30, "an audit entry for every 403")
    # S7: and every write that succeeded, every confidential read (an export) answered
    wait_audited(platform, succeeded)
    writes = sum(n for (_, method, _, _), n in succeeded.items() if method in WRITES)
    print(f"\nmatrix: {len(operations)} operations × {len(users)} roles: {tally}; audited: "
          f"{sum(denied_per_user.values())} denials, {writes} successful writes, "
          f"{sum(succeeded.values()) - writes} confidential reads")


def _recording(platform: Platform, user: dict[str, Any], confidential: set[str],
               succeeded: Counter[Entry]) -> httpx.Client:
    """A client of ``user`` noting each write that succeeded and each successful call of
    an operation in ``confidential`` (by path) in ``succeeded``."""
    def note(r: httpx.Response) -> None:
        method, path = r.request.method, r.request.url.path
        if r.status_code < 400 and (method in WRITES or path in confidential):
            succeeded[(user["id"], method, path, r.status_code)] += 1
    return httpx.Client(base_url=platform.base_url, timeout=60,
                        headers={"Authorization": f"Bearer {user['token']}"},
                        event_hooks={"response": [note]})


def _made(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.text[:300]}"
    return dict(r.json())


def _made_once_ready(send: Callable[[], httpx.Response], status: int = 201
                     ) -> dict[str, Any]:
    """``send()`` until it answers ``status``: a service may not have its copy of a
    customer made a moment ago yet (404), or be busy (503). Only the answered call
    counts as a successful write."""
    answers: list[httpx.Response] = []

    def answered() -> bool:
        answers.append(send())
        return answers[-1].status_code == status or answers[-1].status_code not in (404, 503)
    wait_until(answered, 60, "the write answered")
    return _made(answers[-1], status)


def test_every_successful_write_and_export_is_audited(platform: Platform,
                                                      openapi: dict[str, Any]) -> None:
    """S7: a story of writes that succeed across every service, by a rep, a finance
    clerk and an admin, plus an export and confidential reads; each answered call is in
    the audit log (the matrix's successes are counted in ``test_authorization_matrix``,
    but with bodies no schema accepts few of its writes succeed)."""
    marked = {op["operationId"] for entries in openapi["paths"].values()
              for op in entries.values() if isinstance(op, dict) and op.get("x-confidential")}
    assert {"export_customers", "get_customer", "list_contacts"} <= marked
    rep, finance = platform.new_user(["sales_rep"]), platform.new_user(["finance"])
    platform.admin().close()
    admin = {"id": _me(platform, platform.tokens["admin"]), "token": platform.tokens["admin"]}
    succeeded: Counter[Entry] = Counter()
    confidential: set[str] = {"/api/v1/customers/export"}
    tag = uuid.uuid4().hex[:8]
    with _recording(platform, admin, confidential, succeeded) as c:
        product = _made(c.post("/api/v1/products", json={
            "code": f"AUD-{tag}", "name": "审计产品", "unit": "件", "currency": "CNY",
            "list_price": "99.90", "tax_rate": "0.13"}))
    with _recording(platform, rep, confidential, succeeded) as c:
        customer = _made(c.post("/api/v1/customers", json={"name": f"审计客户{tag}有限公司",
                                                           "kind": "company"}))
        confidential |= {f"/api/v1/customers/{customer['id']}",
                         f"/api/v1/customers/{customer['id']}/contacts"}
        customer = _made(c.patch(f"/api/v1/customers/{customer['id']}",
                                 json={"name": f"审计客户{tag}股份有限公司"},
                                 headers={"If-Match": f'"{customer["version"]}"'}), 200)
        contact = _made(c.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": "王总", "phones": ["139 0000 0000"]}))
        contact_path = f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}"
        _made(c.patch(contact_path, json={"name": "王总监"}), 200)
        _made(c.delete(contact_path), 200)
        _made(c.post("/api/v1/leads", json={"name": f"审计线索{tag}",
                                            "estimated_amount": "6000", "note": "展会"}))
        order = _made_once_ready(lambda: c.post("/api/v1/orders", json={
            "customer_id": customer["id"], "currency": "CNY",
            "lines": [{"product_id": product["id"], "quantity": "2"}]}))
        _made_once_ready(lambda: c.post(f"/api/v1/orders/{order['id']}/confirm"), 200)
        _made_once_ready(lambda: c.post("/api/v1/tickets", json={
            "customer_id": customer["id"], "category": "fault", "channel": "phone",
            "subject": "空调不制冷", "description": "客户来电：空调开机后不制冷"}))
        _made(c.post("/api/v1/documents", json={"title": f"审计合同{tag}",
                                                "category": "contract",
                                                "level": "confidential"}))
        _made(c.get(f"/api/v1/customers/{customer['id']}"), 200)
        _made(c.get(f"/api/v1/customers/{customer['id']}/contacts"), 200)
    with _recording(platform, finance, confidential, succeeded) as c:
        _made_once_ready(lambda: c.post("/api/v1/payments", json={
            "customer_id": customer["id"], "amount": "50.00", "currency": "CNY",
            "method": "bank_transfer", "received_at": "2026-12-01T10:00:00+08:00"}))
    with _recording(platform, admin, confidential, succeeded) as c:
        export = c.get("/api/v1/customers/export")
        assert export.status_code == 200, export.text[:300]
    writes = sum(n for (_, method, _, _), n in succeeded.items() if method in WRITES)
    assert writes == 12 and sum(succeeded.values()) == 15, succeeded
    wait_audited(platform, succeeded)
    print(f"\naudited: {writes} successful writes (customer, sales, billing, service desk, "
          f"documents), 1 export, 2 confidential reads: 100 %")


def _me(platform: Platform, token: str) -> str:
    with platform.client(token) as c:
        return str(_made(c.get("/api/v1/me"), 200)["id"])


def test_every_operation_without_credentials_is_a_401_problem(
        platform: Platform, openapi: dict[str, Any]) -> None:
    failures = []
    with platform.client() as c:
        for op, template in secured_operations(openapi):
            r = call(c, op, _fill(template))
            try:
                assert r.status_code == 401, f"{op.id}: {r.status_code} {r.text[:200]}"
                assert_problem(r, op.id)
                assert r.headers.get("www-authenticate") == "Bearer", op.id
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures)


# -- scope: records outside the caller's scope are never returned ---------------------------

@dataclass
class Scoped:
    """A parent team with two sub-teams; the owner in one, outsiders in the other and in
    no team at all; the owner's records carry a marker no other record has."""

    owner: dict[str, Any]
    parent_manager: dict[str, Any]
    outsiders: dict[str, dict[str, Any]]  # who → user
    marker: str
    ids: dict[str, str]  # path parameter name → the owner's record


def _ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


@pytest.fixture(scope="module")
def scoped(platform: Platform) -> Iterator[Scoped]:
    with platform.admin() as admin:
        parent = _ok(admin.post("/api/v1/teams", json={"name": f"华东-{uuid.uuid4().hex[:4]}"}))
        sub = _ok(admin.post("/api/v1/teams", json={"name": f"上海-{uuid.uuid4().hex[:4]}",
                                                    "parent_id": parent["id"]}))
        sibling = _ok(admin.post("/api/v1/teams", json={"name": f"杭州-{uuid.uuid4().hex[:4]}",
                                                        "parent_id": parent["id"]}))
    parent_manager = platform.new_user(["sales_manager"], team_id=parent["id"])
    sibling_manager = platform.new_user(["sales_manager"], team_id=sibling["id"])
    with platform.admin() as admin:
        _ok(admin.patch(f"/api/v1/teams/{parent['id']}",
                        json={"manager_id": parent_manager["id"]}), 200)
        _ok(admin.patch(f"/api/v1/teams/{sibling['id']}",
                        json={"manager_id": sibling_manager["id"]}), 200)
    owner = platform.new_user(["sales_rep"], team_id=sub["id"])
    outsiders = {"sibling rep": platform.new_user(["sales_rep"], team_id=sibling["id"]),
                 "sibling manager": platform.new_user(["sales_manager"],
                                                      team_id=sibling["id"]),
                 "rep in no team": platform.new_user(["sales_rep"]),
                 "viewer": platform.new_user(["viewer"])}
    outsiders["sibling team's manager"] = sibling_manager
    marker = f"机密{uuid.uuid4().hex[:10]}"
    with platform.client(owner["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"{marker}有限公司", "kind": "company", "phones": ["+86 139 1234 5678"]}))
        contact = _ok(c.post(f"/api/v1/customers/{customer['id']}/contacts",
                             json={"name": f"{marker}联系人", "phones": ["13912345679"]}))
        lead = _ok(c.post("/api/v1/leads", json={"name": f"{marker}线索公司",
                                                 "contact_name": "赵总"}))

        def opportunity() -> dict[str, Any] | None:  # once sales has the customer's copy
            r = c.post("/api/v1/opportunities", json={
                "name": f"{marker}商机", "customer_id": customer["id"], "amount": "1000.00"})
            return dict(r.json()) if r.status_code == 201 else None
        opp = wait_until(opportunity, 30, "an opportunity once sales knows the customer")
    yield Scoped(owner, parent_manager, outsiders, marker,
                 {"customer_id": customer["id"], "contact_id": contact["id"],
                  "lead_id": lead["id"], "opportunity_id": opp["id"]})


def _reads(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    return [(op.id, template) for op, template in secured_operations(openapi)
            if op.method == "GET"]


def _visible(platform: Platform, user: dict[str, Any], path: str, scoped: Scoped
             ) -> httpx.Response:
    with platform.client(user["token"]) as c:
        return c.get("/api/v1" + path, params={"limit": 200} if "{" not in path else None)


def test_the_owner_and_the_parent_teams_manager_see_the_records(
        platform: Platform, scoped: Scoped) -> None:
    """The control: the records are there to be leaked, for the lists they belong in."""
    for path in ("/customers", "/leads", "/opportunities"):
        for who in (scoped.owner, scoped.parent_manager):
            wait_until(lambda p=path, w=who: scoped.marker in _visible(platform, w, p,
                                                                       scoped).text,
                       30, f"{path} shows the record to its owner and the parent's manager")


def test_no_list_report_or_export_shows_a_record_outside_the_scope(
        platform: Platform, openapi: dict[str, Any], scoped: Scoped) -> None:
    leaks = []
    checked = 0
    for op_id, template in _reads(openapi):
        if "{" in template:
            continue
        for who, user in scoped.outsiders.items():
            r = _visible(platform, user, template, scoped)
            checked += 1
            assert r.status_code < 500, f"{who} {template}: {r.status_code} {r.text[:200]}"
            if r.status_code == 200 and (scoped.marker in r.text
                                         or any(i in r.text for i in scoped.ids.values())):
                leaks.append(f"{who}: GET {template} ({op_id})")
    assert checked and not leaks, "\n".join(leaks)


def test_no_read_by_id_returns_a_record_outside_the_scope(
        platform: Platform, openapi: dict[str, Any], scoped: Scoped) -> None:
    leaks = []
    checked = 0
    for op_id, template in _reads(openapi):
        names = PATH_PARAM.findall(template)
        if not names or not set(names) <= set(scoped.ids):
            continue
        path = _fill(template, scoped.ids)
        for who, user in scoped.outsiders.items():
            r = _visible(platform, user, path, scoped)
            checked += 1
            assert r.status_code < 500, f"{who} {path}: {r.status_code} {r.text[:200]}"
            if r.status_code < 400 and scoped.marker in r.text:
                leaks.append(f"{who}: GET {template} ({op_id}) → {r.status_code}")
            elif r.status_code >= 400:
                assert_problem(r, f"{who} {path}")
    assert checked and not leaks, "\n".join(leaks)


def test_the_audit_log_cannot_be_edited_through_the_api(
        platform: Platform, openapi: dict[str, Any]) -> None:
    """S7: the OpenAPI offers only reads of the audit log, and no method changes it, an
    admin's included (405 problem+json)."""
    audit_paths = {path: set(ops) for path, ops in openapi["paths"].items()
                   if "audit" in path}
    assert audit_paths and all(methods == {"get"} for methods in audit_paths.values()), \
        audit_paths
    with platform.admin() as admin:
        entry = admin.get("/api/v1/audit-log", params={"limit": 1}).json()["items"][0]
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for path in ("/api/v1/audit-log", f"/api/v1/audit-log/{entry['id']}"):
                r = admin.request(method, path, json={"outcome": "success"})
                assert r.status_code in (404, 405), f"{method} {path}: {r.status_code}"
                assert_problem(r, f"{method} {path}")
