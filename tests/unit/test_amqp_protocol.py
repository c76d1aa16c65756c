"""The gateway's AMQP protocol code against pamqp (the library aiormq speaks through) as
the reference reader and writer of the same frames."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from crm_platform import amqp_protocol as amqp
from pamqp import body as pamqp_body
from pamqp import commands, decode, frame, header
from pamqp.heartbeat import Heartbeat


def test_tables_read_back_as_written() -> None:
    values: dict[str, Any] = {
        "nameko.caller": '{"user_id": "张三", "scope": "own"}', "nameko.call_id_stack": [
            "gateway.list_customers.abc-1"], "flag": True, "off": False, "count": -7,
        "big": 2**40, "ratio": 0.25, "nothing": None, "nested": {"k": "v", "n": [1, "x"]}}
    size, decoded = decode.field_table(amqp.table(values))
    assert size == len(amqp.table(values))
    assert decoded == values


def test_unsupported_values_and_long_short_strings_are_refused() -> None:
    with pytest.raises(TypeError):
        amqp.table({"when": object()})
    with pytest.raises(ValueError):
        amqp.shortstr("x" * 256)


def _unmarshal_all(data: bytes) -> list[tuple[int, Any]]:
    frames = []
    while data:
        consumed, channel, value = frame.unmarshal(data)
        frames.append((channel, value))
        data = data[consumed:]
    return frames


@pytest.mark.parametrize("size", [0, 10, 131064, 131065, 300_000])
def test_a_publish_is_one_method_one_header_and_bodies_of_at_most_frame_max(size: int
                                                                            ) -> None:
    body = bytes(random.Random(size).randrange(256) for _ in range(size))
    props = amqp.basic_properties(
        content_type="application/json", content_encoding="utf-8",
        headers={"nameko.caller": "{}", "nameko.call_id_stack": ["gateway.x.1"]},
        correlation_id="abc-1", reply_to="rpc.reply-gateway-1", expiration="15000",
        message_id="m-1", delivery_mode=2)
    data = amqp.publish_frames(3, "nameko-rpc", "customer.list_customers", body, props,
                               frame_max=131072)
    frames = _unmarshal_all(data)
    assert all(channel == 3 for channel, _ in frames)
    method, content = frames[0][1], frames[1][1]
    assert isinstance(method, commands.Basic.Publish)
    assert (method.exchange, method.routing_key) == ("nameko-rpc", "customer.list_customers")
    assert isinstance(content, header.ContentHeader) and content.body_size == size
    p = content.properties
    assert (p.content_type, p.content_encoding, p.correlation_id, p.reply_to, p.expiration,
            p.message_id) == ("application/json", "utf-8", "abc-1", "rpc.reply-gateway-1",
                              "15000", "m-1")
    assert p.delivery_mode == 2
    assert p.headers == {"nameko.caller": "{}", "nameko.call_id_stack": ["gateway.x.1"]}
    bodies = [value for _, value in frames[2:]]
    assert all(isinstance(b, pamqp_body.ContentBody) for b in bodies)
    assert all(len(b.value) <= 131072 - 8 for b in bodies)
    assert b"".join(b.value for b in bodies) == body


def test_headers_as_the_broker_sent_them_are_written_back_as_they_came() -> None:
    # a retried event's headers carry RabbitMQ's x-death (a timestamp, counts, lists)
    death = {"count": 1, "reason": "expired", "queue": "q.retry", "exchange": "",
             "routing-keys": ["q.retry"],
             "time": datetime(2026, 12, 2, 5, 0, 7, tzinfo=UTC)}
    headers = {"x-death": [death], "x-crm-attempts": 2, "price": Decimal("-12.50"),
               "raw": b"bytes"}
    data = amqp.publish_frames(1, "", "q", b"{}", amqp.basic_properties(
        headers=headers, delivery_mode=2), frame_max=131072)
    p = _unmarshal_all(data)[1][1].properties
    assert p.delivery_mode == 2
    back = p.headers["x-death"][0]
    assert back["time"].timestamp() == death["time"].timestamp()
    assert {k: v for k, v in back.items() if k != "time"} == {
        k: v for k, v in death.items() if k != "time"}
    assert p.headers["price"] == Decimal("-12.50") and p.headers["x-crm-attempts"] == 2
    assert p.headers["raw"] in (b"bytes", "bytes")


def test_a_naive_timestamp_is_taken_as_utc_whatever_the_local_zone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    # py-amqp hands a timestamp header back as a naive datetime in UTC
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        data = amqp.publish_frames(1, "", "q", b"{}", amqp.basic_properties(
            headers={"time": datetime(2026, 12, 2, 5, 0, 7)}), frame_max=131072)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    stamp = _unmarshal_all(data)[1][1].properties.headers["time"]
    assert stamp.replace(tzinfo=UTC) == datetime(2026, 12, 2, 5, 0, 7, tzinfo=UTC)


@pytest.mark.parametrize("props", [
    {},
    {"correlation_id": "c-1"},
    {"content_type": "application/json", "content_encoding": "utf-8",
     "headers": {"a": "b", "n": 3}, "delivery_mode": 2, "priority": 5,
     "correlation_id": "c-2", "reply_to": "r", "message_id": "m"},
    {"headers": {}, "correlation_id": "c-3"},
])
def test_a_content_header_gives_its_body_size_and_correlation_id(props: dict[str, Any]
                                                                  ) -> None:
    marshalled = frame.marshal(header.ContentHeader(0, 4242, commands.Basic.Properties(
        **props)), 1)
    assert amqp.content_header(marshalled[7:-1]) == (4242, props.get("correlation_id"))


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


def _delivery(correlation_id: str, body: bytes, channel: int = 1) -> bytes:
    deliver = frame.marshal(commands.Basic.Deliver("replies", 7, False, "nameko-rpc",
                                                   "rpc.reply-gateway-1"), channel)
    content = frame.marshal(header.ContentHeader(0, len(body), commands.Basic.Properties(
        content_type="application/json", correlation_id=correlation_id)), channel)
    parts = [deliver, content]
    for start in range(0, len(body), 1000):  # small body frames
        parts.append(frame.marshal(pamqp_body.ContentBody(body[start:start + 1000]), channel))
    return b"".join(parts)


def _open_connection(delivered: list[tuple[str | None, bytes]],
                     lost: list[Exception]) -> tuple[amqp.AmqpConnection, _Transport]:
    connection = amqp.AmqpConnection(lambda cid, body: delivered.append((cid, body)),
                                     lost.append)
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    connection._channels[1] = amqp._Channel(1)
    connection._channels[1].open = True
    return connection, transport


def test_deliveries_are_read_however_the_stream_is_cut() -> None:
    replies = [(f"c-{i}", f'{{"result": {i}}}'.encode() * (i * 300 + 1)) for i in range(6)]
    stream = b"".join(_delivery(cid, body) for cid, body in replies)
    stream += frame.marshal(Heartbeat(), 0)
    rng = random.Random(3)
    for _ in range(20):
        delivered: list[tuple[str | None, bytes]] = []
        connection, _ = _open_connection(delivered, [])
        position = 0
        while position < len(stream):
            step = rng.randint(1, 5000)
            connection.data_received(stream[position:position + step])
            position += step
        assert delivered == replies


def test_a_broker_close_ends_the_connection_once_and_answers_close_ok() -> None:
    lost: list[Exception] = []
    connection, transport = _open_connection([], lost)
    connection.data_received(frame.marshal(commands.Connection.Close(
        320, "CONNECTION_FORCED - broker shutdown", 0, 0), 0))
    connection.connection_lost(None)
    assert len(lost) == 1 and "320" in str(lost[0]) and transport.aborted
    assert transport.written[-1] == frame.marshal(commands.Connection.CloseOk(), 0)
    assert not connection.is_open
    with pytest.raises(amqp.ConnectionClosed):
        connection.publish(1, "x", "y", b"", amqp.basic_properties())


def test_a_frame_without_its_end_marker_ends_the_connection() -> None:
    lost: list[Exception] = []
    connection, transport = _open_connection([], lost)
    bad = bytearray(frame.marshal(Heartbeat(), 0))
    bad[-1] = 0
    connection.data_received(bytes(bad))
    assert lost and transport.aborted


@pytest.mark.parametrize(("uri", "expected"), [
    ("amqp://guest:guest@127.0.0.1:5672/crm-test-1", ("127.0.0.1", 5672, "crm-test-1")),
    ("amqp://u:p%40ss@rabbit/%2F", ("rabbit", 5672, "/")),
    ("amqp://rabbit", ("rabbit", 5672, "/")),
    ("amqp://rabbit/", ("rabbit", 5672, "/")),
    ("amqps://rabbit/prod?heartbeat=15", ("rabbit", 5671, "prod")),
])
def test_addresses(uri: str, expected: tuple[str, int, str]) -> None:
    address = amqp.Address.parse(uri)
    assert (address.host, address.port, address.virtual_host) == expected
    if "p%40ss" in uri:
        assert (address.username, address.password) == ("u", "p@ss")
    if uri.startswith("amqps"):
        assert address.tls and address.heartbeat == 15


def test_other_schemes_are_refused() -> None:
    with pytest.raises(ValueError):
        amqp.Address.parse("http://rabbit")


def test_a_broker_that_stops_answering_ends_the_connection() -> None:
    async def go() -> list[Exception]:
        lost: list[Exception] = []
        connection, transport = _open_connection([], lost)
        connection._heartbeat = 2
        connection._beat()  # heard from just now: a heartbeat goes out, nothing is lost
        assert transport.written[-1] == frame.marshal(Heartbeat(), 0) and not lost
        connection._last_received -= 5  # more than two intervals of silence
        connection._beat()
        return lost

    lost = asyncio.run(go())
    assert len(lost) == 1 and "heartbeat" in str(lost[0])


def test_a_passive_declare_of_a_missing_queue_fails_its_channel_only() -> None:
    async def go() -> None:
        connection, transport = _open_connection([], [])
        connection._channels[2] = amqp._Channel(2)
        connection._channels[2].open = True
        probe = asyncio.create_task(connection.queue_declare(2, "rpc-nobody", passive=True))
        await asyncio.sleep(0)
        connection.data_received(frame.marshal(commands.Channel.Close(
            404, "NOT_FOUND - no queue 'rpc-nobody'", 50, 10), 2))
        with pytest.raises(amqp.ChannelClosed) as err:
            await probe
        assert err.value.code == amqp.NOT_FOUND
        assert transport.written[-1] == frame.marshal(commands.Channel.CloseOk(), 2)
        assert not connection.channel_open(2) and connection.channel_open(1)

    asyncio.run(go())
