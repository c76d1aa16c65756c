"""Chaos under load (issue 26, R1): business writes through the gateway over the services
while faults are injected, then everything counted from each service's own tables.

A *unit* of load is one customer's story, five API writes: create the customer
(``Idempotency-Key``), rename it (``If-Match``), create an order for it
(``Idempotency-Key``), confirm the order, record the customer's payment (finance,
``Idempotency-Key``). A client retries what failed with a 5xx or a lost connection, as a
real client would, with the same key; a retried rename or confirmation that finds its
first attempt applied (412 / 409) reads the record back, and so does a create answered
409 ``idempotency_answer_lost`` (applied by a process killed before it kept the answer).

The payment is there for the inbox: the customer service adds each ``payment.received``
to the customer's paid revenue, an effect that is not idempotent by itself (the copies,
the payment plan and the order copies are: versions, unique keys), so only the inbox
keeps a redelivered payment from counting twice.

Faults (each a :class:`Fault`, injected when the load has done a share of its work, so
each lands under load whatever the machine's speed):

- ``kill``: SIGKILL of a service replica, restarted once the load has moved on;
- ``term``: SIGTERM, a rolling restart;
- ``freeze``: SIGSTOP then SIGCONT, a replica that stops answering (a slow RPC);
- ``amqp``: the broker closes the service's AMQP connections (``rabbitmqctl
  close_connection``); for service ``*`` every connection of the vhost, the gateway's
  too, as a broker restart does (the broker itself is shared, the vhost is ours alone);
- ``pg``: ``pg_terminate_backend`` of every connection to the service's database;
- ``unacked``: the broker drops the consumer's connections while it applies an event, so
  the effect commits and its ack is lost: the broker delivers the event again. Made
  certain, not left to timing: the table the handler writes is locked
  (``LOCK TABLE … IN SHARE MODE``: reads go on, writes wait) until a handler is seen
  waiting on it in ``pg_stat_activity``; then the connections are closed and the lock let
  go (:data:`APPLYING` says which handler, per service).

An ``amqp`` fault on a publisher is certain to fail its next publish (the broker has
closed the connection; the publisher learns it reading the confirm): with the outbox that
event stays in the table for the sweep, without it (``CRM_TEST_UNSAFE_NO_OUTBOX``) it is
gone. ``tests/reliability/test_chaos_unsafe.py`` (R2) runs the short chaos test with the
outbox or the inbox switched off and requires these counts to show it.

What is counted afterwards (:class:`Figures`):

- *lost*: an accepted write missing from the owner's table, a customer's copy in another
  service behind the customer's version, an order missing from the documents service's
  copy of orders, a confirmed order without its payment plan, a customer whose paid
  revenue (customer service) is short of the payments billing holds for it;
- *applied twice*: more than one payment plan or first invoice for an order, an invoice
  number used twice, a customer's paid revenue above its payments; more than one
  customer / order / payment under one ``Idempotency-Key`` (``key_doubles``, kept apart);
- *unexpected*: payment plans of orders this run never confirmed;
- 5xx outside every fault's window (from the fault until the service is ready again,
  plus one RPC timeout): the documented window in ``docs/reliability.md``;
- every handler queue's backlog and dead letters, and how long the backlog took to drain.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import psycopg2

from tests.support.infra import wait_until
from tests.support.orders import Seller, seller
from tests.support.platform import SERVICES, Platform

RETRYABLE = {500, 502, 503, 504}


# -- faults -------------------------------------------------------------------------------
@dataclass
class Fault:
    kind: str  # kill | term | freeze | amqp | pg | unacked
    service: str
    at: float  # share of the load done when it is injected, 0..1
    started: float = 0.0
    recovered: float = 0.0
    hit: int = 0  # what it hit: processes, connections or sessions

    def __str__(self) -> str:
        return f"{self.kind} {self.service}"


def ctl(*args: str) -> str:
    ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
    return subprocess.run([ctl, "-q", *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


def close_amqp_connections(platform: Platform, pid: int | None = None) -> int:
    """Close the vhost's AMQP connections from the broker side (all of them, or those of
    process ``pid``, told by the peer port its sockets hold); how many."""
    vhost = platform.amqp_uri.rsplit("/", 1)[1]
    if pid is None:  # one rabbitmqctl call: each one starts an Erlang VM, seconds apiece
        count = len(ctl("list_connections", "-p", vhost, "pid").splitlines())
        ctl("close_all_connections", "--vhost", vhost, "--limit", "10000", "chaos")
        return count
    ports = _local_ports(pid)
    closed = 0
    for line in ctl("list_connections", "-p", vhost, "pid", "peer_port").splitlines():
        conn_pid, _, port = line.partition("\t")
        if not (port.strip().isdigit() and int(port) in ports):
            continue
        with contextlib.suppress(subprocess.CalledProcessError):  # gone meanwhile
            ctl("close_connection", conn_pid, "chaos")
            closed += 1
    return closed


def _local_ports(pid: int) -> set[int]:
    """Local TCP ports of ``pid``'s connections to the broker (port 5672)."""
    out = subprocess.run(["ss", "-tnpH", "dst", ":5672"], capture_output=True, text=True,
                         timeout=30).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[3]
            ports.add(int(local.rsplit(":", 1)[1]))
    return ports


