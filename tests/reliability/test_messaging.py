"""The messaging guarantees (PLT-02, PLT-03) against the real broker and PostgreSQL:
outbox atomicity, at-least-once publishing across crashes, exactly-once effect, bounded
retries with a dead-letter queue, and cooperative database I/O under eventlet."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from crm_platform.amqp import ConfirmedPublisher
from crm_platform.errors import ServiceUnavailable
from crm_platform.events import CloudEvent
from crm_platform.rpc_client import RemoteError
from kombu import Connection, Exchange, Queue
from sqlalchemy import create_engine, func, select, text

from tests.reliability.conftest import Ledger
from tests.reliability.ledger_service import MESSAGING, EntryAdded, EntryBatched
from tests.support.infra import wait_until

pytestmark = pytest.mark.integration


def _tap(ledger: Ledger, pattern: str = "ledger_entry.*") -> tuple[Connection, Queue]:
    """A plain AMQP subscriber, as an internal app would bind one."""
    conn = Connection(ledger.amqp_uri)
    queue = Queue(f"tap-{uuid.uuid4().hex[:8]}", Exchange(f"{ledger.name}.events",
                                                           type="topic", durable=True),
                  routing_key=pattern, exclusive=True, auto_delete=True)
    queue(conn.channel()).declare()
    return conn, queue


Bodies = list[dict[str, Any]]


def _drain_until(conn: Connection, queue: Queue, done: Callable[[Bodies], bool],
                 seconds: float = 20) -> Bodies:
    """Messages of the tap until ``done`` says enough arrived (a deadline, not a wait)."""
    bound = queue(conn.channel())
    bodies: Bodies = []

    def arrived() -> bool:
        while (message := bound.get(no_ack=True)) is not None:
            bodies.append(json.loads(message.body))
        return done(bodies)

    wait_until(arrived, seconds, "events on the tap", interval=0.05)
    return bodies


def _queued(conn: Connection, queue: Queue) -> Bodies:
    """What the tap holds right now."""
    bound = queue(conn.channel())
    bodies = []
    while (message := bound.get(no_ack=True)) is not None:
        bodies.append(json.loads(message.body))
    return bodies


def _ids(bodies: Bodies) -> list[str]:
    return [b["data"]["id"] for b in bodies]


def _outbox_rows(ledger: Ledger) -> int:
    engine = create_engine(ledger.db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(MESSAGING.outbox))
                       .scalar_one())
    finally:
        engine.dispose()


def _consumed(ledger: Ledger, event_type: str, outcome: str) -> float:
    """The ledger's own count of events consumed with ``outcome`` (its metrics)."""
    port = ledger.procs[0].ops_port  # type: ignore[attr-defined]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    wanted = (f'outcome="{outcome}"', f'type="{event_type}"')
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("crm_events_consumed_total{")
               and all(label in line for label in wanted))


def test_committed_event_reaches_a_plain_amqp_subscriber(ledger: Ledger) -> None:
    conn, queue = _tap(ledger)
    with conn:
        entry = ledger.call("add_entry", account="张三", amount=5)
        seen = _drain_until(conn, queue, lambda got: entry["id"] in _ids(got))
        # a row leaves the outbox once its publish is confirmed: nothing can be sent again
        wait_until(lambda: _outbox_rows(ledger) == 0, 10, "outbox empty")
        bodies = [b for b in seen + _queued(conn, queue) if b["data"]["id"] == entry["id"]]
    assert len(bodies) == 1
    event = bodies[0]
    assert event["specversion"] == "1.0" and event["type"] == "ledger_entry.added"
    assert event["source"] == f"/crm/{ledger.name}" and event["subject"] == entry["id"]
    assert event["data"] == {"id": entry["id"], "account": "张三", "amount": 5}
    CloudEvent.model_validate(event)


def test_rolled_back_transaction_publishes_nothing(ledger: Ledger) -> None:
    conn, queue = _tap(ledger)
    with conn:
        with pytest.raises(RemoteError):
            ledger.call("add_entry", account="rollback", amount=1, fail_after_write=True)
        assert _outbox_rows(ledger) == 0  # nothing committed, so nothing to publish
        # an entry committed after it is published; the rolled-back one never came first
        after = ledger.call("add_entry", account="after", amount=1)
        seen = _drain_until(conn, queue, lambda got: after["id"] in _ids(got))
    assert [b for b in seen if b["data"]["account"] == "rollback"] == []


