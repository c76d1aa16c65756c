"""The confirmed publisher's frame writing against pamqp (the library aiormq speaks
through) as the reference reader of the same frames."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from crm_platform import amqp_frames as amqp
from pamqp import body as pamqp_body
from pamqp import commands, decode, frame, header


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
        headers={"ce_type": "customer.created", "nameko.correlation_id": "c-1",
                 "tags": ["a", 1]},
        expiration="15000", message_id="m-1", delivery_mode=2)
    data = amqp.publish_frames(3, "crm.customer", "customer.created", body, props,
                               frame_max=131072)
    frames = _unmarshal_all(data)
    assert all(channel == 3 for channel, _ in frames)
    method, content = frames[0][1], frames[1][1]
    assert isinstance(method, commands.Basic.Publish)
    assert (method.exchange, method.routing_key) == ("crm.customer", "customer.created")
    assert isinstance(content, header.ContentHeader) and content.body_size == size
    p = content.properties
    assert (p.content_type, p.content_encoding, p.expiration, p.message_id) == (
        "application/json", "utf-8", "15000", "m-1")
    assert p.delivery_mode == 2
    assert p.headers == {"ce_type": "customer.created", "nameko.correlation_id": "c-1",
                         "tags": ["a", 1]}
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