def terminate_backends(db_url: str) -> int:
    """``pg_terminate_backend`` every connection to ``db_url``'s database; how many."""
    database = db_url.rsplit("/", 1)[1]
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


# service -> (the table one of its event handlers writes, columns only that handler's
# UPDATEs set): the customer service's payment.received handler counts the orders paid
# (when the payment reached one) and adds to the paid revenue; whichever its first
# flush writes is the statement that waits
APPLYING = {"customer": ("customers", ("paid_orders", "paid_revenue"))}


def _waiting(db_url: str) -> list[str]:
    """The statements of ``db_url``'s database's sessions waiting on a lock."""
    database = db_url.rsplit("/", 1)[1]
    return [r[0] for r in _rows(db_url, "SELECT query FROM pg_stat_activity WHERE "
                                "datname = %s AND wait_event_type = 'Lock'", database)]


def _applying(db_url: str, columns: tuple[str, ...]) -> int:
    """Sessions waiting on a lock in an UPDATE that sets one of ``columns``: handlers
    caught applying an event."""
    sets = re.compile(rf"^\s*UPDATE\b.*\b({'|'.join(map(re.escape, columns))})\s*=",
                      re.IGNORECASE | re.DOTALL)
    return sum(1 for query in _waiting(db_url) if sets.search(query))


# service -> the service whose event its APPLYING handler applies
APPLIES_FROM = {"customer": "billing"}


def ack_lost(platform: Platform, service: str, pid: int, poke: Poke) -> int:
    """The ``unacked`` fault: hold the handler's table, make sure an event for it is on
    its way (``poke``), wait until a handler waits on the table, close the service's AMQP
    connections (the broker requeues what it had not acked), let the handler commit.
    Returns how many handlers were caught applying."""
    table, columns = APPLYING[service]
    db_url = platform.db_urls[service]
    lock = psycopg2.connect(db_url)
    try:
        with lock.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN SHARE MODE")  # noqa: S608 - our constant
        poke(APPLIES_FROM[service])
        try:
            caught = wait_until(lambda: _applying(db_url, columns), 60,
                                f"a {service} handler applying an event")
        except TimeoutError as exc:
            waiting = [q[:120] for q in _waiting(db_url)]
            raise TimeoutError(f"{exc}; waiting on the lock: {waiting}") from None
        close_amqp_connections(platform, pid)
    finally:
        lock.rollback()
        lock.close()
    return int(caught)


# makes one write whose event the named service publishes (Load.poke)
Poke = Callable[[str], None]