def test_event_delivered_twice_is_applied_once(ledger: Ledger) -> None:
    duplicates_before = _consumed(ledger, "ledger_entry.added", "duplicate")
    entry = ledger.call("add_entry", account="twice", amount=2)
    wait_until(lambda: len(ledger.call("applied")) >= 1, 10, "first delivery applied")
    event = CloudEvent.wrap(ledger.name, EntryAdded(id=entry["id"], account="twice", amount=2))
    publisher = ConfirmedPublisher(ledger.amqp_uri)
    try:
        for _ in range(3):  # the same event id, delivered three more times
            publisher.publish(exchange=f"{ledger.name}.events", routing_key=event.type,
                              body=event.model_dump_json(), message_id=event.id)
    finally:
        publisher.close()
    wait_until(lambda: event.id in ledger.call("applied"), 10, "replayed event applied")
    # all three deliveries of it handled: one applied, two recognised as duplicates
    wait_until(lambda: _consumed(ledger, "ledger_entry.added", "duplicate")
               >= duplicates_before + 2, 20, "the two redeliveries recognised")
    assert ledger.call("applied")[event.id] == 1


def test_outbox_rows_left_by_a_killed_service_are_published_after_restart(
        ledger: Ledger) -> None:
    proc = ledger.procs[0]
    proc.kill()  # SIGKILL: nothing graceful
    # rows committed by a transaction whose process died before publishing them
    events = [CloudEvent.wrap(ledger.name, EntryAdded(id=str(uuid.uuid4()), account="crash",
                                                      amount=i)) for i in range(20)]
    engine = create_engine(ledger.db_url)
    with engine.begin() as conn:
        conn.execute(MESSAGING.outbox.insert(), [
            {"id": ev.id, "exchange": f"{ledger.name}.events", "routing_key": ev.type,
             "body": ev.model_dump_json(), "headers": "{}",
             "created_at": datetime.now(UTC), "attempts": 0} for ev in events])
    engine.dispose()
    ledger.restart(proc)
    wanted = {ev.id for ev in events}
    wait_until(lambda: wanted <= set(ledger.call("applied")), 20, "outbox drained")
    applied = ledger.call("applied")
    assert all(applied[i] == 1 for i in wanted)
    assert _outbox_rows(ledger) == 0


def test_poison_event_is_retried_then_dead_lettered_and_replayed(ledger: Ledger) -> None:
    ledger.call("set_switch", name="poison", on=True)
    event_id = ledger.call("poison")["event_id"]
    dlq = (f"evt-{ledger.name}-ledger_entry.poison--{ledger.name}.on_poison.dlq")
    env = {**ledger.env}

    def dead_lettered() -> list[dict[str, object]]:
        out = subprocess.run([sys.executable, "-m", "crm_platform.cli", "dlq", "list",
                              "--queue", dlq, "--show"], env=env, capture_output=True,
                             text=True, timeout=30)
        return [json.loads(line) for line in out.stdout.splitlines()
                if line.startswith("  ")]

    parked = wait_until(dead_lettered, 30, "poison in the DLQ")
    assert parked[0]["id"] == event_id and parked[0]["attempts"] == 3
    assert "poisoned" in str(parked[0]["error"])
    assert event_id not in ledger.call("applied")
    # the cause is fixed; an operator replays the dead letter
    ledger.call("set_switch", name="poison", on=False)
    out = subprocess.run([sys.executable, "-m", "crm_platform.cli", "dlq", "replay",
                          "--queue", dlq], env=env, capture_output=True, text=True,
                         timeout=30)
    assert "replayed 1" in out.stdout, out.stderr
    wait_until(lambda: event_id in ledger.call("applied"), 15, "replayed poison applied")
    assert dead_lettered() == []


