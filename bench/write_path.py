"""Write path benchmark (issue 29): a customer create through the whole platform, beside
the read of one customer, in one run.

Starts the platform on PostgreSQL as ``bench/gateway_rpc.py`` does (fresh databases and
vhost; the gateway and every service, one process each, the pools a deployment has),
then, as a sales rep with a real token and ``--clients`` keep-alive clients:

1. read: ``GET /api/v1/customers/{id}`` (one RPC, one indexed read, the audit entry);
2. create: ``POST /api/v1/customers`` with a distinct company name and mobile phone per
   request (the duplicate guard's keys, the search fields, the history row, the audit
   entry, the outbox); the phase ends when every service that keeps a customer copy
   (sales, billing, service desk, documents, notifications) holds every created
   customer, so the consumers' CPU is counted with the creates.

For each: req/s, p50, p99, and the CPU milliseconds per operation of every process
(gateway, each service, the PostgreSQL backends of the platform's databases, RabbitMQ,
this load generator) and of the whole machine, from /proc (``bench/cpu.py``).

    .venv/bin/python bench/write_path.py [--requests 6000] [--seconds 30] [--clients 16]
    .venv/bin/python bench/write_path.py --requests 800 --seconds 10   # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cpu import Snapshot, dsn, per_operation, snapshot  # noqa: E402
from bench.loadgen import Result, run  # noqa: E402
from bench.private_postgres import private_postgres  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.infra import free_port, wait_until  # noqa: E402
from tests.support.platform import Platform, running_platform  # noqa: E402

CREATE_CPU_TARGET_MS = 8.0
CREATE_P99_TARGET_MS = 100.0
CONSUMER_TARGET_MS = 0.7
# services that keep a copy of every customer
CONSUMERS = ("sales", "billing", "service_desk", "docs", "notify")


def _count(db_url: str, sql: str) -> int:
    conn = psycopg2.connect(dsn(db_url))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def caught_up(platform: Platform) -> bool:
    """Every customer is in every consumer's copy and nothing waits in an outbox."""
    created = _count(platform.db_urls["customer"], "SELECT count(*) FROM customers")
    return (_count(platform.db_urls["customer"], "SELECT count(*) FROM outbox") == 0
            and all(_count(platform.db_urls[s], "SELECT count(*) FROM customers") == created
                    for s in CONSUMERS))


_numbers = itertools.count(1)


def new_customers(run_id: str) -> Callable[[int], bytes]:
    """A distinct company per request: name and mobile phone never repeat (the duplicate
    guard would refuse them)."""

    def body(_: int) -> bytes:
        n = next(_numbers)
        return json.dumps({"name": f"写入基准{run_id}科技有限公司{n}", "kind": "company",
                           "phone": f"138{n:08d}"}, ensure_ascii=False).encode()
    return body


def measure(platform: Platform, load: Callable[[], Result], wait_for: Callable[[], bool]
            ) -> tuple[Result, dict[str, float], float]:
    """Run ``load``; the CPU is counted until ``wait_for`` holds (the consumers' work)."""
    roots = {name: proc.popen.pid for name, proc in platform.procs.items()
             if proc.popen is not None}
    before: Snapshot = snapshot(roots, platform.db_urls)
    result = load()
    ended = time.perf_counter()
    wait_until(wait_for, 600, "consumers caught up", interval=0.05)
    settled = time.perf_counter() - ended
    after = snapshot(roots, platform.db_urls)
    return result, per_operation(before, after, result.requests - result.errors), settled


COLUMNS = ("gateway", "customer", *CONSUMERS, "postgres", "rabbitmq", "platform", "machine",
           "bench")


