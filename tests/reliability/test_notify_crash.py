"""The notification service killed with SIGKILL twice during a burst, and two replicas
running the care calendar at once (NTF-03, NTF-06, NTF-07), counted at the receivers:
every message reaches the SMTP server and every webhook its subscriber, once per
Message-ID / webhook-id; the calendar greets each contact exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.test_customers import _staff_known
from tests.support.infra import free_port, service_proc, wait_until
from tests.support.platform import Platform, running_platform
from tests.support.receivers import HttpReceiver, Request, SmtpSink

CUSTOMERS = 150


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[SmtpSink, HttpReceiver]]:
    def ok(_: Request) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, b"ok"

    smtp, hooks = SmtpSink().start(), HttpReceiver(ok).start()
    try:
        yield smtp, hooks
    finally:
        smtp.stop()
        hooks.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory,
             receivers: tuple[SmtpSink, HttpReceiver]) -> Iterator[Platform]:
    smtp, hooks = receivers
    with running_platform(Path(tmp_path_factory.mktemp("notify-crash")),
                          ["customer", "notify"],
                          CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=str(smtp.port),
                          CRM_SMTP_TLS="none", CRM_NOTIFY_POLL_SECONDS="0.2",
                          CRM_NOTIFY_SCHEDULER_SECONDS="1",
                          CRM_WEBHOOK_ALLOWED_HOSTS=f"127.0.0.1:{hooks.port}",
                          CRM_RATE_LIMIT_PER_SECOND="100000",
                          CRM_RATE_LIMIT_BURST="100000") as running:
        yield running


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def _known_to_notify(platform: Platform, contact_id: str) -> None:
    with platform.admin() as admin:
        template = _ok(admin.post("/api/v1/templates", json={
            "name": f"probe-{uuid.uuid4().hex[:4]}",
            "bodies": {"zh-CN": {"text": "探针"}}}), 201)["id"]
        wait_until(lambda: admin.post("/api/v1/notifications", json={
            "template_id": template, "category": "transactional", "channels": ["inbox"],
            "recipients": {"contact_ids": [contact_id]}}).status_code == 201, 60,
            "notify's copy of the contacts")


def test_notify_killed_during_a_burst_sends_every_message_once(
        platform: Platform, receivers: tuple[SmtpSink, HttpReceiver]) -> None:
    smtp, hooks = receivers
    rep = platform.new_user(["sales_rep"], display_name="刘备")
    successor = platform.new_user(["sales_rep"], display_name="关羽")
    for user in (rep, successor):
        _staff_known(platform, user["token"], user["id"])
    addresses = []
    with platform.client(rep["token"]) as c:
        for i in range(CUSTOMERS):
            customer = _ok(c.post("/api/v1/customers", json={
                "name": f"蜀汉{i}-{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
            address = f"contact{i}-{uuid.uuid4().hex[:6]}@burst.test"
            contact = _ok(c.post(f"/api/v1/customers/{customer['id']}/contacts",
                                 json={"name": f"联系人{i}", "email": address}), 201)
            addresses.append(address)
    _known_to_notify(platform, contact["id"])
    with platform.admin() as admin:
        _ok(admin.post("/api/v1/webhooks", json={
            "url": f"{hooks.url}/burst", "event_types": ["customer.owner_changed"]}), 201)
        _ok(admin.post("/api/v1/customers/handover", json={
            "from_user_id": rep["id"], "to_user_id": successor["id"]}))
    notify = platform.procs["notify"]
    kills: list[int] = []

    def handover_mails() -> list[Any]:
        return [m for m in list(smtp.messages) if str(m["To"]).endswith("@burst.test>")
                or "@burst.test" in str(m["To"])]

    def chaos() -> None:
        for threshold in (CUSTOMERS // 5, CUSTOMERS // 2):
            wait_until(lambda t=threshold: len(handover_mails()) >= t, 120,  # type: ignore[misc]
                       "mail flowing")
            notify.kill()
            kills.append(len(handover_mails()))
            time.sleep(1)
            notify.start()
            platform.wait_service_ready("notify")

    killer = threading.Thread(target=chaos, daemon=True)
    killer.start()
    killer.join(300)
    assert len(kills) == 2, "notify was not killed twice"
    wait_until(lambda: len({str(m["Message-ID"]) for m in handover_mails()}) >= CUSTOMERS,
               180, "every handover email")
    wait_until(lambda: len({r.headers["webhook-id"] for r in hooks.received("/burst")})
               >= CUSTOMERS, 180, "every webhook")
    mails = handover_mails()
    per_message = Counter(str(m["Message-ID"]) for m in mails)
    per_webhook = Counter(r.headers["webhook-id"] for r in hooks.received("/burst"))
    assert {a for m in mails for a in [str(m["To"]).split("<")[-1].rstrip(">")]} \
        == set(addresses)
    print(f"killed at {kills} emails; {len(mails)} emails for {len(per_message)} messages, "
          f"{sum(per_webhook.values())} webhook requests for {len(per_webhook)} ids")
    # Every message arrived. A kill can repeat only what a sender had handed to the
    # receiver and not yet committed as sent — at most one per sender (4 of each kind)
    # per kill — and a repeat carries the same Message-ID / webhook-id, the key
    # receivers drop repeats by (SMTP has no other; Standard Webhooks relies on it).
    senders = 4
    assert sum(n - 1 for n in per_message.values()) <= len(kills) * senders
    assert sum(n - 1 for n in per_webhook.values()) <= len(kills) * senders


def test_two_replicas_send_each_birthday_greeting_once(
        platform: Platform, receivers: tuple[SmtpSink, HttpReceiver],
        tmp_path: Path) -> None:
    smtp, _ = receivers
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    second = service_proc("notify", platform.env, tmp_path, free_port())
    second.start()
    try:
        with platform.admin() as admin:
            (rule,) = _ok(admin.get("/api/v1/notification-rules",
                                    params={"event_type": "schedule.birthday"}))["items"]
            # greet from the day's start, so the test does not depend on the hour
            _ok(admin.patch(f"/api/v1/notification-rules/{rule['id']}",
                            json={"timing": {"field": "date", "at": "00:00"}}))
            # nor on the hour's quiet period, which would hold the greetings till morning
            _ok(admin.put("/api/v1/notification-settings", json={
                "timezone": "Asia/Shanghai", "quiet_hours": None, "caps": []}))
            customer = _ok(admin.post("/api/v1/customers", json={
                "name": f"寿星{uuid.uuid4().hex[:6]}公司", "kind": "company"}), 201)
            addresses = []
            for i in range(20):
                address = f"birthday{i}-{uuid.uuid4().hex[:6]}@care.test"
                _ok(admin.post(f"/api/v1/customers/{customer['id']}/contacts", json={
                    "name": f"寿星{i}", "email": address,
                    "birthday": f"{1980 + i}-{today:%m-%d}"}), 201)
                addresses.append(address)
        # both replicas run the calendar every second while the contacts arrive
        wait_until(lambda: all(smtp.to(a) for a in addresses), 120, "every greeting")
        platform.procs["notify"].restart()  # a restart greets nobody again
        platform.wait_service_ready("notify")
        with platform.admin() as admin:
            rerun = _ok(admin.post("/api/v1/notification-jobs/run", json={}))
        assert rerun["calendar"] == 0
    finally:
        second.stop()
    assert [len(smtp.to(a)) for a in addresses] == [1] * len(addresses)