def test_batched_events_are_applied_once_and_a_poison_one_is_dead_lettered_alone(
        ledger: Ledger) -> None:
    """A batch consumer takes what its queue delivered together; redelivered events are
    applied once; a batch holding a poison event is applied one by one, so the poison
    one alone is retried and dead-lettered."""
    ids = ledger.call("add_batched", n=300, poison_at=150)
    healthy, poison = set(ids) - {ids[150]}, ids[150]
    wait_until(lambda: healthy <= set(ledger.call("applied")), 60, "healthy events applied")
    publisher = ConfirmedPublisher(ledger.amqp_uri)
    try:  # the first ten delivered again, as after a consumer's crash
        for event_id in ids[:10]:
            event = CloudEvent.wrap(ledger.name, EntryBatched(id=event_id))
            event.id = event_id
            publisher.publish(exchange=f"{ledger.name}.events", routing_key=event.type,
                              body=event.model_dump_json(), message_id=event_id)
    finally:
        publisher.close()
    wait_until(lambda: _consumed(ledger, "ledger_entry.batched", "duplicate") >= 10, 30,
               "redeliveries recognised")
    dlq = f"evt-{ledger.name}-ledger_entry.batched--{ledger.name}.on_batched.dlq"
    out = wait_until(lambda: (lambda o: o if poison in o.stdout else None)(subprocess.run(
        [sys.executable, "-m", "crm_platform.cli", "dlq", "list", "--queue", dlq, "--show"],
        env=ledger.env, capture_output=True, text=True, timeout=30)), 30, "poison parked")
    assert out.stdout.count('"id"') == 1
    applied = ledger.call("applied")
    assert poison not in applied
    assert all(applied[i] == 1 for i in healthy)
    assert max(ledger.call("batch_sizes")) > 1


def test_two_replicas_publish_and_consume_each_event_once(ledger: Ledger) -> None:
    second = ledger.spawn()
    try:
        conn, queue = _tap(ledger)
        with conn:
            ids = [r["id"] for r in ledger.calls("add_entry", 200, account="pair", amount=1)]
            seen = _drain_until(conn, queue, lambda got: set(ids) <= set(_ids(got)))
        delivered = _ids(seen)
        wait_until(lambda: len(ledger.call("applied")) >= len(ids), 15, "all applied")
        applied = ledger.call("applied")
        assert max(applied.values()) == 1
        # raw publishes are at-least-once; in a calm run there are no duplicates
        print(f"deliveries {len(delivered)} for {len(ids)} events")
    finally:
        second.kill()


def test_database_io_is_cooperative_under_eventlet(ledger: Ledger) -> None:
    """Five slow queries of one process are in the database at the same moment: green
    psycopg2 yields while one waits, instead of blocking the process."""
    engine = create_engine(ledger.db_url)
    database = engine.url.database

    def sleeping() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                "AND query LIKE 'SELECT pg_sleep%' AND state = 'active'"),
                {"db": database}).scalar_one())

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(ledger.calls, "slow_query", 5, seconds=3.0)
        try:
            wait_until(lambda: sleeping() >= 5, 30, "five queries at once", interval=0.05)
        finally:
            assert running.result() == [3.0] * 5
            engine.dispose()


def test_a_service_that_is_not_running_fails_fast(ledger: Ledger) -> None:
    nobody = Ledger("no_such_service", ledger.amqp_uri, ledger.db_url, ledger.env,
                    ledger.log_dir, [])
    with pytest.raises(ServiceUnavailable) as err:
        nobody.call("anything", timeout=30)
    # refused because no one consumes the queue, not timed out (``service_timeout``)
    assert err.value.code == "service_unavailable"


def test_a_service_signalled_twice_stops_once_and_cleanly(ledger: Ledger) -> None:
    """A supervisor and the process group may both pass SIGTERM on (``make run``)."""
    proc = ledger.spawn()
    assert proc.popen is not None
    proc.popen.send_signal(signal.SIGTERM)
    # the first handled (two at once arrive as one) and the stop under way
    wait_until(lambda: "stopping" in proc.log_path.read_text(errors="replace"), 30,
               "the first SIGTERM handled", interval=0.02)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(timeout=30) == 0
    log = proc.log_path.read_text(errors="replace")
    assert log.count("stopping") == 1 and "Traceback" not in log, log[-3000:]