def inject(platform: Platform, fault: Fault, load_moved: Callable[[], None],
           poke: Poke | None = None) -> None:
    """Inject ``fault`` and wait for the service to be ready again. ``load_moved`` returns
    once the load has made progress (answered requests) while the fault holds. ``poke``
    makes the write a fault needs to tell, whether or not the load still runs: a
    publisher's next event after its connections were dropped (``amqp``), an event being
    applied when the ack is lost (``unacked``)."""
    fault.started = time.monotonic()
    if fault.service == "*":  # the broker drops every connection: a broker restart
        assert fault.kind == "amqp"
        fault.hit = close_amqp_connections(platform)
        for service in platform.ops_ports:
            platform.wait_service_ready(service, timeout=120)
        fault.recovered = time.monotonic()
        return
    proc = platform.procs[fault.service]
    if fault.kind in ("kill", "term"):
        fault.hit = int(proc.alive())
        proc.kill(signal.SIGKILL if fault.kind == "kill" else signal.SIGTERM)
        load_moved()  # events and requests for it meet its absence
        proc.start()
    elif fault.kind == "freeze":
        assert proc.popen is not None
        fault.hit = int(proc.alive())
        os.killpg(proc.popen.pid, signal.SIGSTOP)
        try:
            load_moved()
        finally:
            os.killpg(proc.popen.pid, signal.SIGCONT)
    elif fault.kind == "amqp":
        assert proc.popen is not None
        fault.hit = close_amqp_connections(platform, proc.popen.pid)
        if poke is not None and fault.service in POKES:
            poke(fault.service)
    elif fault.kind == "pg":
        fault.hit = terminate_backends(platform.db_urls[fault.service])
    elif fault.kind == "unacked":
        assert proc.popen is not None
        assert poke is not None
        fault.hit = ack_lost(platform, fault.service, proc.popen.pid, poke)
    else:
        raise ValueError(fault.kind)
    platform.wait_service_ready(fault.service, timeout=120)
    fault.recovered = time.monotonic()


def short_faults() -> list[Fault]:
    """The short test's faults (``test_chaos.py``; ``test_chaos_unsafe.py`` too): faults
    whose every request is safe to retry: the services killed, frozen or cut off here
    consume events or answer reads only (billing's credit check), and sales is stopped
    gracefully; killing a service in the middle of a create is the full run's
    (``make chaos``). The broker drops sales' connections twice (its next publish each
    time fails: what the outbox is for) and the customer service's while it applies a
    payment (redelivered after its commit: what the inbox is for)."""
    consumers = [s for s in ("service_desk", "notify", "docs") if s in SERVICES]
    faults = [Fault("kill", "billing", 0.1), Fault("amqp", "sales", 0.15),
              Fault("pg", "billing", 0.3), Fault("unacked", "customer", 0.35),
              Fault("term", "sales", 0.5), Fault("amqp", "billing", 0.7),
              Fault("amqp", "sales", 0.75), Fault("pg", "sales", 0.8)]
    for share, kind, service in zip((0.2, 0.4, 0.6), ("kill", "amqp", "freeze"), consumers,
                                    strict=False):
        faults.append(Fault(kind, service, share))
    return faults


# -- load ---------------------------------------------------------------------------------
# the services Load.poke can make publish an event: an order (order.created), a payment
# (payment.received)
POKES = ("sales", "billing")


def ready_seller(platform: Platform) -> Seller:
    """A rep with customers and a product; retried while the services, just started on a
    busy machine, still answer 503."""
    def made() -> Seller | None:
        try:
            return seller(platform, customers=4)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 503:
                raise
            return None
    return wait_until(made, 120, "a seller")  # type: ignore[no-any-return]



