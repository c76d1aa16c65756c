"""Outbound webhooks end to end (NTF-07): a subscriber on ``invoice.*`` gets the
platform's events signed as Standard Webhooks, verified here by the reference
``standardwebhooks`` library; retries after a 500; replays; the SSRF guard."""

from __future__ import annotations

import json
import uuid
from collections import deque
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import Outside
from tests.support.infra import wait_until
from tests.support.platform import Platform


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def _verified(secret: str, request: Any) -> dict[str, Any]:
    event = Webhook(secret).verify(request.body, request.headers)
    return dict(event)


def _issue_invoice(admin: httpx.Client) -> dict[str, Any]:
    customer = _ok(admin.post("/api/v1/customers", json={
        "name": f"南京{uuid.uuid4().hex[:6]}电子有限公司", "kind": "company"}), 201)

    def issued() -> dict[str, Any] | None:
        r = admin.post("/api/v1/invoices", json={
            "customer_id": customer["id"], "type": "vat_ordinary", "currency": "CNY",
            "due_date": (date.today() + timedelta(days=30)).isoformat(),
            "lines": [{"description": "年度服务费", "unit_price": "1200.00"}]})
        return r.json() if r.status_code == 201 else None
    return dict(wait_until(issued, 30, "billing knows the customer"))


def test_a_subscriber_on_invoice_star_gets_signed_events_with_retries_and_replays(
        platform: Platform, outside: Outside) -> None:
    path = f"/hooks/{uuid.uuid4().hex[:8]}"
    outside.scripts[path] = deque([500])  # the first attempt fails
    with platform.admin() as admin:
        endpoint = _ok(admin.post("/api/v1/webhooks", json={
            "url": outside.hook_url(path), "event_types": ["invoice.*"],
            "description": "ERP"}), 201)
        secret = endpoint["secret"]
        assert secret.startswith("whsec_")
        assert "secret" not in _ok(admin.get(f"/api/v1/webhooks/{endpoint['id']}"))
        invoice = _issue_invoice(admin)

        def for_invoice() -> list[Any]:
            return [r for r in outside.hooks.received(path)
                    if json.loads(r.body)["data"].get("id") == invoice["id"]]
        attempts = wait_until(lambda: len(for_invoice()) >= 2 and for_invoice(), 60,
                              "a retry after the 500")
        events = [_verified(secret, r) for r in attempts]
        assert {e["type"] for e in events} == {"invoice.issued"}
        assert events[0]["source"] == "/crm/billing" and events[0]["specversion"] == "1.0"
        assert len({r.headers["webhook-id"] for r in attempts}) == 1  # one idempotency key
        # only invoice.* reaches it: the customer.created before it did not
        assert all(json.loads(r.body)["type"].startswith("invoice.")
                   for r in outside.hooks.received(path))

        def log() -> dict[str, Any]:
            items = _ok(admin.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries"))["items"]
            return next(d for d in items if d["event_type"] == "invoice.issued")
        delivery = wait_until(lambda: log()["status"] == "succeeded" and log(), 30, "success")
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
        assert delivery["id"] == attempts[0].headers["webhook-id"]

        _ok(admin.post(f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}"
                       "/replay"))
        wait_until(lambda: len(for_invoice()) >= 3, 30, "the replay")
        since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        replayed = _ok(admin.post(f"/api/v1/webhooks/{endpoint['id']}/replay",
                                  json={"since": since}))
        assert replayed["replayed"] >= 1
        wait_until(lambda: len(for_invoice()) >= 4, 30, "the replay since a time")
        for request in for_invoice():
            _verified(secret, request)
            assert request.headers["webhook-id"] == delivery["id"]
        assert [a["trigger"] for a in log()["attempt_log"]][:3] == ["first", "retry", "replay"]


def test_secret_rotation_signs_with_both_secrets_during_the_overlap(
        platform: Platform, outside: Outside) -> None:
    path = f"/hooks/{uuid.uuid4().hex[:8]}"
    with platform.admin() as admin:
        endpoint = _ok(admin.post("/api/v1/webhooks", json={
            "url": outside.hook_url(path), "event_types": ["invoice.issued"]}), 201)
        rotated = _ok(admin.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret",
                                 json={"overlap_hours": 1}))
        assert rotated["secret"] != endpoint["secret"]
        _issue_invoice(admin)
        (request,) = wait_until(lambda: outside.hooks.received(path), 30, "a delivery")[:1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    _verified(endpoint["secret"], request)  # receivers not yet switched still verify
    _verified(rotated["secret"], request)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://10.0.0.5/", "http://192.168.1.10:8080/hook", "http://2130706433/",
    "http://0177.0.0.1/", "http://0x7f000001/", "http://localhost:9000/",
    "http://[::ffff:127.0.0.1]/", "http://100.100.100.200/", "http://metadata.google.internal/",
    "file:///etc/passwd", "http://user:pw@example.com/",
])
def test_the_ssrf_guard_refuses_internal_addresses(platform: Platform, url: str) -> None:
    with platform.admin() as admin:
        r = admin.post("/api/v1/webhooks", json={"url": url, "event_types": ["*"]})
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("webhook_url_refused", "validation_failed")
