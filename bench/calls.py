"""Call centre benchmark (issue 24, SVC-08): caller lookup at a million customers.

Starts the platform on PostgreSQL (gateway, customer, sales and service desk services;
the lookup asks customer and sales for the caller's follow-ups and open orders; fresh
databases and vhost), COPYs ``--customers`` (default 1,000,000) customers with a mobile
number each, and half as many contacts with numbers of their own, into the service
desk's copies (the tables the lookup reads; the customer service's own records are not
needed for it), then measures through the gateway, in one run and beside the gateway's
own ceiling (``GET /healthz``: no authentication, no RPC):

- ``GET /api/v1/calls/lookup?phone=`` as a service agent, each request a different
  number written as a phone shows it (``+86 139-xxxx-xxxx``): three quarters of them
  stored numbers (a customer's or a contact's), a quarter unknown; 1 and 8 concurrent
  clients, p50 / p99.

Target (issue 24): p99 under 20 ms through the gateway at 1 M customers.

    .venv/bin/python bench/calls.py [--customers 1000000] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.loadgen import Result, run  # noqa: E402
from tests.support.platform import running_platform  # noqa: E402

LEVELS = (1, 8)
TARGET_P99_MS = 20.0


def number(n: int) -> str:
    return f"139{n:08d}"


def load(db_url: str, customers: int, owners: list[str]) -> float:
    """COPY the customers (number ``2n``) and contacts (every other customer, number
    ``2n+1``) into the service desk's copies; seconds taken with ANALYZE."""
    started = time.perf_counter()
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            batch = 100_000
            for offset in range(0, customers, batch):
                rows, contacts = io.StringIO(), io.StringIO()
                for n in range(offset, min(offset + batch, customers)):
                    customer_id = str(uuid.UUID(int=n))
                    rows.write("\t".join([
                        customer_id, "1", "2026-12-05T00:00:00+00:00", f"C{n:09d}",
                        f"压测客户{n}", "company", owners[n % len(owners)], "\\N", "active",
                        f'["+86{number(2 * n)}"]']) + "\n")
                    if n % 2 == 0:
                        contacts.write("\t".join([
                            str(uuid.UUID(int=(1 << 100) + n)), "1",
                            "2026-12-05T00:00:00+00:00", customer_id, f"联系人{n}",
                            f'["+86{number(2 * n + 1)}"]', "f", "zh-CN", "f"]) + "\n")
                rows.seek(0)
                contacts.seek(0)
                cur.copy_from(rows, "customers", columns=(
                    "id", "source_version", "copied_at", "code", "name", "kind", "owner_id",
                    "owner_team_id", "status", "phones"))
                cur.copy_from(contacts, "contacts", columns=(
                    "id", "source_version", "copied_at", "customer_id", "name", "phones",
                    "marketing_opt_out", "locale", "is_deleted"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE customers")
            cur.execute("VACUUM ANALYZE contacts")
    finally:
        conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=3000, help="per level, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, at most")
    args = parser.parse_args()
    load_start = os.getloadavg()
    results: list[tuple[str, Result]] = []
    rng = random.Random(24)
    with tempfile.TemporaryDirectory() as tmp, running_platform(
        Path(tmp), ["customer", "sales", "service_desk"], CRM_RATE_LIMIT_PER_SECOND="1000000",
        CRM_RATE_LIMIT_BURST="1000000", CRM_LOG_LEVEL="WARNING",
        CRM_SERVICE_DESK_SWEEP_SECONDS="3600", default_pools=True,
    ) as platform:
        agent = platform.new_user(["service_agent"])
        owners = [platform.new_user(["sales_rep"])["id"] for _ in range(3)]
        loaded = load(platform.db_urls["service_desk"], args.customers, owners)
        print(f"loaded {args.customers:,} customers and {args.customers // 2:,} contacts "
              f"into the service desk's copies in {loaded:.1f} s (COPY + VACUUM ANALYZE)")
        headers = {"Authorization": f"Bearer {agent['token']}"}
        # 4 in 5 stored (a customer's or a contact's), 1 in 5 nobody's
        picks = [2 * rng.randrange(args.customers) + (1 if rng.random() < 0.25 else 0)
                 if rng.random() < 0.8 else 2 * args.customers + rng.randrange(10**6)
                 for _ in range(4 * args.requests)]

        def shown(n: int) -> str:
            digits = number(picks[n % len(picks)])
            return "phone=" + quote(f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}")

        lookup_url = f"{platform.base_url}/api/v1/calls/lookup"
        health_url = f"{platform.base_url}/healthz"
        asyncio.run(run(lookup_url, 2, 50, 10, headers, query=shown))  # warm up
        asyncio.run(run(health_url, 2, 50, 10))
        for level in LEVELS:
            results.append(("healthz (ceiling)", asyncio.run(
                run(health_url, level, args.requests, args.seconds))))
            results.append(("GET /calls/lookup", asyncio.run(
                run(lookup_url, level, args.requests, args.seconds, headers, query=shown))))
    load_end = os.getloadavg()
    print(f"\ncaller lookup through the gateway at {args.customers:,} customers\n")
    for label, result in results:
        print(result.line(f"{label:<24}"))
    worst = max(r.pct(0.99) for label, r in results if label.startswith("GET"))
    print(f"\ntarget: lookup p99 under {TARGET_P99_MS:.0f} ms -> "
          f"{'met' if worst < TARGET_P99_MS else 'MISSED'} (worst p99 {worst:.1f} ms)")
    print(f"load average (1, 5, 15 min): start {load_start[0]:.2f} {load_start[1]:.2f} "
          f"{load_start[2]:.2f}, end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")


if __name__ == "__main__":
    main()
