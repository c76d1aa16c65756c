"""S8 of issue 26, erasure on request (PIPL art. 47, GDPR art. 17), for a customer's
contact person: an admin's ``POST …/contacts/{id}/erase`` through the gateway leaves
the person's name, phone, e-mail and WeChat openid in no table of any service's
database (the owner's record, its search columns, every service's copy, the outbox and
inbox, the gateway's audit log), and not in search; the erasure itself is in the audit
log (who, when, which contact) and a rep may not erase."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from tests.e2e.test_security_matrix import assert_problem
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

# services that keep a copy of contacts (crm_platform.service.copies.ContactCopies)
COPIES = ("service_desk", "notify")


def _tables_holding(platform: Platform, markers: list[str]) -> dict[str, list[str]]:
    """database.table → the markers found anywhere in its rows (each row as text)."""
    found: dict[str, list[str]] = {}
    for db, url in platform.db_urls.items():
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
            for (table,) in cur.fetchall():
                for marker in markers:
                    cur.execute(sql.SQL("SELECT count(*) FROM {} AS t WHERE t::text ILIKE %s")
                                .format(sql.Identifier(table)), (f"%{marker}%",))
                    row = cur.fetchone()
                    if row and row[0]:
                        found.setdefault(f"{db}.{table}", []).append(marker)
                        cur.execute(sql.SQL("SELECT t::text FROM {} AS t WHERE t::text ILIKE %s "
                                            "LIMIT 3").format(sql.Identifier(table)),
                                    (f"%{marker}%",))
                        found[f"{db}.{table}"] += [r[0][:300] for r in cur.fetchall()]
    return found


def _copy(platform: Platform, service: str, contact_id: str) -> tuple[Any, ...] | None:
    with psycopg2.connect(platform.db_urls[service]) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, phones::text, email, wechat_openid FROM contacts "
                    "WHERE id = %s", (contact_id,))
        return cur.fetchone()


def test_an_erased_contact_leaves_no_personal_data_anywhere(platform: Platform) -> None:
    tag = uuid.uuid4().hex[:8]
    name, digits = f"遗忘{tag}", f"{uuid.uuid4().int % 10**8:08d}"
    email, openid = f"forget.{tag}@example.cn", f"openid{tag}"
    markers = [name, digits, email, openid]
    rep = platform.new_user(["sales_rep"])
    with platform.client(rep["token"]) as c:
        r = c.post("/api/v1/customers", json={"name": f"客户{tag}", "kind": "company"})
        assert r.status_code == 201, r.text
        customer = r.json()
        r = c.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": name, "phones": [f"139{digits}"], "emails": [email],
            "birthday": "1990-01-02", "notes": f"{name} 的备注", "wechat_openid": openid})
        assert r.status_code == 201, r.text
        contact = r.json()
        # a change of the person's data puts its old and new values in the audit log
        r = c.patch(f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}",
                    json={"name": f"{name}改", "phones": [f"138{digits}"]},
                    headers={"If-Match": f'"{contact["version"]}"'})
        assert r.status_code == 200, r.text
        contact = r.json()
        assert c.get("/api/v1/customers", params={"q": name}).json()["items"]
        # a rep may not erase (it is an admin's act on the person's request)
        r = c.post(f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}/erase")
        assert r.status_code == 403 and assert_problem(r, "rep erases")["code"] == \
            "permission_denied", r.text
    for service in COPIES:  # the copies hold the person before the erasure
        wait_until(lambda s=service: (_copy(platform, s, contact["id"]) or ("",))[0]
                   == f"{name}改",
                   60, f"{service} copied the contact")

    with platform.admin() as c:
        r = c.post(f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}/erase")
        assert r.status_code == 200, r.text
        erased = r.json()
        assert erased["id"] == contact["id"] and erased["version"] == contact["version"] + 1
        assert erased["name"] == "(erased)" and erased["phones"] == [] \
            and erased["emails"] == [] and erased["birthday"] is None
        # a second erasure changes nothing
        again = c.post(f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}/erase")
        assert again.status_code == 200 and again.json()["version"] == erased["version"]
        for q in (name, digits, email):
            r = c.get("/api/v1/customers", params={"q": q})
            assert r.status_code == 200 and r.json()["items"] == [], (q, r.text)
        r = c.get(f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}")
        assert r.status_code == 200 and r.json()["name"] == "(erased)", r.text

    for service in COPIES:
        wait_until(lambda s=service: (_copy(platform, s, contact["id"]) or ("",))[0]
                   == "(erased)", 60, f"{service}'s copy erased")
    try:  # the copies' consumers may still be applying the event's batch
        wait_until(lambda: not _tables_holding(platform, markers), 60,
                   "no table holds the person's data")
    except TimeoutError:
        pytest.fail(f"personal data left after the erasure: {_tables_holding(platform, markers)}")

    # the erasure itself is on record, without the data it removed
    with platform.admin() as c:
        r = c.get("/api/v1/audit-log", params={"action": "erase_contact", "limit": 100})
        assert r.status_code == 200, r.text
        entries = [e for e in r.json()["items"]
                   if contact["id"] in (e.get("path") or "") and e.get("status") == 200]
        assert entries and entries[0]["actor_id"], r.json()
