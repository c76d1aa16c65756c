"""Service desk benchmark (issue #21).

Starts the platform on PostgreSQL (gateway, customer and service desk services; fresh
databases and vhost) and measures, in one run and beside the gateway's own ceiling
(``GET /healthz``: no authentication, no RPC):

- ticket create through the gateway (``POST /api/v1/tickets``, a service agent's token:
  the SLA policy lookup, three clocks, the yearly number, the outbox) at 1 and 8
  concurrent clients, p50 / p99;
- after ``--tickets`` (default 100,000) open tickets with their SLA clocks are COPYed
  into the service desk's database: the ticket list by due time
  (``GET /api/v1/tickets?sort=due``) and the breach sweep (``POST
  /api/v1/service-desk/sla-sweep``, which runs the timer's sweep in one replica) —
  with nothing due (the sweep every replica runs every few seconds), and with 100 and
  1,000 clocks past due (each a breach row, an outbox event, an escalation).

The service desk's own timer is set to an hour so that only the measured sweeps run.

    .venv/bin/python bench/service_desk.py [--tickets 100000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.loadgen import Result, run  # noqa: E402
from tests.support.platform import running_platform  # noqa: E402

LEVELS = (1, 8)
SWEEP_TARGET_S = 1.0
CATEGORIES = ("consultation", "fault", "complaint", "suggestion")
PRIORITIES = ("low", "normal", "high", "urgent")


def load_tickets(db_url: str, total: int, customer_id: str, created_by: str) -> float:
    """COPY ``total`` open tickets, each with first-response and resolution clocks due
    from one hour to thirty days ahead (none past due); seconds taken with ANALYZE."""
    rng = random.Random(21)
    now = datetime.now(UTC)
    started = time.perf_counter()
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            batch = 50_000
            for offset in range(0, total, batch):
                tickets, clocks = io.StringIO(), io.StringIO()
                for n in range(offset, min(offset + batch, total)):
                    ticket_id = str(uuid.uuid4())
                    received = now - timedelta(minutes=rng.uniform(0, 600))
                    first_due = now + timedelta(minutes=rng.uniform(60, 600))
                    resolution_due = now + timedelta(hours=rng.uniform(24, 720))
                    status = rng.choice(("new", "open", "open", "pending"))
                    tickets.write("\t".join([
                        ticket_id, f"TK-1999-{n:07d}", customer_id, "free",
                        rng.choice(CATEGORIES), "phone", rng.choice(PRIORITIES),
                        "bench ticket", received.isoformat(), status, created_by, "staff",
                        "0", "0", "default", first_due.isoformat(), "f", "1",
                        received.isoformat(), received.isoformat()]) + "\n")
                    for target, due, minutes in (("first_response", first_due, 240),
                                                 ("resolution", resolution_due, 1440)):
                        clocks.write("\t".join([
                            ticket_id, target, str(minutes), "t", "0", received.isoformat(),
                            "0", due.isoformat()]) + "\n")
                tickets.seek(0)
                clocks.seek(0)
                cur.copy_from(tickets, "tickets", columns=(
                    "id", "number", "customer_id", "kind", "category", "channel", "priority",
                    "subject", "received_at", "status", "created_by", "source",
                    "reopened_count", "escalation_level", "sla_policy_name", "due_key",
                    "breached", "version", "created_at", "updated_at"))
                cur.copy_from(clocks, "sla_clocks", columns=(
                    "ticket_id", "target", "budget_minutes", "business_hours", "consumed_us",
                    "running_since", "paused_us", "due_at"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE tickets")
            cur.execute("VACUUM ANALYZE sla_clocks")
    finally:
        conn.close()
    return time.perf_counter() - started


def make_due(db_url: str, count: int) -> None:
    """Move ``count`` first-response clocks of open tickets a minute past due."""
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE sla_clocks SET due_at = now() - interval '1 minute' WHERE ctid IN ("
                " SELECT ctid FROM sla_clocks WHERE target = 'first_response'"
                " AND met_at IS NULL AND breached_at IS NULL AND due_at > now()"
                " LIMIT %s)", (count,))
    finally:
        conn.close()


def timed_sweeps(base_url: str, token: str, rounds: int) -> tuple[list[float], int]:
    """Seconds per ``POST /service-desk/sla-sweep`` and the breaches they recorded."""
    seconds: list[float] = []
    breached = 0
    with httpx.Client(base_url=base_url, timeout=300,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        for _ in range(rounds):
            started = time.perf_counter()
            r = c.post("/api/v1/service-desk/sla-sweep")
            seconds.append(time.perf_counter() - started)
            r.raise_for_status()
            breached += int(r.json()["breached"])
    return seconds, breached


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="per level, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, at most")
    args = parser.parse_args()
    load_start = os.getloadavg()
    results: list[tuple[str, Result]] = []
    with tempfile.TemporaryDirectory() as tmp, running_platform(
        Path(tmp), ["customer", "service_desk"], CRM_RATE_LIMIT_PER_SECOND="1000000",
        CRM_RATE_LIMIT_BURST="1000000", CRM_LOG_LEVEL="WARNING", CRM_RPC_TIMEOUT="60",
        CRM_SERVICE_DESK_SWEEP_SECONDS="3600", default_pools=True,
    ) as platform:
        agent = platform.new_user(["service_agent"])
        manager = platform.new_user(["service_manager"])
        with platform.admin() as admin:
            customer = admin.post("/api/v1/customers", json={
                "name": "压测售后客户有限公司", "kind": "company"}).json()
        headers = {"Authorization": f"Bearer {agent['token']}"}
        body = json.dumps({"customer_id": customer["id"], "category": "fault",
                           "channel": "phone", "priority": "normal",
                           "subject": "压测工单：设备无法开机"}).encode()
        tickets_url = f"{platform.base_url}/api/v1/tickets"
        health_url = f"{platform.base_url}/healthz"
        asyncio.run(run(tickets_url, 2, 20, 10, headers, body=lambda n: body))  # warm up
        asyncio.run(run(health_url, 2, 20, 10))
        for level in LEVELS:
            results.append(("healthz (ceiling)", asyncio.run(
                run(health_url, level, args.requests, args.seconds))))
            results.append(("POST /tickets", asyncio.run(
                run(tickets_url, level, args.requests, args.seconds, headers,
                    body=lambda n: body))))
        db_url = platform.db_urls["service_desk"]
        loaded = load_tickets(db_url, args.tickets, customer["id"], agent["id"])
        print(f"loaded {args.tickets:,} open tickets with 2 clocks each in {loaded:.1f} s "
              "(COPY + VACUUM ANALYZE)")
        by_due = f"{tickets_url}?sort=due&limit=50"
        open_by_due = f"{tickets_url}?sort=due&status=new,open&limit=50"
        for label, url in (("GET /tickets?sort=due", by_due),
                           ("GET ?status=new,open&sort=due", open_by_due)):
            asyncio.run(run(url, 2, 10, 10, headers))
            for level in LEVELS:
                results.append((label, asyncio.run(
                    run(url, level, args.requests // 4, args.seconds, headers))))
        idle, none = timed_sweeps(platform.base_url, manager["token"], 20)
        sweeps = [("nothing due", idle, none)]
        for due in (100, 1000):
            make_due(db_url, due)
            seconds, breached = timed_sweeps(platform.base_url, manager["token"], 1)
            sweeps.append((f"{due} due", seconds, breached))
    load_end = os.getloadavg()
    print(f"\nservice desk through the gateway ({args.tickets:,} open tickets for the "
          "lists and sweeps)\n")
    for label, result in results:
        print(result.line(f"{label:<32}"))
    print(f"\nbreach sweep over {args.tickets:,} open tickets "
          "(POST /service-desk/sla-sweep, one replica):")
    worst_idle = 0.0
    for label, seconds, breached in sweeps:
        print(f"  {label:<12} sweeps={len(seconds):<3} breaches={breached:<5} "
              f"median {1000 * statistics.median(seconds):8.1f} ms  "
              f"max {1000 * max(seconds):8.1f} ms")
        if label == "nothing due":
            worst_idle = max(seconds)
    print(f"\ntarget: a sweep over {args.tickets:,} open tickets under "
          f"{SWEEP_TARGET_S:.0f} s -> {'met' if worst_idle < SWEEP_TARGET_S else 'MISSED'} "
          f"(slowest idle sweep {1000 * worst_idle:.1f} ms)")
    print(f"load average (1, 5, 15 min): start {load_start[0]:.2f} {load_start[1]:.2f} "
          f"{load_start[2]:.2f}, end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")


if __name__ == "__main__":
    main()
