"""Notifications end to end (NTF-01 … NTF-06): rules turn the platform's events into
messages that reach a real SMTP server and real HTTP providers on local ports, under
the consent rules, with every outcome in the delivery log."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.conftest import SMS_RECEIPT_TOKEN, Outside
from tests.e2e.test_customers import _staff_known
from tests.support.infra import wait_until
from tests.support.platform import Platform

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def _mail(suffix: str = "") -> str:
    return f"c{uuid.uuid4().hex[:8]}{suffix}@client.test"


def _phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def notify_knows(platform: Platform, contact_ids: list[str] = (),  # type: ignore[assignment]
                 user_ids: list[str] = ()) -> None:  # type: ignore[assignment]
    """Wait until the notification service has copied these contacts and users: a
    message to them through the inbox is accepted (a contact has no inbox, so nothing
    reaches anyone)."""
    with platform.admin() as admin:
        template = _inbox_template(admin)

        def known() -> bool:
            r = admin.post("/api/v1/notifications", json={
                "template_id": template, "category": "transactional", "channels": ["inbox"],
                "recipients": {"contact_ids": list(contact_ids), "user_ids": list(user_ids)}})
            return r.status_code == 201
        wait_until(known, 30, "notify's copies")


_TEMPLATES: dict[str, str] = {}


def _inbox_template(admin: httpx.Client) -> str:
    if "probe" not in _TEMPLATES:
        _TEMPLATES["probe"] = _ok(admin.post("/api/v1/templates", json={
            "name": "probe", "bodies": {"zh-CN": {"subject": "探针", "text": "探针"}}}),
            201)["id"]
    return _TEMPLATES["probe"]


def _marketing_template(admin: httpx.Client) -> str:
    if "marketing" not in _TEMPLATES:
        _TEMPLATES["marketing"] = _ok(admin.post("/api/v1/templates", json={
            "name": "spring promotion", "bodies": {
                "zh-CN": {"subject": "春季优惠", "text": "{{ recipient.name }}，春季优惠开始了！"},
                "en": {"subject": "Spring offer", "text": "{{ recipient.name }}, spring offer!"}},
            "sms_template_code": "SMS_2002"}), 201)["id"]
    return _TEMPLATES["marketing"]


def _settings(admin: httpx.Client, **changes: Any) -> None:
    body = {"timezone": "Asia/Shanghai", "quiet_hours": None,
            "caps": [{"category": "marketing", "channel": "sms", "max": 2, "period_days": 7}]}
    body.update(changes)
    _ok(admin.put("/api/v1/notification-settings", json=body))


def _deliveries(admin: httpx.Client, **query: str) -> list[dict[str, Any]]:
    return list(_ok(admin.get("/api/v1/deliveries", params={"limit": "200", **query}))["items"])


@pytest.fixture(scope="module")
def company(platform: Platform) -> dict[str, Any]:
    """A rep's company customer with two contacts, one of whom opted out of marketing."""
    rep = platform.new_user(["sales_rep"], display_name="李娜", email=_mail("-rep"))
    _staff_known(platform, rep["token"], rep["id"])
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"杭州云帆{uuid.uuid4().hex[:6]}科技有限公司", "kind": "company"}), 201)
        glad = _ok(c.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": "赵敏", "email": _mail(), "phones": [_phone()]}), 201)
        opted = _ok(c.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": "钱多多", "email": _mail(), "phones": [_phone()],
            "marketing_opt_out": True, "locale": "en"}), 201)
    notify_knows(platform, contact_ids=[glad["id"], opted["id"]], user_ids=[rep["id"]])
    return {"rep": rep, "customer": customer, "glad": glad, "opted": opted}


