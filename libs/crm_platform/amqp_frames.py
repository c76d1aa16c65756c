"""basic.publish frames of AMQP 0-9-1, written by hand for the confirmed publisher
(:mod:`crm_platform.amqp`), which sends an outbox batch as one stream of frames:
py-amqp's ``basic_publish`` serializes and sends each message apart, and pamqp's generic
marshalling does more work per message than these few functions.

Only writing: reading frames, connections and channels are kombu's (the publisher) and
aiormq's (the gateway's RPC client).
"""

from __future__ import annotations

import calendar
import struct
from datetime import datetime
from decimal import Decimal
from typing import Any

FRAME_METHOD, FRAME_HEADER, FRAME_BODY = 1, 2, 3
FRAME_END = b"\xce"
BASIC_PUBLISH = (60, 40)  # (class id, method id)
BASIC_CLASS = 60

_FRAME_HEAD = struct.Struct(">BHI")
_CONTENT_HEAD = struct.Struct(">HHQH")  # class, weight, body size, property flags
_PUBLISH_HEAD = struct.Struct(">BHIHHH")  # frame head + class, method + reserved short

# basic property flags, in wire order
_CONTENT_TYPE, _CONTENT_ENCODING, _HEADERS = 0x8000, 0x4000, 0x2000
_DELIVERY_MODE, _EXPIRATION, _MESSAGE_ID = 0x1000, 0x0100, 0x0080


def shortstr(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError(f"AMQP short string over 255 bytes: {value[:40]!r}…")
    return bytes((len(raw),)) + raw


def longstr(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(raw)) + raw


def _field_value(value: Any) -> bytes:
    if isinstance(value, (str, bytes)):
        return b"S" + longstr(value)
    if isinstance(value, bool):
        return b"t\x01" if value else b"t\x00"
    if isinstance(value, int):
        return b"l" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">d", value)
    if value is None:
        return b"V"
    # the broker's own headers come back in these (x-death: time), and are passed on
    # (py-amqp reads a timestamp as a naive datetime in UTC: naive means UTC here too)
    if isinstance(value, datetime):
        return b"T" + struct.pack(">Q", calendar.timegm(value.utctimetuple()))
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or not 0 <= -exponent <= 255:
            raise TypeError(f"no AMQP decimal for {value}")
        return b"D" + struct.pack(">Bi", -exponent, int(value.scaleb(-exponent)))
    if isinstance(value, (list, tuple)):
        items = b"".join(_field_value(v) for v in value)
        return b"A" + struct.pack(">I", len(items)) + items
    if isinstance(value, dict):
        return b"F" + table(value)
    raise TypeError(f"no AMQP field type for {type(value).__name__}")


def table(values: dict[str, Any]) -> bytes:
    """An AMQP field table (strings, booleans, integers, floats, None, lists, dicts)."""
    items = b"".join(shortstr(k) + _field_value(v) for k, v in values.items())
    return struct.pack(">I", len(items)) + items


def basic_properties(*, content_type: str | None = None, content_encoding: str | None = None,
                     headers: dict[str, Any] | None = None, delivery_mode: int | None = None,
                     expiration: str | None = None, message_id: str | None = None
                     ) -> tuple[int, bytes]:
    """(property flags, property fields) of a basic content header (the properties the
    publisher sets)."""
    flags, parts = 0, []
    for flag, value in ((_CONTENT_TYPE, content_type), (_CONTENT_ENCODING, content_encoding)):
        if value is not None:
            flags |= flag
            parts.append(shortstr(value))
    if headers is not None:
        flags |= _HEADERS
        parts.append(table(headers))
    if delivery_mode is not None:
        flags |= _DELIVERY_MODE
        parts.append(bytes((delivery_mode,)))
    for flag, value in ((_EXPIRATION, expiration), (_MESSAGE_ID, message_id)):
        if value is not None:
            flags |= flag
            parts.append(shortstr(value))
    return flags, b"".join(parts)


def publish_frames(channel: int, exchange: str, routing_key: str, body: bytes,
                   properties: tuple[int, bytes], frame_max: int) -> bytes:
    """basic.publish, its content header and body frames of at most ``frame_max``."""
    args = shortstr(exchange) + shortstr(routing_key) + b"\x00"  # not mandatory/immediate
    head = _PUBLISH_HEAD.pack(FRAME_METHOD, channel, 6 + len(args), *BASIC_PUBLISH, 0)
    flags, fields = properties
    header = _CONTENT_HEAD.pack(BASIC_CLASS, 0, len(body), flags) + fields
    parts = [head, args, FRAME_END,
             _FRAME_HEAD.pack(FRAME_HEADER, channel, len(header)), header, FRAME_END]
    chunk = frame_max - 8
    for start in range(0, len(body), chunk):
        piece = body[start:start + chunk]
        parts += [_FRAME_HEAD.pack(FRAME_BODY, channel, len(piece)), piece, FRAME_END]
    return b"".join(parts)
