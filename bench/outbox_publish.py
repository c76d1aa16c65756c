"""Outbox publisher benchmark: CPU and time per event of ``ConfirmedPublisher.publish_batch``
(the relay's path), in batches of the relay's size, against the local broker on its own
vhost, with a queue bound as a subscribing service's would be.

    .venv/bin/python bench/outbox_publish.py [--events 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crm_platform.amqp import ConfirmedPublisher, Outgoing  # noqa: E402
from kombu import Connection, Exchange, Queue  # noqa: E402

from tests.support.infra import Vhost  # noqa: E402

BATCH = 500  # the relay's batch_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    vhost = Vhost()
    try:
        exchange = Exchange("customer.events", type="topic", durable=True)
        with Connection(vhost.uri) as conn:
            Queue("subscriber", exchange, routing_key="customer.created",
                  durable=True)(conn.channel()).declare()
        # an event as the customer service's outbox holds it (CloudEvent JSON, headers)
        body = json.dumps({"specversion": "1.0", "type": "customer.created",
                           "source": "customer", "id": str(uuid.uuid4()),
                           "data": {"id": str(uuid.uuid4()), "name": "南通海同新科技有限公司",
                                    "phones": ["+8618715595679"], "tags": []}})
        headers = {"ce_id": "x", "ce_type": "customer.created", "ce_source": "customer",
                   "nameko.correlation_id": str(uuid.uuid4())}
        publisher = ConfirmedPublisher(vhost.uri)
        try:
            publisher.publish_batch([Outgoing(exchange.name, "customer.created", body, headers)])
            for n in range(1, args.rounds + 1):
                batches = [[Outgoing(exchange.name, "customer.created", body, headers,
                                     str(uuid.uuid4())) for _ in range(BATCH)]
                           for _ in range(max(1, args.events // BATCH))]
                events = sum(len(b) for b in batches)
                cpu, wall = time.process_time(), time.perf_counter()
                for batch in batches:
                    publisher.publish_batch(batch)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                print(f"round {n}: {events} events in batches of {BATCH}: "
                      f"{1e6 * cpu / events:5.1f} us CPU and {1e6 * wall / events:5.1f} us "
                      f"until confirmed per event ({events / wall:,.0f} events/s)",
                      flush=True)
        finally:
            publisher.close()
    finally:
        vhost.delete()


if __name__ == "__main__":
    main()
