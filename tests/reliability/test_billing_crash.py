"""Billing killed with SIGKILL twice while 500 orders are confirmed in sales, then
restarted: exactly 500 payment plans and no invoice number used twice (issue: billing)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.infra import wait_until
from tests.support.orders import confirm_orders, create_orders, seller
from tests.support.platform import Platform, running_platform

ORDERS = 500


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(Path(tmp_path_factory.mktemp("billing-crash")),
                          ["customer", "sales", "billing"],
                          CRM_RATE_LIMIT_PER_SECOND="100000",
                          CRM_RATE_LIMIT_BURST="100000") as running:
        yield running


def _billing_refused(platform: Platform, token: str) -> bool:
    with platform.client(token) as c:
        return c.get("/api/v1/invoices", params={"limit": "1"}).status_code == 503


def _scalar(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def test_billing_killed_twice_while_orders_are_confirmed(platform: Platform) -> None:
    who = seller(platform)
    orders = create_orders(platform, who, ORDERS)
    billing = platform.procs["billing"]
    billing_db = platform.db_urls["billing"]
    kills: list[int] = []

    def chaos() -> None:
        # kill when billing has made some plans (mid-stream), twice
        for threshold in (60, 250):
            wait_until(lambda t=threshold: _scalar(  # type: ignore[misc]
                billing_db, "SELECT count(*) FROM payment_plans") >= t, 180, "plans")
            billing.kill()
            kills.append(_scalar(billing_db, "SELECT count(*) FROM payment_plans"))
            # down until the platform answers without it: confirmations in flight wait in
            # billing's queue, and new ones are refused (503) and retried
            wait_until(lambda: _billing_refused(platform, who.token), 60, "billing seen down")
            billing.start()
            platform.wait_service_ready("billing")

    killer = threading.Thread(target=chaos, daemon=True)
    killer.start()
    result = confirm_orders(platform, who, orders, give_up_after=240)
    killer.join(240)
    assert len(kills) == 2, "billing was not killed twice"
    # every order.confirmed in billing's inbox: a redelivery from now on has no effect
    wait_until(lambda: _scalar(billing_db, "SELECT count(DISTINCT event_id) FROM inbox "
                               "WHERE event_type = 'order.confirmed'") >= ORDERS,
               120, "every order.confirmed consumed")
    assert _scalar(billing_db, "SELECT count(*) FROM payment_plans") == ORDERS
    assert _scalar(billing_db, "SELECT count(DISTINCT order_id) FROM payment_plans") == ORDERS
    invoices = _scalar(billing_db, "SELECT count(*) FROM invoices")
    assert invoices == ORDERS  # the 30 % due on confirmation, invoiced once per order
    assert _scalar(billing_db, "SELECT count(DISTINCT number) FROM invoices") == invoices
    assert _scalar(platform.db_urls["sales"],
                   "SELECT count(*) FROM orders WHERE status = 'confirmed'") == ORDERS
    print(f"confirmed {ORDERS} orders in {result['seconds']:.1f} s with "
          f"{result['retries']} retried confirmations; killed at {kills} plans")
