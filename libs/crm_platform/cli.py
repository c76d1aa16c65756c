"""``crmctl``: operator commands.

    crmctl dlq list [--queue Q ...] [--show]
    crmctl dlq replay --queue <handler queue>.dlq [--limit N]

Dead-letter queues are ``<handler queue>.dlq``; without ``--queue`` the handler queues
of every service in this build are listed (see :mod:`crm_platform.service.topology`).
Replay moves messages back to the queue named in their ``x-crm-queue`` header, with the
attempt count reset; each is published with confirms before its DLQ copy is acked, so a
crash mid-replay duplicates at worst (consumers dedupe), never loses.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from kombu import Connection, Producer

from crm_platform.service.entrypoints import ATTEMPTS_HEADER, ERROR_HEADER, ORIGIN_HEADER
from crm_platform.settings import get_settings


def _known_dlqs() -> list[str]:
    from crm_platform.service.entrypoints import dead_letter_queue_name
    from crm_platform.service.topology import all_handler_queues  # noqa: PLC0415

    return [dead_letter_queue_name(q.queue) for q in all_handler_queues()]


def queue_depth(conn: Connection, name: str) -> int | None:
    channel = conn.channel()
    try:
        _, count, _ = channel.queue_declare(name, passive=True)
        return int(count)
    except Exception:  # the queue does not exist (a passive declare closes the channel)
        return None
    finally:
        with contextlib.suppress(Exception):  # already closed by the broker
            channel.close()


def peek(conn: Connection, name: str, limit: int = 20) -> list[dict[str, Any]]:
    """Messages at the head of a queue, without consuming them: fetched unacked on a
    channel that is then closed, so the broker requeues them."""
    channel = conn.channel()
    seen: list[dict[str, Any]] = []
    try:
        for _ in range(limit):
            message = channel.basic_get(name, no_ack=False)
            if message is None:
                break
            headers = message.properties.get("application_headers") or {}
            try:
                body = json.loads(message.body)
            except ValueError:
                body = {}
            seen.append({"id": body.get("id"), "type": body.get("type"),
                         "attempts": headers.get(ATTEMPTS_HEADER),
                         "error": headers.get(ERROR_HEADER),
                         "queue": headers.get(ORIGIN_HEADER)})
    finally:
        channel.close()
    return seen


def replay(conn: Connection, dlq: str, limit: int | None = None) -> int:
    """Move up to ``limit`` messages from ``dlq`` back to their handler queue."""
    channel = conn.channel()
    channel.confirm_select()
    producer = Producer(channel)
    moved = 0
    try:
        while limit is None or moved < limit:
            message = channel.basic_get(dlq, no_ack=False)
            if message is None:
                break
            headers = dict(message.properties.get("application_headers") or {})
            target = headers.get(ORIGIN_HEADER) or dlq.removesuffix(".dlq")
            headers[ATTEMPTS_HEADER] = 0
            headers["x-crm-replayed"] = int(headers.get("x-crm-replayed", 0)) + 1
            producer.publish(message.body, exchange="", routing_key=target, headers=headers,
                             content_type=message.properties.get("content_type",
                                                                 "application/json"),
                             content_encoding="utf-8", delivery_mode=2,
                             message_id=message.properties.get("message_id"))
            channel.basic_ack(message.delivery_tag)
            moved += 1
    finally:
        channel.close()
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crmctl")
    sub = parser.add_subparsers(dest="command", required=True)
    dlq = sub.add_parser("dlq", help="dead-letter queues").add_subparsers(
        dest="action", required=True)
    listing = dlq.add_parser("list", help="DLQ depths (and messages with --show)")
    listing.add_argument("--queue", action="append", default=[])
    listing.add_argument("--show", action="store_true")
    again = dlq.add_parser("replay", help="move dead letters back to their queue")
    again.add_argument("--queue", required=True)
    again.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    with Connection(get_settings().amqp_uri) as conn:
        if args.action == "list":
            names = args.queue or _known_dlqs()
            for name in names:
                depth = queue_depth(conn, name)
                print(f"{name}\t{'missing' if depth is None else depth}")
                if args.show and depth:
                    for item in peek(conn, name):
                        print(f"  {json.dumps(item, ensure_ascii=False)}")
            return 0
        moved = replay(conn, args.queue, args.limit)
        print(f"replayed {moved} message(s) from {args.queue}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
