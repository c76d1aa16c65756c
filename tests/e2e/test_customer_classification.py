"""Classification recomputed from other services' events (CUS-11). The sales and billing
services are played by a plain AMQP publisher sending their documented events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from crm_platform.amqp import ConfirmedPublisher
from crm_platform.events import CloudEvent

from tests.e2e.test_customers import _staff_known
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _send(platform: Platform, source: str, event_type: str, data: dict[str, Any]) -> str:
    event = CloudEvent(source=f"/crm/{source}", type=event_type, data=data)
    publisher = ConfirmedPublisher(platform.amqp_uri)
    try:
        body = event.model_dump_json()
        # delivered twice on purpose: the effect must happen once
        for _ in range(2):
            publisher.publish(exchange=f"{source}.events", routing_key=event_type, body=body,
                              message_id=event.id)
    finally:
        publisher.close()
    return event.id


def test_orders_and_payments_drive_revenue_tier_and_stage(platform: Platform) -> None:
    rep = platform.new_user(["sales_rep"])
    _staff_known(platform, rep["token"], rep["id"])
    with platform.client(rep["token"]) as c:
        big = c.post("/api/v1/customers", json={"name": f"大客户{uuid.uuid4().hex[:5]}",
                                                "kind": "company"}).json()
        small = c.post("/api/v1/customers", json={"name": f"小客户{uuid.uuid4().hex[:5]}",
                                                  "kind": "company"}).json()
        assert big["classification"]["stage"] == "prospect"
    now = datetime.now(UTC).isoformat()
    for customer, amount in ((big, "1200000.00"), (small, "50.00")):
        order_id = str(uuid.uuid4())
        _send(platform, "sales", "order.confirmed", {
            "id": order_id, "customer_id": customer["id"], "amount": amount,
            "currency": "CNY", "confirmed_at": now})
        _send(platform, "billing", "payment.received", {
            "payment_id": str(uuid.uuid4()), "customer_id": customer["id"], "amount": amount,
            "currency": "CNY", "method": "bank_transfer", "received_at": now,
            "allocations": [{"invoice_id": str(uuid.uuid4()), "order_id": order_id,
                             "amount": amount}]})
    with platform.client(rep["token"]) as c:
        def classified() -> dict[str, Any] | None:
            data = c.get(f"/api/v1/customers/{big['id']}").json()["classification"]
            return data if Decimal(data["paid_revenue"]) > 0 else None
        got = wait_until(classified, 20, "payment applied")
        assert Decimal(got["paid_revenue"]) == Decimal("1200000.00")  # applied once
        assert got["paid_orders"] == 1
        assert got["stage"] == "active" and got["volume_class"] == "key_account"
    with platform.admin() as admin:
        assert admin.post("/api/v1/customers/classification/recompute").status_code == 200
        tiers = {x: admin.get(f"/api/v1/customers/{x}").json()["classification"]["tier"]
                 for x in (big["id"], small["id"])}
        assert tiers[big["id"]] == "A"
        assert admin.get("/api/v1/classification-settings").json()["a_share"] == 0.2
    with platform.client(rep["token"]) as c:
        assert c.post("/api/v1/customers/classification/recompute").status_code == 403
        found = c.get("/api/v1/customers", params={"tier": "A"}).json()["items"]
        assert big["id"] in {x["id"] for x in found}
