"""Batched publisher confirms against the real broker: a batch is delivered whole and in
order; a batch the broker refuses raises ``NotConfirmed`` and the publisher recovers;
the relay deletes only confirmed rows and keeps (and counts) the others until a later
sweep publishes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from crm_platform.amqp import ConfirmedPublisher, NotConfirmed, Outgoing
from crm_platform.db import make_engine, messaging_tables, session_factory
from crm_platform.outbox import OutboxRelay
from kombu import Connection, Exchange, Queue
from sqlalchemy import MetaData, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.infra import Vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vhost() -> Iterator[Vhost]:
    vhost = Vhost()
    try:
        yield vhost
    finally:
        vhost.delete()


def _tap(vhost: Vhost, exchange: str) -> tuple[Connection, Queue]:
    conn = Connection(vhost.uri)
    queue = Queue(f"tap-{uuid.uuid4().hex[:8]}", Exchange(exchange, type="topic", durable=True),
                  routing_key="#", auto_delete=True)
    queue(conn.channel()).declare()
    return conn, queue


def _bodies(conn: Connection, queue: Queue) -> list[str]:
    bound = queue(conn.channel())
    out = []
    while (message := bound.get(no_ack=True)) is not None:
        out.append(message.body if isinstance(message.body, str) else message.body.decode())
    return out


def test_a_batch_arrives_whole_and_in_order(vhost: Vhost) -> None:
    exchange = f"batch-{uuid.uuid4().hex[:6]}.events"
    conn, queue = _tap(vhost, exchange)
    publisher = ConfirmedPublisher(vhost.uri)
    try:
        publisher.publish_batch([Outgoing(exchange, "thing.created", json.dumps({"n": n}),
                                          {"ce_id": str(n)}, f"id-{n}") for n in range(1200)])
        publisher.publish(exchange=exchange, routing_key="thing.created", body='{"n": -1}')
        with conn:
            assert [json.loads(b)["n"] for b in _bodies(conn, queue)] == [*range(1200), -1]
    finally:
        publisher.close()


def test_a_message_arrives_persistent_with_its_id_headers_and_whole_body(vhost: Vhost
                                                                         ) -> None:
    exchange = f"props-{uuid.uuid4().hex[:6]}.events"
    conn, queue = _tap(vhost, exchange)
    publisher = ConfirmedPublisher(vhost.uri)
    large = json.dumps({"名": "海同" * 200_000})  # over a frame: split into body frames
    try:
        publisher.publish_batch([
            Outgoing(exchange, "thing.created", large, {"ce_id": "1", "n": 2}, "m-1"),
            Outgoing(exchange, "thing.updated", "{}", {}, None, expiration=1.5)])
        with conn:
            bound = queue(conn.channel())
            first, second = bound.get(no_ack=True), bound.get(no_ack=True)
        body = first.body if isinstance(first.body, str) else first.body.decode()
        assert body == large and first.delivery_info["routing_key"] == "thing.created"
        assert first.properties["delivery_mode"] == 2
        assert first.properties["message_id"] == "m-1"
        assert (first.content_type, first.content_encoding) == ("application/json", "utf-8")
        assert first.headers == {"ce_id": "1", "n": 2}
        assert second.properties["expiration"] == "1500"
        assert "message_id" not in second.properties
    finally:
        publisher.close()


def test_a_refused_batch_raises_and_the_publisher_recovers(vhost: Vhost) -> None:
    exchange = f"refused-{uuid.uuid4().hex[:6]}.events"
    conn, queue = _tap(vhost, exchange)  # a topic exchange
    publisher = ConfirmedPublisher(vhost.uri)
    try:
        # declaring it as a direct exchange makes the broker close the channel
        with pytest.raises(NotConfirmed) as refused:
            publisher.publish_batch([Outgoing(exchange, "x", "{}", exchange_type="direct")
                                     for _ in range(3)])
        assert refused.value.confirmed == [False, False, False]
        publisher.publish_batch([Outgoing(exchange, "x", '{"ok": true}')])
        with conn:
            assert _bodies(conn, queue) == ['{"ok": true}']
    finally:
        publisher.close()


def _outbox_rows(tmp_path: Path, exchange: str, prefix: str, count: int
                 ) -> tuple[Any, Any, sessionmaker[Session], list[dict[str, Any]]]:
    """A SQLite outbox holding ``count`` rows for ``exchange``, a minute old (old enough
    for a sweep): (engine, tables, sessions, rows)."""
    metadata = MetaData()
    tables = messaging_tables(metadata)
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    metadata.create_all(engine)
    sessions = session_factory(engine)
    old = datetime.now(UTC) - timedelta(minutes=1)
    rows = [{"id": f"{prefix}{n}", "exchange": exchange, "routing_key": "thing.created",
             "body": json.dumps({"n": n}), "headers": "{}", "created_at": old, "attempts": 0}
            for n in range(count)]
    with sessions() as s, s.begin():
        s.execute(tables.outbox.insert(), rows)
    return engine, tables, sessions, rows


def test_the_relay_keeps_unconfirmed_rows_and_a_sweep_publishes_them(
        vhost: Vhost, tmp_path: Path) -> None:
    good, bad = (f"{name}-{uuid.uuid4().hex[:6]}.events" for name in ("good", "bad"))
    conn, queue = _tap(vhost, good)
    with Connection(vhost.uri) as admin:
        Exchange(bad, type="direct", durable=True)(admin.channel()).declare()
    engine, tables, sessions, rows = _outbox_rows(tmp_path, good, "g", 7)
    with sessions() as s, s.begin():
        s.execute(tables.outbox.insert(), [{**rows[0], "id": "b0", "exchange": bad,
                                            "body": "{}"}])
    publisher = ConfirmedPublisher(vhost.uri)
    relay = OutboxRelay(sessions, tables, publisher, "test", batch_size=3)
    try:
        assert relay.publish_ids([f"g{n}" for n in range(7)]) == 7
        # the bad row's exchange is declared as a topic by the publisher: refused
        assert relay.publish_ids(["b0"]) == 0
        with sessions() as s:
            left = s.execute(select(tables.outbox.c.id, tables.outbox.c.attempts)).all()
        assert [tuple(r) for r in left] == [("b0", 1)]
        with Connection(vhost.uri) as admin:
            Exchange(bad, type="direct")(admin.channel()).delete()
            Exchange(bad, type="topic", durable=True)(admin.channel()).declare()
        assert relay.sweep() == 1
        with sessions() as s:
            assert s.execute(select(tables.outbox.c.id)).all() == []
        with conn:
            assert sorted(json.loads(b)["n"] for b in _bodies(conn, queue)) == list(range(7))
    finally:
        publisher.close()
        engine.dispose()


def test_the_fast_path_deletes_confirmed_rows_together_and_the_sweep_never_resends_them(
        vhost: Vhost, tmp_path: Path) -> None:
    """Rows the fast path published stay until :meth:`OutboxRelay.delete_confirmed`
    takes them all in one transaction; a sweep in between deletes them instead of
    sending them again, however old they are."""
    exchange = f"fast-{uuid.uuid4().hex[:6]}.events"
    conn, queue = _tap(vhost, exchange)
    engine, tables, sessions, rows = _outbox_rows(tmp_path, exchange, "f", 5)
    publisher = ConfirmedPublisher(vhost.uri)
    relay = OutboxRelay(sessions, tables, publisher, "test")
    try:
        assert relay.publish_committed(rows[:2]) == 2
        assert relay.publish_committed(rows[2:4]) == 2
        assert relay.confirmed_waiting == 4
        with sessions() as s:
            assert s.execute(select(func.count()).select_from(tables.outbox)).scalar() == 5
        assert relay.delete_confirmed() == 4
        assert relay.delete_confirmed() == 0
        with sessions() as s:
            assert s.execute(select(tables.outbox.c.id)).scalars().all() == ["f4"]

        assert relay.publish_committed(rows[4:]) == 1
        assert relay.sweep() == 0  # the row is old enough to sweep, but confirmed: deleted
        with sessions() as s:
            assert s.execute(select(tables.outbox.c.id)).all() == []
        with conn:
            assert sorted(json.loads(b)["n"] for b in _bodies(conn, queue)) == list(range(5))
    finally:
        publisher.close()
        engine.dispose()