@dataclass
class Tally:
    """What the clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[tuple[float, str, str]] = field(default_factory=list)  # (when, what, path)
    customers: dict[str, str] = field(default_factory=dict)  # key -> id
    renamed: dict[str, str] = field(default_factory=dict)  # id -> name
    orders: dict[str, str] = field(default_factory=dict)  # key -> id
    confirmed: set[str] = field(default_factory=set)
    paid: dict[str, Decimal] = field(default_factory=dict)  # customer id -> amount
    payments: set[str] = field(default_factory=set)  # references of accepted payments
    pokes: int = 0  # writes made for the faults (Load.poke), not part of a unit
    failed_units: list[str] = field(default_factory=list)
    answered: int = 0
    operations: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, status: int | None, path: str) -> None:
        with self.lock:
            self.answered += 1
            if status is None or status >= 500:
                self.errors.append((time.monotonic(), str(status or "transport"), path))
            if status is not None:
                self.statuses[status] += 1


class Load:
    """``units`` customer stories by ``concurrency`` clients of one sales rep (and one
    finance clerk, who records the payments)."""

    def __init__(self, platform: Platform, who: Seller, units: int, concurrency: int = 8,
                 give_up_after: float = 300) -> None:
        self.platform, self.who, self.units = platform, who, units
        self.cashier = platform.new_user(["finance"])["token"]  # users live in the gateway
        self.concurrency, self.give_up_after = concurrency, give_up_after
        self.run_id = uuid.uuid4().hex[:8]
        self.tally = Tally()
        self.done = 0
        self.ended = float("inf")

    def name(self, key: str) -> str:
        return f"混沌客户-{key}"

    def _send(self, c: httpx.Client, method: str, path: str, ok: set[int],
              **kwargs: Any) -> httpx.Response:
        """One write, retried (same headers, same key) until it gets an answer in ``ok``
        or a 4xx; raises after ``give_up_after``."""
        deadline = time.monotonic() + self.give_up_after
        while True:
            try:
                r: httpx.Response | None = c.request(method, path, **kwargs)
            except httpx.TransportError:
                r = None
            self.tally.saw(r.status_code if r is not None else None, path)
            if r is not None and (r.status_code in ok or r.status_code not in RETRYABLE and
                                  not _in_progress(r)):
                return r
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path}: no answer")
            time.sleep(0.2)  # a client's back-off before it retries

    def unit(self, i: int) -> None:
        key = f"{self.run_id}-{i}"
        headers = {"Authorization": f"Bearer {self.who.token}"}
        with httpx.Client(base_url=self.platform.base_url, headers=headers, timeout=60) as c:
            r = self._send(c, "POST", "/api/v1/customers", {201},
                           json={"name": self.name(key), "kind": "person"},
                           headers={"Idempotency-Key": f"{key}-c"})
            if _answer_lost(r):  # applied by a process killed before answering: look it up
                found = [x for x in c.get("/api/v1/customers", params={
                    "q": self.name(key), "limit": 10}).json()["items"]
                    if x["name"] == self.name(key)]
                assert len(found) == 1, r.text
                r = c.get(f"/api/v1/customers/{found[0]['id']}")
            else:
                assert r.status_code == 201, r.text
            customer = r.json()
            self.tally.customers[key] = customer["id"]
            new_name = f"{self.name(key)}-改"
            r = self._send(c, "PATCH", f"/api/v1/customers/{customer['id']}", {200, 412},
                           json={"name": new_name},
                           headers={"If-Match": f'"{customer["version"]}"'})
            if r.status_code == 412:  # the first attempt applied, its answer lost
                again = c.get(f"/api/v1/customers/{customer['id']}")
                assert again.json()["name"] == new_name, again.text
            else:
                assert r.status_code == 200, r.text
            self.tally.renamed[customer["id"]] = new_name
            r = self._send(c, "POST", "/api/v1/orders", {201}, json={
                "customer_id": customer["id"], "currency": "CNY", "key_terms": key,
                "lines": [{"product_id": self.who.product_id, "quantity": str(1 + i % 5)}],
                "payment_terms": {"installments": [{"percent": "30", "due_days": 0},
                                                   {"percent": "70", "due_days": 60}]}},
                headers={"Idempotency-Key": f"{key}-o"})
            if _answer_lost(r):
                found = [o["id"] for o in c.get("/api/v1/orders", params={
                    "customer_id": customer["id"], "limit": 10}).json()["items"]
                    if o["key_terms"] == key]
                assert len(found) == 1, r.text
                order_id = found[0]
            else:
                assert r.status_code == 201, r.text
                order_id = r.json()["id"]
            self.tally.orders[key] = order_id
            r = self._send(c, "POST", f"/api/v1/orders/{order_id}/confirm", {200, 409})
            if r.status_code == 409:
                status = c.get(f"/api/v1/orders/{order_id}").json()["status"]
                assert status == "confirmed", r.text
            with self.tally.lock:
                self.tally.confirmed.add(order_id)
            amount = Decimal(10 + i % 7) + Decimal("0.50")
            self._pay(c, customer["id"], amount, f"{key}-p")
            with self.tally.lock:
                self.tally.paid[customer["id"]] = amount
                self.tally.operations += 5
                self.done += 1

    def _pay(self, c: httpx.Client, customer_id: str, amount: Decimal, key: str) -> None:
        """Record a payment as the finance clerk, ``key`` its Idempotency-Key and
        reference. Billing takes writes, so a billing killed between a payment's commit
        and keeping its answer answers the retry 409 ``idempotency_answer_lost`` (applied,
        never applied again): the clerk looks the payment up, as the answer says to."""
        cashier = {"Authorization": f"Bearer {self.cashier}"}
        r = self._send(c, "POST", "/api/v1/payments", {201}, json={
            "customer_id": customer_id, "amount": str(amount), "currency": "CNY",
            "method": "bank_transfer", "received_at": datetime.now(UTC).isoformat(),
            "reference": key}, headers={"Idempotency-Key": key, **cashier})
        if _answer_lost(r):
            listed = c.get("/api/v1/payments", params={"customer_id": customer_id,
                                                       "limit": 100}, headers=cashier)
            assert listed.status_code == 200, listed.text
            assert [p for p in listed.json()["items"] if p["reference"] == key], r.text
        else:
            assert r.status_code == 201, r.text
        with self.tally.lock:
            self.tally.payments.add(key)

    def poke(self, service: str) -> None:
        """One write, outside the units, whose event ``service`` publishes: an order for
        (sales) or a payment from (billing) a customer of this run. A fault that needs an
        event to tell makes one, so it tells even when it comes after the load's end."""
        with self.tally.lock:
            self.tally.pokes += 1
            n = self.tally.pokes
            customer_id = next(iter(self.tally.customers.values()))
        key = f"{self.run_id}-poke{n}"
        headers = {"Authorization": f"Bearer {self.who.token}"}
        with httpx.Client(base_url=self.platform.base_url, headers=headers, timeout=60) as c:
            if service == "billing":
                self._pay(c, customer_id, Decimal("1.25"), key)
                return
            assert service == "sales", service
            r = self._send(c, "POST", "/api/v1/orders", {201}, json={
                "customer_id": customer_id, "currency": "CNY", "key_terms": key,
                "lines": [{"product_id": self.who.product_id, "quantity": "1"}]},
                headers={"Idempotency-Key": key})
            assert r.status_code == 201, r.text
            with self.tally.lock:
                self.tally.orders[key] = r.json()["id"]

    def run(self, faults: list[Fault]) -> float:
        """Run the load with ``faults`` injected along it; the wall time in seconds."""
        started = time.perf_counter()
        errors: list[BaseException] = []

        def chaos() -> None:
            try:
                for fault in sorted(faults, key=lambda f: f.at):
                    wait_until(lambda f=fault: self.done >= f.at * self.units,  # type: ignore[misc]
                               self.give_up_after * 2, f"load before {fault}")
                    answered = self.tally.answered
                    inject(self.platform, fault, lambda a=answered: wait_until(  # type: ignore[misc]
                        lambda: self.tally.answered >= a + 2 * self.concurrency or
                        self.done >= self.units, 60, "load moves on"), self.poke)
            except BaseException as exc:  # noqa: BLE001 - reported by run()
                errors.append(exc)

        injector = threading.Thread(target=chaos, daemon=True)
        injector.start()

        def one(i: int) -> None:
            try:
                self.unit(i)
            except (AssertionError, TimeoutError) as exc:
                with self.tally.lock:
                    self.tally.failed_units.append(f"{i}: {exc}")

        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(one, range(self.units)))
        self.ended = time.monotonic()
        # faults that restart services can outlast the load on a slow machine: they
        # still count (the copies and queues must settle after them), but the figures
        # say how many landed under load
        injector.join(60 * len(faults) + 60)
        if errors:
            raise errors[0]
        assert not injector.is_alive(), "faults still being injected"
        return time.perf_counter() - started