def test_handover_tells_the_contacts_their_new_contact_person_by_email(
        platform: Platform, outside: Outside, company: dict[str, Any]) -> None:
    successor = platform.new_user(["sales_rep"], display_name="王强", email=_mail("-new"),
                                  phone="13800001111")
    _staff_known(platform, successor["token"], successor["id"])
    notify_knows(platform, user_ids=[successor["id"]])
    with platform.admin() as admin:
        _ok(admin.post("/api/v1/customers/handover", json={
            "from_user_id": company["rep"]["id"], "to_user_id": successor["id"]}))
    address = company["glad"]["emails"][0]
    # the service takes every event of the session's other tests too: a backlog can wait
    mails = wait_until(lambda: outside.smtp.to(address), 120, "the handover email")
    mail = mails[0]
    assert "王强" in str(mail["Subject"])
    text = mail.get_body(("plain",)).get_content()
    assert "王强" in text and "13800001111" in text and "赵敏" in text
    assert "王强" in mail.get_body(("html",)).get_content()
    assert mail["Message-ID"].endswith("@crm.notify>")
    # transactional: no unsubscribe header; the English contact got it in English
    assert mail["List-Unsubscribe"] is None
    english = wait_until(lambda: outside.smtp.to(company["opted"]["emails"][0]), 60, "English")
    assert "Your contact person is now 王强" in str(english[0]["Subject"])
    # the new owner hears of it in the inbox
    with platform.client(successor["token"]) as c:
        def inbox() -> list[dict[str, Any]]:
            items = c.get("/api/v1/inbox").json()["items"]
            return [m for m in items if company["customer"]["name"] in m["title"]]
        assert wait_until(inbox, 30, "the inbox message")
        assert _ok(c.get("/api/v1/inbox/unread-count"))["unread"] >= 1
    with platform.admin() as admin:
        sent = _deliveries(admin, recipient_id=company["glad"]["id"], channel="email")
        assert [d["status"] for d in sent if d["event_type"] == "customer.owner_changed"] \
            == ["sent"]


