"""Order-to-plan benchmark (issue: billing service).

Starts the platform on PostgreSQL (gateway, customer, sales, billing), creates orders
through the gateway, then confirms them — ``--orders`` (default 2,000) one after another,
then ``--burst`` (default 1,000) by eight concurrent clients — and measures for every
order the time from ``order.confirmed`` committed in sales to its payment plan committed
in billing, two ways:

- events: a plain AMQP subscriber timestamps ``order.confirmed`` (sales' outbox relay
  publishes it right after the commit) and ``payment_plan.created`` (billing's relay,
  right after the plan's commit); the difference is billing's reaction, commit included;
- database clocks: ``orders.confirmed_at`` (set just before sales' commit) to
  ``payment_plans.created_at`` (set as billing's handler starts the plan).

It also prints the sustained rate through the whole chain: orders confirmed through the
gateway (credit check RPC to billing included) until the last plan exists; the eight-
client burst shows that rate at saturation, where latency is mostly queueing.

    .venv/bin/python bench/billing.py [--orders 2000] [--burst 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from statistics import quantiles
from typing import Any

from kombu import Connection, Exchange, Queue
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.infra import wait_until  # noqa: E402
from tests.support.orders import confirm_orders, create_orders, seller  # noqa: E402
from tests.support.platform import running_platform  # noqa: E402


class Tap:
    """Arrival times of order.confirmed and payment_plan.created, by order id."""

    def __init__(self, amqp_uri: str) -> None:
        self.confirmed: dict[str, float] = {}
        self.planned: dict[str, float] = {}
        self._conn = Connection(amqp_uri)
        name = f"bench-tap-{uuid.uuid4().hex[:6]}"
        self._queues = [
            Queue(f"{name}-sales", Exchange("sales.events", type="topic", durable=True),
                  routing_key="order.confirmed", auto_delete=True),
            Queue(f"{name}-billing", Exchange("billing.events", type="topic", durable=True),
                  routing_key="payment_plan.created", auto_delete=True)]
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _on_message(self, body: str | bytes | dict[str, object], message: object) -> None:
        now = time.perf_counter()
        event: dict[str, Any] = body if isinstance(body, dict) else json.loads(body)
        order_id = event["data"]["order_id"]
        (self.confirmed if event["type"] == "order.confirmed" else self.planned)[order_id] = now
        message.ack()  # type: ignore[attr-defined]

    def _run(self) -> None:
        with self._conn.Consumer(self._queues, callbacks=[self._on_message],
                                 accept=["json", "text/plain", "application/json"]):
            self._ready.set()
            while not self._stop.is_set():
                try:
                    self._conn.drain_events(timeout=0.2)
                except TimeoutError:
                    continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.release()


def pct(values: list[float], p: int) -> float:
    return quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def db_latencies(sales_url: str, billing_url: str, order_ids: list[str]) -> list[float]:
    ids = set(order_ids)
    out: list[float] = []
    sales, billing = create_engine(sales_url), create_engine(billing_url)
    try:
        with sales.connect() as s, billing.connect() as b:
            confirmed = dict(s.execute(text("SELECT id, confirmed_at FROM orders "
                                            "WHERE confirmed_at IS NOT NULL")).all())
            for order_id, created in b.execute(text(
                    "SELECT order_id, created_at FROM payment_plans")).all():
                if order_id in ids:
                    out.append((created - confirmed[order_id]).total_seconds() * 1000)
    finally:
        sales.dispose()
        billing.dispose()
    return out


def report(label: str, tap: Tap, order_ids: list[str], sales_url: str, billing_url: str,
           confirm_seconds: float, first: float, last_plan: float) -> list[str]:
    events = [(tap.planned[o] - tap.confirmed[o]) * 1000 for o in order_ids
              if o in tap.planned and o in tap.confirmed]
    clocks = db_latencies(sales_url, billing_url, order_ids)
    rate = len(order_ids) / (last_plan - first)
    return [
        f"{label}: {len(order_ids)} orders confirmed in {confirm_seconds:.1f} s; "
        f"{rate:.0f} orders/s until the last plan",
        f"  events  order.confirmed -> payment_plan.created  n={len(events):<5} "
        f"p50 {pct(events, 50):6.1f} ms  p99 {pct(events, 99):6.1f} ms  "
        f"max {max(events):6.1f} ms",
        f"  clocks  orders.confirmed_at -> plans.created_at  n={len(clocks):<5} "
        f"p50 {pct(clocks, 50):6.1f} ms  p99 {pct(clocks, 99):6.1f} ms  "
        f"max {max(clocks):6.1f} ms",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=1000, help="orders by eight clients")
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, running_platform(
        Path(tmp), ["customer", "sales", "billing"], CRM_RATE_LIMIT_PER_SECOND="1000000",
        CRM_RATE_LIMIT_BURST="1000000", CRM_LOG_LEVEL="WARNING", default_pools=True,
        CRM_BILLING_TIMER_SECONDS=os.environ.get("CRM_BILLING_TIMER_SECONDS", "60"),
    ) as platform:
        who = seller(platform, customers=50)
        tap = Tap(platform.amqp_uri)
        try:
            for label, n, clients in (("1 client", args.orders, 1),
                                      ("8 clients", args.burst, 8)):
                order_ids = create_orders(platform, who, n)
                time.sleep(1)  # let the creation traffic settle
                first = time.perf_counter()
                result = confirm_orders(platform, who, order_ids, concurrency=clients)
                wait_until(lambda ids=order_ids: all(o in tap.planned for o in ids),  # type: ignore[misc]
                           120, "every plan")
                last_plan = max(tap.planned[o] for o in order_ids)
                lines += report(label, tap, order_ids, platform.db_urls["sales"],
                                platform.db_urls["billing"], result["seconds"], first,
                                last_plan)
        finally:
            tap.close()
    print("\norder.confirmed in sales -> payment plan committed in billing\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