# -- counting -----------------------------------------------------------------------------
@contextlib.contextmanager
def _cursor(url: str) -> Iterator[Any]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def _rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with _cursor(url) as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def copying_services(platform: Platform) -> list[str]:
    """Services keeping a copy of customers (a ``customers`` table with ``source_version``)."""
    out = []
    for service, url in platform.db_urls.items():
        if service in ("customer", "gateway"):
            continue
        if _rows(url, "SELECT 1 FROM information_schema.columns WHERE table_name = "
                 "'customers' AND column_name = 'source_version'"):
            out.append(service)
    return out


def queue_depths(platform: Platform) -> dict[str, int]:
    """Every event handler queue and dead-letter queue of the vhost, with its messages
    (ready and unacknowledged)."""
    vhost = platform.amqp_uri.rsplit("/", 1)[1]
    depths = {}
    for line in ctl("list_queues", "-p", vhost, "name", "messages").splitlines():
        name, _, count = line.partition("\t")
        if name.startswith("evt-") and count.strip().isdigit():
            depths[name] = int(count)
    return depths


def outbox_rows(platform: Platform) -> int:
    """Events committed and not yet confirmed by the broker, in every service's outbox."""
    total = 0
    for url in platform.db_urls.values():
        with _cursor(url) as cur:
            cur.execute("SELECT to_regclass('outbox') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute("SELECT count(*) FROM outbox")
                total += int(cur.fetchone()[0])
    return total


@dataclass
class Figures:
    units: int
    operations: int
    under_load: int  # faults injected while the load ran
    seconds: float
    faults: list[str]
    failed_units: list[str]
    accepted_missing: int  # accepted writes not in the owner's table
    copies_behind: dict[str, int]  # service -> customers whose copy lags the source
    plans_missing: int  # confirmed orders without a payment plan
    order_copies_missing: int  # orders missing from the documents service's copy
    revenue_short: int  # customers whose paid revenue lacks a payment billing holds
    applied_twice: int  # plans or first invoices beyond one per order, reused numbers,
    # customers whose paid revenue counts a payment twice (revenue_doubled)
    revenue_doubled: int
    unexpected: int  # payment plans of orders this run did not confirm
    key_doubles: dict[str, int]  # records beyond one under one Idempotency-Key
    five_xx: int
    five_xx_outside_window: list[tuple[float, str, str]]
    backlog: int
    dead_lettered: int
    drain_seconds: float
    statuses: dict[int, int]

    @property
    def lost(self) -> int:
        return (self.accepted_missing + sum(self.copies_behind.values()) + self.plans_missing
                + self.order_copies_missing + self.revenue_short)

    def line(self) -> str:
        return (f"{self.operations} ops ({self.units} units) in {self.seconds:.0f} s under "
                f"{len(self.faults)} faults ({self.under_load} under load): lost "
                f"{self.lost} (accepted {self.accepted_missing}, customer copies "
                f"{self.copies_behind}, order copies {self.order_copies_missing}, plans "
                f"{self.plans_missing}, paid revenue {self.revenue_short}), applied twice "
                f"{self.applied_twice} (paid revenue {self.revenue_doubled}), unexpected "
                f"{self.unexpected}, key doubles "
                f"{sum(self.key_doubles.values())} {self.key_doubles}, 5xx {self.five_xx} "
                f"({len(self.five_xx_outside_window)} outside the window), backlog "
                f"{self.backlog}, dead-lettered {self.dead_lettered}, drained in "
                f"{self.drain_seconds:.0f} s, failed units {len(self.failed_units)}; "
                f"statuses {self.statuses}; faults {', '.join(self.faults)}")


def settle_and_count(platform: Platform, load: Load, faults: list[Fault], seconds: float,
                     rpc_timeout: float, drain_deadline: float = 120) -> Figures:
    """Wait (up to ``drain_deadline``) until every copy caught up and every queue is
    empty, or until nothing is left that could still arrive (every handler queue, retry
    queue and outbox empty, three checks in a row), then count."""
    tally, run = load.tally, load.run_id
    customer_db, sales_db = platform.db_urls["customer"], platform.db_urls["sales"]
    billing_db = platform.db_urls["billing"]
    copiers = copying_services(platform)
    ids = list(tally.customers.values())
    confirmed = sorted(tally.confirmed)

    def versions(url: str, table_version: str) -> dict[str, int]:
        return dict(_rows(url, f"SELECT id, {table_version} FROM customers "  # noqa: S608
                          "WHERE id = ANY(%s)", ids))

    def behind() -> dict[str, int]:
        source = versions(customer_db, "version")
        out = {}
        for service in copiers:
            copy = versions(platform.db_urls[service], "source_version")
            out[service] = sum(1 for i, v in source.items() if copy.get(i, 0) < v)
        return out

    def plans_missing() -> int:
        planned = {r[0] for r in _rows(billing_db, "SELECT DISTINCT order_id FROM "
                                       "payment_plans WHERE order_id = ANY(%s)", confirmed)}
        return len(set(confirmed) - planned)

    docs_db = platform.db_urls.get("docs")
    order_ids = list(tally.orders.values())

    def order_copies_missing() -> int:
        if docs_db is None:
            return 0
        copied = {r[0] for r in _rows(docs_db, "SELECT id FROM sales_records WHERE "
                                      "kind = 'order' AND id = ANY(%s)", order_ids)}
        return len(set(order_ids) - copied)

    def revenue() -> tuple[int, int]:
        """(customers short of their payments, customers counting one twice): the
        customer service's paid revenue against the payments billing holds."""
        held = dict(_rows(billing_db, "SELECT customer_id, sum(amount) FROM payments "
                          "WHERE customer_id = ANY(%s) GROUP BY customer_id", ids))
        counted = dict(_rows(customer_db, "SELECT id, paid_revenue FROM customers "
                             "WHERE id = ANY(%s)", ids))
        short = sum(1 for c, paid in held.items() if counted.get(c, Decimal(0)) < paid)
        doubled = sum(1 for c, paid in held.items() if counted.get(c, Decimal(0)) > paid)
        return short, doubled

    seen: dict[str, int] = {}
    quiet: list[bool] = []

    def settled() -> bool:
        # the figure is the backlog when everything caught up: events made afterwards
        # (timers, reactions to the copies) may be in flight when counting ends
        seen.clear()
        seen.update(queue_depths(platform))
        backlog = sum(n for q, n in seen.items() if not q.endswith(".dlq"))
        if backlog == 0 and not any(behind().values()) and plans_missing() == 0 \
                and order_copies_missing() == 0 and revenue()[0] == 0:
            return True
        # an event in flight is in an outbox or in a queue (ready or unacknowledged):
        # with neither, what is missing is lost, not late
        quiet.append(backlog == 0 and outbox_rows(platform) == 0)
        return len(quiet) >= 3 and all(quiet[-3:])

    drain_started = time.monotonic()
    with contextlib.suppress(TimeoutError):  # counted below: what did not settle is lost
        wait_until(settled, drain_deadline, "every copy and plan caught up", interval=0.5)
    drain_seconds = time.monotonic() - drain_started

    present = {r[0] for r in _rows(customer_db, "SELECT id FROM customers WHERE id = ANY(%s)",
                                   ids)}
    names = dict(_rows(customer_db, "SELECT id, name FROM customers WHERE id = ANY(%s)", ids))
    orders = {r[0]: r[1] for r in _rows(sales_db, "SELECT id, status FROM orders WHERE "
                                        "id = ANY(%s)", list(tally.orders.values()))}
    missing = len(set(ids) - present)
    missing += sum(1 for i, name in tally.renamed.items() if names.get(i) != name)
    missing += len(set(tally.orders.values()) - set(orders))
    missing += sum(1 for o in confirmed if orders.get(o) != "confirmed")
    payments = dict(_rows(billing_db, "SELECT reference, count(*) FROM payments "
                          "WHERE reference = ANY(%s) GROUP BY reference",
                          sorted(tally.payments)))
    missing += len(tally.payments - set(payments))
    revenue_short, revenue_doubled = revenue()

    twice = sum(n - 1 for (n,) in _rows(
        billing_db, "SELECT count(*) FROM payment_plans WHERE order_id = ANY(%s) "
        "GROUP BY order_id HAVING count(*) > 1", confirmed))
    twice += sum(n - 1 for (n,) in _rows(
        billing_db, "SELECT count(*) FROM invoices GROUP BY number HAVING count(*) > 1"))
    twice += revenue_doubled
    unexpected = _rows(billing_db, "SELECT count(*) FROM payment_plans "
                       "WHERE NOT (order_id = ANY(%s))", confirmed)[0][0]
    key_doubles = {
        "customer": sum(n - 1 for (n,) in _rows(
            customer_db, "SELECT count(*) FROM customers WHERE name LIKE %s "
            "GROUP BY regexp_replace(name, '-改$', '') HAVING count(*) > 1",
            f"混沌客户-{run}-%")),
        "order": sum(n - 1 for (n,) in _rows(
            sales_db, "SELECT count(*) FROM orders WHERE key_terms LIKE %s "
            "GROUP BY key_terms HAVING count(*) > 1", f"{run}-%")),
        "payment": sum(n - 1 for n in payments.values() if n > 1),  # by reference
    }

    def in_window(when: float) -> bool:
        return any(f.started <= when <= f.recovered + rpc_timeout + 2 for f in faults)

    depths = seen
    return Figures(
        units=load.units, operations=tally.operations, seconds=seconds,
        under_load=sum(1 for f in faults if f.started < load.ended),
        faults=[f"{f} ×{f.hit}" for f in faults], failed_units=tally.failed_units,
        accepted_missing=missing, copies_behind=behind(), plans_missing=plans_missing(),
        order_copies_missing=order_copies_missing(), revenue_short=revenue_short,
        revenue_doubled=revenue_doubled, applied_twice=twice, unexpected=int(unexpected),
        key_doubles=key_doubles,
        five_xx=len(tally.errors),
        five_xx_outside_window=[e for e in tally.errors if not in_window(e[0])],
        backlog=sum(n for q, n in depths.items() if not q.endswith(".dlq")),
        dead_lettered=sum(n for q, n in depths.items() if q.endswith(".dlq")),
        drain_seconds=drain_seconds, statuses=dict(tally.statuses))


def _answer_lost(r: httpx.Response) -> bool:
    """409 ``idempotency_answer_lost``: applied under this key, its answer lost."""
    if r.status_code != 409:
        return False
    with contextlib.suppress(ValueError):
        return bool(r.json().get("code") == "idempotency_answer_lost")
    return False


def _in_progress(r: httpx.Response) -> bool:
    """409 ``idempotency_in_progress``: the first attempt under this key still runs."""
    if r.status_code != 409:
        return False
    with contextlib.suppress(ValueError):
        return bool(r.json().get("code") == "idempotency_in_progress")
    return False