def test_an_opted_out_contact_gets_no_care_message_and_the_suppression_is_logged(
        platform: Platform, outside: Outside) -> None:
    rep = platform.new_user(["sales_rep"], display_name="周杰")
    _staff_known(platform, rep["token"], rep["id"])
    day = date(2024, 1, 1) + timedelta(days=uuid.uuid4().int % 360)  # a day of its own
    with platform.client(rep["token"]) as c:
        customer = _ok(c.post("/api/v1/customers", json={
            "name": f"成都锦{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        glad = _ok(c.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": "孙丽", "email": _mail(), "birthday": f"1990-{day:%m-%d}"}), 201)
        opted = _ok(c.post(f"/api/v1/customers/{customer['id']}/contacts", json={
            "name": "吴刚", "email": _mail(), "birthday": f"1985-{day:%m-%d}",
            "marketing_opt_out": True}), 201)
    notify_knows(platform, contact_ids=[glad["id"], opted["id"]])
    with platform.admin() as admin:
        _settings(admin)
        at = datetime.combine(day, datetime.min.time(), SHANGHAI) + timedelta(hours=12)
        _ok(admin.post("/api/v1/notification-jobs/run", json={"at": at.isoformat()}))
        greeting = wait_until(lambda: outside.smtp.to(glad["emails"][0]), 30, "the greeting")
        assert "孙丽" in str(greeting[0]["Subject"])
        # a care message carries one-click unsubscribe (RFC 8058)
        assert greeting[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "/api/v1/unsubscribe/" in greeting[0]["List-Unsubscribe"]
        suppressed = _deliveries(admin, recipient_id=opted["id"], channel="email")
        assert [(d["status"], d["reason"], d["category"]) for d in suppressed] == \
            [("suppressed", "opted_out", "care")]
        # running the calendar again (a second replica, a restart) sends nothing twice
        again = _ok(admin.post("/api/v1/notification-jobs/run", json={"at": at.isoformat()}))
        assert again["calendar"] == 0
        assert len(_deliveries(admin, recipient_id=glad["id"], channel="email")) == 1


def test_one_click_unsubscribe_stops_marketing_but_not_transactional_mail(
        platform: Platform, outside: Outside, company: dict[str, Any]) -> None:
    with platform.admin() as admin:
        _settings(admin)
        template = _marketing_template(admin)
        contact = company["glad"]
        first = _ok(admin.post("/api/v1/notifications", json={
            "template_id": template, "category": "marketing", "channels": ["email"],
            "recipients": {"contact_ids": [contact["id"]]}}), 201)
        assert first["queued"] == 1

        def offer() -> list[Any]:
            return [m for m in outside.smtp.to(contact["emails"][0])
                    if "春季优惠" in str(m["Subject"])]
        link = wait_until(offer, 30, "the offer")[0]["List-Unsubscribe"].strip("<>")
        # what a mail client does for RFC 8058
        r = httpx.post(link.replace("http://127.0.0.1:8000", platform.base_url),
                       content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200, r.text
        second = _ok(admin.post("/api/v1/notifications", json={
            "template_id": template, "category": "marketing", "channels": ["email", "sms"],
            "recipients": {"contact_ids": [contact["id"]]}}), 201)
        assert (second["queued"], second["suppressed"]) == (0, 2)
        transactional = _ok(admin.post("/api/v1/notifications", json={
            "template_id": template, "category": "transactional", "channels": ["email"],
            "recipients": {"contact_ids": [contact["id"]]}}), 201)
        assert transactional["queued"] == 1


def test_the_frequency_cap_suppresses_the_third_marketing_sms_in_a_week(
        platform: Platform, outside: Outside, company: dict[str, Any]) -> None:
    contact = company["opted"]  # opted out of marketing: use a fresh one instead
    with platform.admin() as c:
        contact = _ok(c.post(f"/api/v1/customers/{company['customer']['id']}/contacts",
                             json={"name": "郑爽", "phones": ["13700001234"]}), 201)
    notify_knows(platform, contact_ids=[contact["id"]])
    with platform.admin() as admin:
        _settings(admin)
        template = _marketing_template(admin)
        results = [_ok(admin.post("/api/v1/notifications", json={
            "template_id": template, "category": "marketing", "channels": ["sms"],
            "recipients": {"contact_ids": [contact["id"]]}}), 201) for _ in range(3)]
        assert [(r["queued"], r["suppressed"]) for r in results] == [(1, 0), (1, 0), (0, 1)]
        third = _ok(admin.get(f"/api/v1/deliveries/{results[2]['delivery_ids'][0]}"))
        assert third["status"] == "suppressed"
        assert third["reason"].startswith("frequency_cap")
        # the first two reached the provider, signed as it documents
        texts = wait_until(lambda: len(outside.sms.texts_to("+8613700001234")) == 2 or
                           len(outside.sms.texts_to("13700001234")) == 2, 30, "two SMS")
        assert texts
        assert outside.sms.refused == []

        def sent() -> list[dict[str, Any]]:
            done = [_ok(admin.get(f"/api/v1/deliveries/{r['delivery_ids'][0]}"))
                    for r in results[:2]]
            return done if all(d["status"] == "sent" for d in done) else []
        first = wait_until(sent, 30, "both sent")[0]
        assert first["provider"] == "aliyun_sms" and first["provider_message_id"]
        # the provider's delivery receipt (its report push) marks it delivered
        r = httpx.post(f"{platform.base_url}/api/v1/provider-receipts/aliyun-sms",
                       params={"token": SMS_RECEIPT_TOKEN},
                       json=[{"out_id": first["id"], "biz_id": first["provider_message_id"],
                              "success": True, "err_code": "DELIVERED",
                              "err_msg": "用户接收成功", "phone_number": "13700001234"}])
        assert r.json() == {"updated": 1}
        assert _ok(admin.get(f"/api/v1/deliveries/{first['id']}"))["status"] == "delivered"
        bad = httpx.post(f"{platform.base_url}/api/v1/provider-receipts/aliyun-sms",
                         params={"token": "wrong"}, json=[])
        assert bad.status_code == 403


def test_a_message_in_quiet_hours_is_deferred_to_their_end(
        platform: Platform, company: dict[str, Any]) -> None:
    with platform.admin() as c:
        contact = _ok(c.post(f"/api/v1/customers/{company['customer']['id']}/contacts",
                             json={"name": "冯巩", "phones": [_phone()]}), 201)
    notify_knows(platform, contact_ids=[contact["id"]])
    now = datetime.now(SHANGHAI)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    with platform.admin() as admin:
        _settings(admin, quiet_hours={"start": f"{start:%H:%M}", "end": f"{end:%H:%M}",
                                      "channels": ["sms"], "categories": ["marketing"]})
        try:
            result = _ok(admin.post("/api/v1/notifications", json={
                "template_id": _marketing_template(admin), "category": "marketing",
                "channels": ["sms"], "recipients": {"contact_ids": [contact["id"]]}}), 201)
        finally:
            _settings(admin)
        delivery = _ok(admin.get(f"/api/v1/deliveries/{result['delivery_ids'][0]}"))
    assert (delivery["status"], delivery["reason"]) == ("queued", "quiet_hours")
    due = datetime.fromisoformat(delivery["due_at"]).astimezone(SHANGHAI)
    assert f"{due:%H:%M}" == f"{end:%H:%M}" and due > now


def test_templates_are_checked_when_saved_and_rendered_in_the_recipients_locale(
        platform: Platform) -> None:
    with platform.admin() as admin:
        r = admin.post("/api/v1/templates", json={
            "name": "bad", "event_type": "invoice.overdue",
            "bodies": {"zh-CN": {"text": "{{ data.number }} {{ secret_key }}"}}})
        assert r.status_code == 422 and r.json()["code"] == "invalid_template"
        assert "secret_key" in r.json()["detail"]
        r = admin.post("/api/v1/templates", json={
            "name": "bad field", "event_type": "invoice.overdue",
            "bodies": {"en": {"text": "{{ data.no_such_field }}"}}})
        assert r.status_code == 422 and "data.no_such_field" in r.json()["detail"]
        r = admin.post("/api/v1/templates", json={
            "name": "escape", "bodies": {"en": {"text": "{{ data.__class__.__mro__ }}"}}})
        template = _ok(r, 201)
        r = admin.post(f"/api/v1/templates/{template['id']}/preview", json={"locale": "en"})
        assert r.status_code == 422 and r.json()["code"] == "template_render_failed"
        good = _ok(admin.post("/api/v1/templates", json={
            "name": "overdue", "event_type": "invoice.overdue", "bodies": {
                "zh-CN": {"subject": "发票{{ data.number }}逾期",
                          "text": "欠款 {{ data.outstanding }}"},
                "en": {"subject": "Invoice {{ data.number }} overdue",
                       "text": "{{ data.outstanding }} outstanding",
                       "html": "<b>{{ data.number }}</b>"}}}), 201)
        preview = _ok(admin.post(f"/api/v1/templates/{good['id']}/preview", json={
            "locale": "en", "data": {"number": "<INV-1>", "outstanding": "10.00"}}))
        assert preview["subject"] == "Invoice <INV-1> overdue"
        assert preview["html"] == "<b>&lt;INV-1&gt;</b>"
        zh = _ok(admin.post(f"/api/v1/templates/{good['id']}/preview", json={
            "locale": "zh-CN", "data": {"number": "INV-2", "outstanding": "5"}}))
        assert zh["subject"] == "发票INV-2逾期"
        rules = _ok(admin.get("/api/v1/notification-rules", params={"limit": "100"}))["items"]
        assert {"customer.owner_changed", "invoice.overdue", "invoice.dunning_step",
                "followup.due", "quote.submitted", "expense.submitted",
                "schedule.birthday"} <= {r["event_type"] for r in rules}
        r = admin.post("/api/v1/notification-rules", json={
            "name": "bad", "event_type": "invoice.overdue", "condition": "data.nope > 1",
            "recipients": ["owner"], "channels": ["inbox"], "template_id": good["id"]})
        assert r.status_code == 422 and r.json()["code"] == "invalid_condition"


def test_wechat_template_messages_reuse_one_access_token(
        platform: Platform, outside: Outside, company: dict[str, Any]) -> None:
    with platform.admin() as c:
        contact = _ok(c.post(f"/api/v1/customers/{company['customer']['id']}/contacts",
                             json={"name": "韩梅梅", "wechat_openid": "oABC-openid-1"}), 201)
    notify_knows(platform, contact_ids=[contact["id"]])
    with platform.admin() as admin:
        template = _marketing_template(admin)

        def send() -> None:
            _ok(admin.post("/api/v1/notifications", json={
                "template_id": template, "category": "transactional", "channels": ["wechat"],
                "recipients": {"contact_ids": [contact["id"]]}}), 201)

        def received(n: int) -> bool:
            return len([m for m in outside.wechat.sent if m["touser"] == "oABC-openid-1"]) >= n

        fetches = outside.wechat.token_fetches
        send()
        send()
        wait_until(lambda: received(2), 30, "two template messages")
        assert outside.wechat.token_fetches - fetches <= 1
        outside.wechat.revoke_token()  # WeChat ends it (another client fetched one)
        send()
        wait_until(lambda: received(3), 30, "a message with a new token")
        message = [m for m in outside.wechat.sent if m["touser"] == "oABC-openid-1"][-1]
        assert message["template_id"] == "tmpl-1"
        assert message["data"]["content"]["value"] == "韩梅梅，春季优惠开始了！"


def test_inbound_leads_are_signed_and_created_once(platform: Platform) -> None:
    from standardwebhooks import Webhook

    owner = platform.new_user(["sales_rep"], display_name="线索专员")
    _staff_known(platform, owner["token"], owner["id"])
    notify_knows(platform, user_ids=[owner["id"]])
    name = f"website{uuid.uuid4().hex[:6]}"
    with platform.admin() as admin:
        source = _ok(admin.post("/api/v1/inbound-sources", json={
            "name": name, "owner_id": owner["id"]}), 201)
    hook = Webhook(source["secret"])
    lead = {"id": "form-778", "name": f"深圳前海{uuid.uuid4().hex[:4]}贸易公司",
            "contact_name": "陈先生", "phone": "13912345678", "utm_source": "baidu"}
    body = json.dumps(lead, ensure_ascii=False)

    def post(raw: str, msg_id: str = "msg_1") -> httpx.Response:
        now = datetime.now(UTC)
        return httpx.post(f"{platform.base_url}/api/v1/inbound/{name}/leads",
                          content=raw.encode(), headers={
                              "content-type": "application/json", "webhook-id": msg_id,
                              "webhook-timestamp": str(int(now.timestamp())),
                              "webhook-signature": hook.sign(msg_id, now, raw)})

    first = _ok(post(body), 202)
    assert first["duplicate"] is False
    again = _ok(post(body, "msg_2"), 202)
    assert again == {**first, "duplicate": True}
    now = datetime.now(UTC)
    tampered = httpx.post(f"{platform.base_url}/api/v1/inbound/{name}/leads",
                          content=body.replace("陈先生", "黑客").encode(), headers={
                              "webhook-id": "msg_3",
                              "webhook-timestamp": str(int(now.timestamp())),
                              "webhook-signature": hook.sign("msg_3", now, body)})
    assert tampered.status_code == 403
    with platform.client(owner["token"]) as c:
        def leads() -> list[dict[str, Any]]:
            items = c.get("/api/v1/leads", params={"q": lead["name"]}).json()["items"]
            return list(items)
        found = wait_until(leads, 30, "the lead in sales")
    assert len(found) == 1
    assert found[0]["owner_id"] == owner["id"] and found[0]["source"] == f"inbound:{name}"
