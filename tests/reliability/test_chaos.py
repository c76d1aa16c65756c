"""Chaos under load, the short version of ``make chaos`` (issue 26 R1): 375 API writes
through the gateway over all the services while consumers are SIGKILLed, a service is
restarted with SIGTERM, one is frozen, the broker drops a service's connections (a
publisher's, and a consumer's while it applies an event) and PostgreSQL drops a
service's sessions. Counted from each service's own tables: nothing lost, nothing
applied twice, nothing unexpected, no 5xx outside the faults' windows.
``test_chaos_unsafe.py`` (R2) runs the same with the outbox or the inbox switched off."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg2
import pytest

from tests.reliability.chaos import (
    Load,
    close_amqp_connections,
    ctl,
    ready_seller,
    settle_and_count,
    short_faults,
)
from tests.support.infra import wait_until
from tests.support.orders import Seller
from tests.support.platform import Platform, running_platform

pytestmark = pytest.mark.integration

UNITS = 75  # five writes each: 375 operations
RPC_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(Path(tmp_path_factory.mktemp("chaos")),
                          CRM_RPC_TIMEOUT=str(RPC_TIMEOUT),
                          CRM_RATE_LIMIT_PER_SECOND="100000",
                          CRM_RATE_LIMIT_BURST="100000") as running:
        yield running


@pytest.fixture(scope="module")
def who(platform: Platform) -> Seller:
    return ready_seller(platform)


def test_writes_under_faults_are_neither_lost_nor_applied_twice(platform: Platform,
                                                                who: Seller) -> None:
    load = Load(platform, who, UNITS)
    faults = short_faults()
    seconds = load.run(faults)
    figures = settle_and_count(platform, load, faults, seconds, RPC_TIMEOUT)
    print(figures.line())
    assert figures.failed_units == []
    assert figures.operations == 5 * UNITS
    # each fault hit something: a live process, open connections, database sessions
    assert [str(f) for f in faults if not (f.hit and f.recovered)] == []
    assert figures.accepted_missing == 0
    assert figures.copies_behind == dict.fromkeys(figures.copies_behind, 0)
    assert figures.plans_missing == 0
    assert figures.order_copies_missing == 0 and figures.revenue_short == 0
    assert figures.applied_twice == 0
    assert figures.unexpected == 0
    assert figures.key_doubles == {"customer": 0, "order": 0, "payment": 0}
    assert figures.five_xx_outside_window == []
    assert figures.backlog == 0 and figures.dead_lettered == 0


def _expired(platform: Platform, service: str) -> float:
    """The service's count of requests dropped because their caller had given up."""
    text = httpx.get(f"http://127.0.0.1:{platform.ops_ports[service]}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("crm_rpc_expired_total{") and f'service="{service}"' in line)


def test_a_request_to_a_frozen_service_is_a_503_and_never_runs_later(platform: Platform,
                                                                     who: Seller) -> None:
    """R4: the customer service holds the request (taken from its queue) but is frozen;
    the gateway answers 503 problem+json after its timeout, and the service, thawed,
    drops the request instead of creating a customer nobody is waiting for."""
    proc = platform.procs["customer"]
    assert proc.popen is not None
    name = f"过期客户-{uuid.uuid4().hex[:8]}"
    dropped_before = _expired(platform, "customer")
    os.killpg(proc.popen.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with platform.client(who.token) as c:
            r = c.post("/api/v1/customers", json={"name": name, "kind": "person"})
        waited = time.monotonic() - started
    finally:
        os.killpg(proc.popen.pid, signal.SIGCONT)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "service_timeout"
    print(f"503 after {waited:.1f} s (timeout {RPC_TIMEOUT:g} s)")
    # the request has left the broker (dropped by the service, expired in the queue, or
    # run to its end: a worker acks after its commit) once no message is left on the
    # service's RPC queue, ready or unacknowledged
    wait_until(lambda: _rpc_messages(platform, "customer") == 0, 60, "the request settled")
    with psycopg2.connect(platform.db_urls["customer"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM customers WHERE name = %s", (name,))
        assert cur.fetchone() == (0,)
    print(f"dropped by the service: {_expired(platform, 'customer') - dropped_before:g}")


def _rpc_messages(platform: Platform, service: str) -> int:
    vhost = platform.amqp_uri.rsplit("/", 1)[1]
    for line in ctl("list_queues", "-p", vhost, "name", "messages").splitlines():
        name, _, count = line.partition("\t")
        if name == f"rpc-{service}":
            return int(count)
    raise AssertionError(f"no rpc-{service} queue")


def test_a_create_whose_answer_was_lost_is_not_applied_twice_on_retry(platform: Platform,
                                                                      who: Seller) -> None:
    """R5 with a lost answer: the order's insert waits on a lock past the gateway's
    timeout (503), then commits; the client retries with the same Idempotency-Key."""
    key = f"lost-{uuid.uuid4().hex[:8]}"
    body = {"customer_id": who.customer_ids[0], "currency": "CNY", "key_terms": key,
            "lines": [{"product_id": who.product_id, "quantity": "1"}]}
    sales_db = platform.db_urls["sales"]
    lock = psycopg2.connect(sales_db)
    try:
        with lock.cursor() as cur:  # held until rollback: inserts into orders wait
            cur.execute("LOCK TABLE orders IN EXCLUSIVE MODE")
        with platform.client(who.token, **{"Idempotency-Key": key}) as c:
            first = c.post("/api/v1/orders", json=body)
        assert first.status_code == 503, first.text
    finally:
        lock.rollback()
        lock.close()

    def orders() -> int:
        with psycopg2.connect(sales_db) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM orders WHERE key_terms = %s", (key,))
            row = cur.fetchone()
            return int(row[0]) if row else 0

    def answer_kept() -> bool:
        with psycopg2.connect(sales_db) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM rpc_answers WHERE method = 'create_order' "
                        "AND answer LIKE %s", (f"%{key}%",))
            row = cur.fetchone()
            return bool(row and row[0])

    wait_until(lambda: orders() >= 1, 60, "the first attempt's order committed")
    wait_until(answer_kept, 30, "the first attempt's answer kept with its key")
    with platform.client(who.token, **{"Idempotency-Key": key}) as c:
        retry = c.post("/api/v1/orders", json=body)
    assert retry.status_code == 201, retry.text  # the first attempt's answer
    assert retry.json()["key_terms"] == key
    assert orders() == 1


def _consumers(platform: Platform) -> dict[str, int]:
    """Consumers of each queue a service consumes: its RPC queue and its event handler
    queues (not their ``.retry`` delay queues or ``.dlq`` dead letters)."""
    vhost = platform.amqp_uri.rsplit("/", 1)[1]
    out = {}
    for line in ctl("list_queues", "-p", vhost, "name", "consumers").splitlines():
        name, _, count = line.partition("\t")
        if name.endswith((".retry", ".dlq")) or not count.strip().isdigit():
            continue
        if name.startswith("evt-") or name in {f"rpc-{s}" for s in platform.ops_ports}:
            out[name] = int(count)
    return out


def test_every_service_reconnects_by_itself_after_ten_broker_restarts(platform: Platform,
                                                                      who: Seller) -> None:
    """R6: the broker drops every connection of the vhost ten times in a row (what a
    broker restart does to its clients); every service consumes all its queues again
    without being restarted, and a write flows through the chain."""
    queues = _consumers(platform)
    assert queues and all(queues.values()), queues
    for _ in range(10):
        assert close_amqp_connections(platform) >= len(platform.ops_ports)
    wait_until(lambda: all(_consumers(platform).get(q, 0) >= 1 for q in queues), 120,
               "every queue consumed again")
    assert all(p.alive() for p in platform.procs.values())
    load = Load(platform, who, 2)
    load.run([])
    figures = settle_and_count(platform, load, [], 0, RPC_TIMEOUT)
    assert figures.failed_units == [] and figures.lost == 0, figures.line()


def test_a_thousand_concurrent_retries_of_one_create_make_one_customer(platform: Platform,
                                                                      who: Seller) -> None:
    """R5: the same create with the same Idempotency-Key sent 1,000 times at once: one
    customer; every answer is that customer (201, replayed) or 409 ``in progress``."""
    key = f"same-{uuid.uuid4().hex[:8]}"
    name = f"幂等客户-{key}"

    dropped = [0]

    async def send(c: httpx.AsyncClient) -> httpx.Response:
        # a connection the gateway closed as it was reused (its keep-alive ran out while
        # the client was busy) is one more reason to retry: the same key, as a client does
        for attempt in range(3):
            try:
                return await c.post("/api/v1/customers", json={"name": name, "kind": "person"})
            except httpx.TransportError:
                dropped[0] += 1
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=platform.base_url, timeout=120, limits=limits,
                                     headers={"Authorization": f"Bearer {who.token}",
                                              "Idempotency-Key": key}) as c:
            return list(await asyncio.gather(*[send(c) for _ in range(1000)]))

    answers = asyncio.run(send_all())
    print(f"connections dropped and retried: {dropped[0]}")
    statuses = Counter(r.status_code for r in answers)
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    in_progress = [r for r in answers if r.status_code == 409]
    print(f"1,000 retries of one create: {dict(statuses)}")
    assert set(statuses) <= {201, 409}, statuses
    assert len(created) == 1
    assert all(r.json()["code"] == "idempotency_in_progress" for r in in_progress)
    with psycopg2.connect(platform.db_urls["customer"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM customers WHERE name = %s", (name,))
        assert cur.fetchone() == (1,)
