"""Billing scaled out as the production manifests run it (PLT-05): two instances started
by the image's entrypoint (``bin/procfile-run billing``, supervision off, one ops port and
``DATABASE_URL`` each, as two pods) share billing's queues while orders are confirmed;
one gets SIGTERM mid-stream, as a rollout or a scale-down sends it, and no event is lost
or applied twice."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu import Connection
from sqlalchemy import create_engine, text

from tests.support.infra import REPO, Proc, free_port, wait_until
from tests.support.orders import confirm_orders, create_orders, seller
from tests.support.platform import Platform, running_platform

ORDERS = 300
CONFIRMED_QUEUE = "evt-sales-order.confirmed--billing.on_order_confirmed"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(Path(tmp_path_factory.mktemp("scaled-billing")),
                          ["customer", "sales", "billing"],
                          CRM_RATE_LIMIT_PER_SECOND="100000",
                          CRM_RATE_LIMIT_BURST="100000") as running:
        yield running


def _scalar(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def _queued(platform: Platform, queue: str) -> int:
    with Connection(platform.amqp_uri) as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


def _applied(port: int) -> float:
    """One instance's own count of order.confirmed events it applied (its /metrics)."""
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    wanted = ('service="billing"', 'type="order.confirmed"', 'outcome="applied"')
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("crm_events_consumed_total{")
               and all(label in line for label in wanted))


def _pod(platform: Platform, name: str, log_dir: Path) -> tuple[Proc, int]:
    """A billing 'pod': the container's command and environment (deploy/k8s)."""
    port = free_port()
    env = {k: v for k, v in platform.env.items() if not k.endswith("_DATABASE_URL")}
    env.update(DATABASE_URL=platform.db_urls["billing"], CRM_SUPERVISE="0",
               CRM_OPS_PORT=str(port))
    proc = Proc(name, [str(REPO / "bin" / "procfile-run"), "billing"], env,
                log_dir / f"{name}.log")
    proc.start()
    return proc, port


def test_two_billing_pods_share_the_load_and_a_sigterm_loses_no_event(
        platform: Platform, tmp_path: Path) -> None:
    platform.procs["billing"].stop()  # the billing the harness started: pods replace it
    pods = [_pod(platform, f"billing-pod-{i}", tmp_path) for i in range(2)]
    try:
        for proc, port in pods:
            def ready(port: int = port) -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/readyz",
                                     timeout=2).status_code == 200
                except httpx.TransportError:
                    return False
            try:
                wait_until(ready, 90, f"{proc.name} ready")
            except TimeoutError:
                raise AssertionError(proc.log_tail()) from None

        who = seller(platform)
        orders = create_orders(platform, who, ORDERS)
        billing_db = platform.db_urls["billing"]
        result: dict[str, Any] = {}
        confirming = threading.Thread(
            target=lambda: result.update(confirm_orders(platform, who, orders,
                                                        give_up_after=240)),
            daemon=True)
        confirming.start()

        # both pods take events from the one queue (competing consumers)
        wait_until(lambda: all(_applied(port) > 0 for _, port in pods), 180,
                   "both pods applied order.confirmed events")
        stopped, _ = pods[0]
        plans_at_stop = _scalar(billing_db, "SELECT count(*) FROM payment_plans")
        stopped.kill(signal.SIGTERM)
        assert stopped.popen is not None
        assert stopped.popen.returncode == 0, stopped.log_tail()  # a graceful stop

        confirming.join(300)
        assert not confirming.is_alive(), "confirmations did not finish"
        wait_until(lambda: _scalar(billing_db, "SELECT count(DISTINCT event_id) FROM inbox "
                                   "WHERE event_type = 'order.confirmed'") >= ORDERS,
                   180, "every order.confirmed consumed")
        assert _scalar(billing_db, "SELECT count(*) FROM payment_plans") == ORDERS
        assert _scalar(billing_db,
                       "SELECT count(DISTINCT order_id) FROM payment_plans") == ORDERS
        assert _scalar(billing_db, "SELECT count(*) FROM invoices") == ORDERS
        assert _queued(platform, CONFIRMED_QUEUE + ".dlq") == 0
        # the stop came mid-stream: the surviving pod finished the rest
        assert plans_at_stop < ORDERS
        print(f"{ORDERS} orders in {result.get('seconds', 0):.1f} s; SIGTERM at "
              f"{plans_at_stop} plans")
    finally:
        for proc, _ in pods:
            proc.kill(signal.SIGTERM)
        platform.procs["billing"].start()  # the module's teardown expects it
