"""Notification benchmark (issue: notifications and outbound webhooks).

Starts the gateway and the notification service on PostgreSQL, with what is outside
running in this process: ten webhook subscribers (HTTP servers on local ports) and an
SMTP server (aiosmtpd). Then, in one run:

- webhooks: ``--events`` CloudEvents (``invoice.issued``) published to
  ``billing.events`` as billing's relay does; every subscriber takes ``invoice.*``, so
  each event becomes ten signed deliveries. Rate = deliveries received by the
  subscribers per second, from the first event published to the last delivery.
- email: ``--emails`` events of a type a rule turns into one email each (to a user's
  address), the same way to the SMTP server. Rate = messages received per second.
- raw: the same clients without the platform — the service's webhook client signing
  and posting the same bodies, the service's SMTP client sending the same messages —
  with as many threads as the service has senders, to the same receivers.

    .venv/bin/python bench/notify.py [--events 500] [--emails 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kombu import Connection, Exchange, Producer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crm_platform import webhook_signing  # noqa: E402
from crm_platform.events import CloudEvent  # noqa: E402

from services.notify.channels import OutgoingMessage  # noqa: E402
from services.notify.channels.smtp import SmtpMailer  # noqa: E402
from services.notify.channels.webhook_http import WebhookClient  # noqa: E402
from services.notify.settings import NotifySettings  # noqa: E402
from tests.support.infra import wait_until  # noqa: E402
from tests.support.platform import Platform, running_platform  # noqa: E402
from tests.support.receivers import HttpReceiver, Request, SmtpSink  # noqa: E402

SUBSCRIBERS = 10
SENDERS = 4


def _ok(_: Request) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, b"ok"


def publish(amqp_uri: str, source: str, events: list[CloudEvent]) -> None:
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel(), exchange=Exchange(f"{source}.events", type="topic",
                                                              durable=True))
        for event in events:
            producer.publish(event.model_dump_json(), routing_key=event.type,
                             content_type="application/json", delivery_mode=2)


def invoice_event(i: int) -> CloudEvent:
    return CloudEvent(source="/crm/billing", type="invoice.issued", subject=str(i), data={
        "id": str(uuid.uuid4()), "number": f"INV-2026-{i}", "type": "vat_ordinary",
        "customer_id": str(uuid.uuid4()), "currency": "CNY", "amount": "1200.00",
        "tax_amount": "138.05", "issue_date": "2026-01-01", "due_date": "2026-02-01"})


def timed(total: int, count: Callable[[], int], start: Callable[[], None]) -> float:
    began = time.perf_counter()
    start()
    wait_until(lambda: count() >= total, 1800, f"{total} arrivals", interval=0.02)
    return time.perf_counter() - began


def in_threads(work: Callable[[int], None], total: int) -> None:
    def run(offset: int) -> None:
        for i in range(offset, total, SENDERS):
            work(i)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def bench_webhooks(platform: Platform, hooks: list[HttpReceiver], n: int) -> dict[str, float]:
    with platform.admin() as admin:
        secrets = [admin.post("/api/v1/webhooks", json={
            "url": f"{h.url}/in", "event_types": ["invoice.*"]}).json()["secret"]
            for h in hooks]
    events = [invoice_event(i) for i in range(n)]
    received = lambda: sum(len(h.received("/in")) for h in hooks)  # noqa: E731
    platform_s = timed(n * SUBSCRIBERS, received,
                       lambda: publish(platform.amqp_uri, "billing", events))
    client = WebhookClient([f"127.0.0.1:{h.port}" for h in hooks], 5, 15, 65536)
    bodies = [e.model_dump_json().encode() for e in events]
    before = received()

    def post(i: int) -> None:
        body, hook = bodies[i // SUBSCRIBERS], hooks[i % SUBSCRIBERS]
        msg_id, ts = f"msg_{i}", int(time.time())
        client.post(f"{hook.url}/in", {
            "webhook-id": msg_id, "webhook-timestamp": str(ts), "content-type":
            "application/json", "webhook-signature": webhook_signing.signature_header(
                [secrets[i % SUBSCRIBERS]], msg_id, ts, body)}, body)
    raw_s = timed(before + n * SUBSCRIBERS, received,
                  lambda: in_threads(post, n * SUBSCRIBERS))
    client.close()
    return {"deliveries": n * SUBSCRIBERS, "platform": n * SUBSCRIBERS / platform_s,
            "raw": n * SUBSCRIBERS / raw_s}


def bench_email(platform: Platform, smtp: SmtpSink, n: int) -> dict[str, float]:
    address = f"bench-{uuid.uuid4().hex[:6]}@bench.test"
    user = platform.new_user(["sales_rep"], display_name="压测", email=address)
    with platform.admin() as admin:
        template = admin.post("/api/v1/templates", json={
            "name": "bench", "bodies": {"zh-CN": {
                "subject": "第 {{ data.n }} 封", "text": "您好 {{ recipient.name }}",
                "html": "<p>您好 {{ recipient.name }}</p>"}}}).json()["id"]
        admin.post("/api/v1/notification-rules", json={
            "name": "bench", "event_type": "bench.mail", "recipients": ["owner"],
            "channels": ["email"], "template_id": template})
        # the user's copy is in notify when a message to them is accepted
        wait_until(lambda: admin.post("/api/v1/notifications", json={
            "template_id": template, "category": "transactional", "channels": ["inbox"],
            "recipients": {"user_ids": [user["id"]]}}).status_code == 201, 60, "staff copy")
    events = [CloudEvent(source="/crm/billing", type="bench.mail", subject=str(i),
                         data={"owner_id": user["id"], "n": i}) for i in range(n)]
    received = lambda: len(smtp.messages)  # noqa: E731
    before = received()
    platform_s = timed(before + n, received,
                       lambda: publish(platform.amqp_uri, "billing", events))
    settings = NotifySettings(CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=smtp.port,
                              CRM_SMTP_TLS="none")
    mailers = [SmtpMailer(settings) for _ in range(SENDERS)]
    before = received()

    def send(i: int) -> None:
        mailers[i % SENDERS].send(OutgoingMessage(
            str(uuid.uuid4()), "email", address, "压测", f"第 {i} 封", "您好 压测",
            "<p>您好 压测</p>"))
    raw_s = timed(before + n, received, lambda: in_threads(send, n))
    for mailer in mailers:
        mailer.close()
    return {"emails": n, "platform": n / platform_s, "raw": n / raw_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--emails", type=int, default=1000)
    args = parser.parse_args()
    smtp = SmtpSink().start()
    hooks = [HttpReceiver(_ok).start() for _ in range(SUBSCRIBERS)]
    load = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory() as tmp, running_platform(
                Path(tmp), ["notify"], default_pools=True,
                CRM_SMTP_HOST="127.0.0.1", CRM_SMTP_PORT=str(smtp.port), CRM_SMTP_TLS="none",
                CRM_NOTIFY_SENDERS=str(SENDERS), CRM_WEBHOOK_SENDERS=str(SENDERS),
                CRM_WEBHOOK_ALLOWED_HOSTS=",".join(f"127.0.0.1:{h.port}" for h in hooks),
                CRM_LOG_LEVEL="WARNING") as platform:
            hook = bench_webhooks(platform, hooks, args.events)
            mail = bench_email(platform, smtp, args.emails)
    finally:
        smtp.stop()
        for h in hooks:
            h.stop()
    print(f"notify benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average before "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| what | n | platform (/s) | raw client (/s) |")
    print("|---|---|---|---|")
    print(f"| events → signed webhook deliveries, {SUBSCRIBERS} subscribers | "
          f"{hook['deliveries']:.0f} | {hook['platform']:.0f} | {hook['raw']:.0f} |")
    print(f"| events → emails to aiosmtpd | {mail['emails']:.0f} | {mail['platform']:.0f} | "
          f"{mail['raw']:.0f} |")


if __name__ == "__main__":
    main()
