"""S8 of issue 26, erasure on request (PIPL art. 47, GDPR art. 17), for a customer's
contact person and for a customer who is a person: an admin's ``POST …/erase`` through
the gateway leaves the person's data in no table of any service's database (the owner's
record, its search columns, every service's copy and records, the outbox and inbox,
the answers kept for repeated calls, the gateway's audit log and stored answers), and
not in search; the erasure itself is in the audit log (who, when, which record) and a
rep may not erase."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from tests.e2e.conftest import Outside
from tests.e2e.sales_support import _draft_order, _product
from tests.e2e.service_desk_support import new_ticket
from tests.e2e.test_notify import _marketing_template, _settings
from tests.e2e.test_security_matrix import assert_problem
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

# services that keep a copy of contacts (crm_platform.service.copies.ContactCopies)
COPIES = ("service_desk", "notify")
# services that keep a copy of customers (crm_platform.service.copies.CustomerCopies)
CUSTOMER_COPIES = ("sales", "billing", "service_desk", "notify", "docs")


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


def test_an_erased_contact_leaves_no_personal_data_anywhere(platform: Platform,
                                                            outside: Outside) -> None:
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
        # an e-mail sent to the person: the delivery log keeps to whom, where and what
        _settings(c)
        r = c.post("/api/v1/notifications", json={
            "template_id": _marketing_template(c), "category": "transactional",
            "channels": ["email"], "recipients": {"contact_ids": [contact["id"]]}})
        assert r.status_code == 201 and r.json()["queued"] == 1, r.text
        wait_until(lambda: outside.smtp.to(email), 30, "the e-mail to the contact")
        wait_until(lambda: [d for d in c.get("/api/v1/deliveries", params={
            "recipient_id": contact["id"]}).json()["items"] if d["status"] in
            ("sent", "delivered")], 30, "the delivery logged as sent")
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
        # the e-mail is still logged as sent, to no address
        sent = c.get("/api/v1/deliveries", params={"recipient_id": contact["id"]}).json()
        assert any(d["status"] in ("sent", "delivered") for d in sent["items"]), sent
        r = c.get("/api/v1/audit-log", params={"action": "erase_contact", "limit": 100})
        assert r.status_code == 200, r.text
        entries = [e for e in r.json()["items"]
                   if contact["id"] in (e.get("path") or "") and e.get("status") == 200]
        assert entries and entries[0]["actor_id"], r.json()


PERSON_REACHES = {
    "customer.customers", "customer.customer_keys", "customer.customer_history",
    "customer.rpc_answers", "sales.customers", "sales.leads", "sales.opportunities",
    "sales.rpc_answers", "billing.customers", "service_desk.customers",
    "service_desk.tickets", "service_desk.calls", "notify.customers", "notify.deliveries",
    "docs.customers", "docs.documents", "docs.document_versions", "docs.rpc_answers",
    "gateway.audit_log", "gateway.idempotency_keys"}


def _customer_copy(platform: Platform, service: str, customer_id: str) -> str | None:
    with psycopg2.connect(platform.db_urls[service]) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM customers WHERE id = %s", (customer_id,))
        row = cur.fetchone()
        return str(row[0]) if row else None


def _ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def test_an_erased_person_customer_leaves_no_personal_data_anywhere(
        platform: Platform, org: dict[str, Any], desk: dict[str, Any],
        outside: Outside) -> None:
    """A person comes in as a lead, becomes a customer, orders (an invoice follows), calls
    the service desk (a ticket, a call), is sent an e-mail and has a document filed
    under their name; then asks to be forgotten. Every value they gave is unique, and
    each holds ``tag`` (but the phone's digits): no row of any table of any database
    holds either afterwards."""
    tag = uuid.uuid4().hex[:10]
    name, digits = f"遗忘人{tag}", f"{uuid.uuid4().int % 10**8:08d}"
    phone, email = f"139{digits}", f"person.{tag}@example.cn"
    markers = [tag, digits]
    rep, agent = org["rep"], desk["agent"]
    keys = iter(str(uuid.uuid4()) for _ in range(10))  # Idempotency-Keys: answers kept
    with platform.client(rep["token"]) as c:
        lead = _ok(c.post("/api/v1/leads", json={
            "name": name, "kind": "person", "phone": phone, "email": email,
            "note": f"{name} 想买空调，住遗忘路 {tag} 号"},
            headers={"Idempotency-Key": next(keys)}), 201)
        converted = _ok(c.post(f"/api/v1/leads/{lead['id']}/convert", json={},
                               headers={"Idempotency-Key": next(keys)}))
        customer = _ok(c.get(f"/api/v1/customers/{converted['customer_id']}"))
        assert customer["kind"] == "person" and customer["name"] == name
        customer = _ok(c.patch(f"/api/v1/customers/{customer['id']}", json={
            "address": f"上海市静安区遗忘路 {tag} 号", "tax_id": f"31010{tag}",
            "credit_note": f"信用备注 {tag}", "attributes": {"birthday": f"1990-{tag}"},
            "tags": [f"标签{tag}"]}, headers={"If-Match": f'"{customer["version"]}"'}))
        order = _draft_order(c, customer["id"], _product(platform, "500.00")["id"])
        _ok(c.post(f"/api/v1/orders/{order['id']}/confirm"))
        document = _ok(c.post("/api/v1/documents", json={
            "title": f"{name} 身份证复印件", "category": "contract", "tags": ["身份证"],
            "metadata": {"客户": name}, "links": {"customer_ids": [customer["id"]]}},
            headers={"Idempotency-Key": next(keys)}), 201)
        _ok(c.post(f"/api/v1/documents/{document['id']}/versions",
                   params={"filename": f"{name}.txt"}, content=f"{name} {phone}".encode(),
                   headers={"Content-Type": "text/plain"}), 201)
    with platform.admin() as admin:  # the installment is due in 15 days: invoiced now
        (plan,) = wait_until(lambda: admin.get("/api/v1/payment-plans", params={
            "order_id": order["id"]}).json().get("items"), 30, "the order's payment plan")
        _ok(admin.post(f"/api/v1/payment-plans/{plan['id']}/installments/1/invoice",
                       json={}), 201)
    with platform.client(agent["token"]) as c:
        wait_until(lambda: customer["id"] in [x["id"] for x in c.get(
            "/api/v1/calls/lookup", params={"phone": phone}).json().get("customers", [])],
            30, "the service desk's copy has the person's phone")
        ticket = new_ticket(platform, agent["token"], customer["id"],
                            description=f"{name} 来电：空调不制冷，回电 {phone}")
        call = _ok(c.post("/api/v1/calls", json={
            "direction": "inbound", "from_number": phone, "to_number": "4008001234",
            "started_at": "2026-01-05T02:00:00+00:00", "ended_at": "2026-01-05T02:03:00+00:00",
            "answered_at": "2026-01-05T02:00:10+00:00", "ticket_id": ticket["id"],
            "outcome": "resolved", "notes": f"{name} 说已恢复",
            "recording_url": f"https://rec.example.cn/{tag}.mp3"}), 201)
        assert call["customer_id"] == customer["id"], call
    with platform.admin() as admin:
        _settings(admin)
        sent = _ok(admin.post("/api/v1/notifications", json={
            "template_id": _marketing_template(admin), "category": "transactional",
            "channels": ["email"], "recipients": {"customer_ids": [customer["id"]]}},
            headers={"Idempotency-Key": next(keys)}), 201)
        assert sent["queued"] == 1, sent
        wait_until(lambda: outside.smtp.to(email), 30, "the e-mail to the person")
        wait_until(lambda: [d for d in admin.get("/api/v1/deliveries", params={
            "recipient_id": customer["id"]}).json()["items"] if d["status"] in
            ("sent", "delivered")], 30, "the delivery logged as sent")
        for service in CUSTOMER_COPIES:
            wait_until(lambda s=service: _customer_copy(platform, s, customer["id"]) == name,
                       60, f"{service} copied the customer")
        # the person's data went everywhere the flows take it (so the grep below proves
        # something): each copy, the records, the kept answers, the gateway's records
        before = set(_tables_holding(platform, markers))
        assert before >= PERSON_REACHES, sorted(PERSON_REACHES - before)

        # a duplicate record of the person, merged into the customer: its record stays
        # (status merged) and is erased with the survivor
        duplicate = _ok(admin.post("/api/v1/customers", json={
            "name": f"旧档{tag}", "kind": "person", "phone": f"138{digits}",
            "email": f"old.{tag}@example.cn"}), 201)
        _ok(admin.post("/api/v1/customers/merge", json={
            "survivor_id": customer["id"], "merged_id": duplicate["id"]}))
        # a company is no natural person; a rep may not erase
        company = _ok(admin.post("/api/v1/customers", json={
            "name": f"公司{uuid.uuid4().hex[:8]}", "kind": "company"}), 201)
        refused = admin.post(f"/api/v1/customers/{company['id']}/erase")
        assert refused.status_code == 422 and assert_problem(refused, "company")["code"] == \
            "not_a_person", refused.text
    with platform.client(rep["token"]) as c:
        r = c.post(f"/api/v1/customers/{customer['id']}/erase")
        assert r.status_code == 403 and assert_problem(r, "rep erases")["code"] == \
            "permission_denied", r.text

    with platform.admin() as admin:
        erased = _ok(admin.post(f"/api/v1/customers/{customer['id']}/erase"))
        assert (erased["id"], erased["code"], erased["kind"]) == (
            customer["id"], customer["code"], "person")
        assert erased["name"] == "(erased)" and erased["phones"] == [] \
            and erased["emails"] == [] and erased["address"] is None \
            and erased["tax_id"] is None and erased["attributes"] == {} and erased["tags"] == []
        again = _ok(admin.post(f"/api/v1/customers/{customer['id']}/erase"))
        assert again["version"] == erased["version"], "a second erasure changes nothing"
        for q in (name, phone, email, tag):
            r = admin.get("/api/v1/customers", params={"q": q})
            assert r.status_code == 200 and r.json()["items"] == [], (q, r.text)
        # the records that point at the person stay, anonymised
        assert _ok(admin.get(f"/api/v1/orders/{order['id']}"))["customer_id"] == customer["id"]
        history = _ok(admin.get(f"/api/v1/customers/{customer['id']}/history"))["items"]
        assert history[0]["kind"] == "erased", history

    for service in CUSTOMER_COPIES:
        wait_until(lambda s=service: _customer_copy(platform, s, customer["id"])
                   == "(erased)", 60, f"{service}'s copy erased")
    try:  # the services' consumers may still be applying the event
        wait_until(lambda: not _tables_holding(platform, markers), 60,
                   "no table holds the person's data")
    except TimeoutError:
        pytest.fail(f"personal data left after the erasure: {_tables_holding(platform, markers)}")

    with platform.admin() as admin:
        # the delivery log keeps that the e-mail was sent, not to where or what
        deliveries = _ok(admin.get("/api/v1/deliveries", params={
            "recipient_id": customer["id"], "channel": "email"}))["items"]
        assert any(d["status"] in ("sent", "delivered") for d in deliveries), deliveries
        # the erasure itself is on record, without the data it removed
        entries = [e for e in _ok(admin.get("/api/v1/audit-log", params={
            "action": "erase_customer", "limit": 100}))["items"]
            if customer["id"] in (e.get("path") or "") and e.get("status") == 200]
        assert entries and entries[0]["actor_id"], entries
        assert all(e["detail"] in (None, {"erased": True}) for e in entries), entries
        # the erased phone and e-mail no longer claim a customer: the person may come back
        _ok(admin.post("/api/v1/customers", json={
            "name": "回头客", "kind": "person", "phone": phone, "email": email}), 201)