def report(rows: list[tuple[str, Result, dict[str, float], float]]) -> list[str]:
    head = (f"{'operation':<30}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'err':>5}  "
            + "".join(f"{c[:8]:>9}" for c in COLUMNS))
    lines = ["CPU milliseconds per operation (from /proc); platform = every process of the "
             "platform with PostgreSQL and RabbitMQ; machine = the whole machine", "", head]
    for label, result, cpu, _ in rows:
        lines.append(f"{label:<30}{result.rps:7.0f}{result.pct(0.5):8.1f}"
                     f"{result.pct(0.99):8.1f}{result.errors:5d}  "
                     + "".join(f"{cpu.get(c, 0.0):9.2f}" for c in COLUMNS))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=6000, help="per phase, at most")
    parser.add_argument("--seconds", type=float, default=30.0, help="per phase, at most")
    parser.add_argument("--postgres", choices=("machine", "own"), default="machine",
                        help="machine: the tests' server; own: a server of the benchmark's "
                        "own (bench/private_postgres.py)")
    args = parser.parse_args()
    # stopped with kill: stop the platform too (its processes run in sessions of their own)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.ExitStack() as stack:
        if args.postgres == "own":
            server = stack.enter_context(private_postgres(free_port(), {}))
            infra.PG_URL_BASE, infra.PG_ADMIN_DSN = server.url_base, server.admin_dsn
        benchmark(args)


def benchmark(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, running_platform(
        Path(tmp), CRM_RATE_LIMIT_PER_SECOND="1000000", CRM_RATE_LIMIT_BURST="1000000",
        CRM_LOG_LEVEL="WARNING", default_pools=True,
        # the deployment's outbox sweep, not the tests' quicker one
        CRM_OUTBOX_SWEEP_SECONDS="2.0", CRM_OUTBOX_GRACE_SECONDS="1.0",
    ) as platform:
        user = platform.new_user(["sales_rep"], display_name="写入压测")
        wait_until(lambda: _count(platform.db_urls["customer"],
                                  f"SELECT count(*) FROM staff WHERE id = '{user['id']}'"),
                   60, "the rep in the customer service's staff copy")
        headers = {"Authorization": f"Bearer {user['token']}"}
        with platform.client(user["token"]) as c:
            customer = c.post("/api/v1/customers", json={"name": "基准读取客户",
                                                         "kind": "person"}).json()
        read_url = f"{platform.base_url}/api/v1/customers/{customer['id']}"
        create_url = f"{platform.base_url}/api/v1/customers"

        def read(total: int, seconds: float) -> Result:
            return asyncio.run(run(read_url, args.clients, total, seconds, headers))

        def create(total: int, seconds: float) -> Result:
            return asyncio.run(run(create_url, args.clients, total, seconds, headers,
                                   body=new_customers(os.urandom(4).hex())))

        # warm up both paths (caches, pools, the consumers' first transactions)
        read(300, 5)
        create(300, 10)
        wait_until(lambda: caught_up(platform), 300, "warm-up consumed")
        rows = []
        result, cpu, settled = measure(platform, lambda: read(args.requests, args.seconds),
                                       lambda: True)
        rows.append(("GET /api/v1/customers/{id}", result, cpu, settled))
        result, cpu, settled = measure(platform, lambda: create(args.requests, args.seconds),
                                       lambda: caught_up(platform))
        rows.append(("POST /api/v1/customers", result, cpu, settled))
    load_after = os.getloadavg()
    lines = report(rows)
    create_cpu = rows[1][2]
    p99 = rows[1][1].pct(0.99)
    consumer = max(create_cpu[s] for s in CONSUMERS)
    lines += [
        "",
        f"consumers caught up {rows[1][3]:.2f} s after the last create's response",
        f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"{os.cpu_count()} cores",
        f"targets: create machine CPU <= {CREATE_CPU_TARGET_MS:g} ms -> "
        f"{'met' if create_cpu['machine'] <= CREATE_CPU_TARGET_MS else 'MISSED'} "
        f"(platform {create_cpu['platform']:.2f} ms); create p99 < "
        f"{CREATE_P99_TARGET_MS:g} ms -> {'met' if p99 < CREATE_P99_TARGET_MS else 'MISSED'}; "
        f"a consumer's copy <= {CONSUMER_TARGET_MS:g} ms per event -> "
        f"{'met' if consumer <= CONSUMER_TARGET_MS else 'MISSED'} ({consumer:.2f} ms)",
    ]
    print("\n".join(["", *lines]))


if __name__ == "__main__":
    main()
