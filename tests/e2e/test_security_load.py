"""S4 under load: one caller flooding the gateway gets 429 with ``Retry-After`` (counted:
what the token bucket allows gets through, nothing refused is written, another caller
is not held back), and slow clients — a body sent a byte at a time, headers never
finished, connections opened and left idle — do not hold up anyone else's requests.

No clock is asserted on: the flood's duration only widens how many tokens may have been
refilled meanwhile; the slow clients are still mid-request, by construction, while the
others' requests are answered (each within the client's timeout), and they finish
normally once they send their last byte."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.infra import wait_until
from tests.support.platform import Platform
from tests.support.problems import expect_problem

pytestmark = pytest.mark.e2e

RATE = 0.2  # tokens per second: one every 5 s, so a flood refills almost nothing
BURST = 25
FLOOD = 120  # requests fired at once by one caller


@pytest.fixture(scope="module")
def limited(platform: Platform) -> Iterator[str]:
    """A second gateway replica whose rate limit a test can exhaust (the session's own
    allows thousands a second, for the other tests' sake)."""
    with platform.another_gateway(CRM_RATE_LIMIT_PER_SECOND=str(RATE),
                                  CRM_RATE_LIMIT_BURST=str(BURST)) as url:
        yield url


async def _flood(url: str, flooder: str, bystander: str, marker: str
                 ) -> tuple[list[httpx.Response], list[httpx.Response], float]:
    """FLOOD creates by ``flooder`` at once, and a few reads by ``bystander`` among them."""
    limits = httpx.Limits(max_connections=FLOOD + 10, max_keepalive_connections=FLOOD + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        creates = [c.post("/api/v1/customers", headers={"Authorization": f"Bearer {flooder}"},
                          json={"name": f"{marker}-{i}", "kind": "company"})
                   for i in range(FLOOD)]
        reads = [c.get("/api/v1/customers", params={"limit": 1},
                       headers={"Authorization": f"Bearer {bystander}"}) for _ in range(5)]
        started = time.monotonic()
        answers = await asyncio.gather(*creates, *reads)
        return list(answers[:FLOOD]), list(answers[FLOOD:]), time.monotonic() - started


def test_a_flood_from_one_caller_is_429_with_retry_after(platform: Platform,
                                                         limited: str) -> None:
    flooder = platform.new_user(["sales_rep"])
    bystander = platform.new_user(["sales_rep"])
    marker = f"限流{uuid.uuid4().hex[:10]}"
    creates, reads, elapsed = asyncio.run(_flood(limited, flooder["token"],
                                                 bystander["token"], marker))
    statuses = sorted({r.status_code for r in creates})
    assert set(statuses) <= {201, 429}, [(r.status_code, r.text[:200]) for r in creates
                                         if r.status_code not in (201, 429)][:5]
    created = [r for r in creates if r.status_code == 201]
    refused = [r for r in creates if r.status_code == 429]
    # the bucket starts full: BURST pass, plus what refilled while the flood ran
    assert BURST <= len(created) <= BURST + int(elapsed * RATE) + 1, (len(created), elapsed)
    assert len(refused) == FLOOD - len(created)
    waits = []
    for r in refused:
        expect_problem(r, 429, "rate_limited")
        assert r.headers.get("retry-after", "").isdigit(), r.headers
        waits.append(int(r.headers["retry-after"]))
    # a whole token takes 1/RATE seconds to refill; never "0", never more than that
    assert min(waits) >= 1 and max(waits) <= round(1 / RATE), (min(waits), max(waits))
    # another caller on the same replica, during the flood: its own bucket
    assert [r.status_code for r in reads] == [200] * len(reads), [r.text[:200] for r in reads]
    # nothing refused was written: exactly the 201s exist (an admin counts, elsewhere)
    with platform.admin() as admin:
        found = admin.get("/api/v1/customers", params={"q": marker, "limit": 200})
    assert found.status_code == 200, found.text
    assert sorted(i["name"] for i in found.json()["items"]) == \
        sorted(r.json()["name"] for r in created)
    print(f"\nflood: {FLOOD} creates at once: {len(created)} created, {len(refused)} × 429 "
          f"(Retry-After {min(waits)}–{max(waits)} s) in {elapsed:.1f} s")
    # and the caller who waits as told gets through again
    with httpx.Client(base_url=limited, timeout=30,
                      headers={"Authorization": f"Bearer {flooder['token']}"}) as c:
        wait_until(lambda: c.get("/api/v1/customers", params={"limit": 1}).status_code == 200,
                   max(waits) + 15, "a request after Retry-After", interval=0.5)


# -- slow clients -----------------------------------------------------------------------------

def _address(platform: Platform) -> tuple[str, int]:
    parts = urlsplit(platform.base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


class Dribbler(threading.Thread):
    """Sends a request's head at once and its body a byte at a time, every ``pace``
    seconds, but never its last byte before ``release`` is set; then the rest, and
    reads the answer (``Connection: close``: the answer ends with the connection)."""

    def __init__(self, address: tuple[str, int], method: str, path: str, token: str,
                 body: bytes, content_type: str, pace: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.head = (f"{method} {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        self.body = body
        self.pace = pace
        self.release = threading.Event()
        self.dribbling = threading.Event()  # a few bytes of the body are in
        self.answered = threading.Event()
        self.status: int | None = None
        self.answer = b""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with socket.create_connection(self.address, timeout=120) as sock:
                sock.sendall(self.head)
                sent = 0
                while sent < len(self.body) - 1 and not self.release.is_set():
                    sock.sendall(self.body[sent:sent + 1])
                    sent += 1
                    if sent >= 5:
                        self.dribbling.set()
                    self.release.wait(self.pace)
                self.dribbling.set()
                self.release.wait(120)
                sock.sendall(self.body[sent:])
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                self.answer = b"".join(chunks)
                self.status = int(self.answer.split(b" ", 2)[1])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.answered.set()

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.answer.split(b"\r\n\r\n", 1)[1]))


def _others_work(platform: Platform, user: dict[str, Any], document_id: str | None,
                 rounds: int) -> int:
    """Ordinary requests by another caller: creates, reads, a list, an upload and its
    download. Each must be answered (httpx's timeout is the deadline); returns how many."""
    done = 0
    with platform.client(user["token"]) as c:
        for i in range(rounds):
            made = c.post("/api/v1/customers",
                          json={"name": f"旁观{uuid.uuid4().hex[:8]}", "kind": "company"})
            assert made.status_code == 201, made.text
            got = c.get(f"/api/v1/customers/{made.json()['id']}")
            assert got.status_code == 200, got.text
            listed = c.get("/api/v1/customers", params={"limit": 5})
            assert listed.status_code == 200, listed.text
            done += 3
            if document_id:
                data = f"第{i}版".encode() * 100
                up = c.post(f"/api/v1/documents/{document_id}/versions",
                            params={"filename": f"v{i}.txt"}, content=data,
                            headers={"Content-Type": "application/octet-stream"})
                assert up.status_code == 201, up.text
                down = c.get(f"/api/v1/documents/{document_id}/versions/"
                             f"{up.json()['number']}/content")
                assert down.status_code == 200 and down.content == data, down.text[:200]
                done += 2
    return done


def _document(platform: Platform, user: dict[str, Any]) -> str | None:
    if "docs" not in platform.procs:
        return None
    with platform.client(user["token"]) as c:
        def made() -> str | None:  # once the docs service knows the new user
            r = c.post("/api/v1/documents", json={"title": "慢客户", "category": "contract"})
            return str(r.json()["id"]) if r.status_code == 201 else None
        return str(wait_until(made, 30, "a document"))


def test_slow_clients_do_not_hold_up_others(platform: Platform) -> None:
    slow = platform.new_user(["sales_rep"])
    other = platform.new_user(["sales_rep"])
    address = _address(platform)
    marker = f"慢{uuid.uuid4().hex[:10]}"
    names = [f"{marker}公司{i}" for i in range(5)]
    dribblers = [Dribbler(address, "POST", "/api/v1/customers", slow["token"], json.dumps(
        {"name": name, "kind": "company", "business_scope": "逐字节" * 200},
        ensure_ascii=False).encode(), "application/json") for name in names]
    slow_doc, other_doc = _document(platform, slow), _document(platform, other)
    file_bytes = ("慢慢上传的文件内容" * 300).encode()
    if slow_doc:
        dribblers.append(Dribbler(address, "POST",
                                  f"/api/v1/documents/{slow_doc}/versions?filename=slow.txt",
                                  slow["token"], file_bytes, "application/octet-stream"))
    held: list[socket.socket] = []
    try:
        for d in dribblers:
            d.start()
        for d in dribblers:
            assert d.dribbling.wait(30) and d.error is None, d.error
        # slowloris: a hundred request heads never finished, a hundred connections idle
        for i in range(200):
            sock = socket.create_connection(address, timeout=30)
            if i % 2 == 0:
                sock.sendall(b"GET /api/v1/customers HTTP/1.1\r\nHost: x\r\nAuthor")
            held.append(sock)

        done = _others_work(platform, other, other_doc, rounds=10)

        # the others were answered while every slow client was still sending
        assert done >= 30
        print(f"\nslow clients: {len(dribblers)} bodies a byte at a time, {len(held)} "
              f"connections held; another caller's {done} requests answered meanwhile")
        assert not any(d.answered.is_set() for d in dribblers), \
            [(d.status, d.error) for d in dribblers if d.answered.is_set()]
    finally:
        for d in dribblers:
            d.release.set()
        for sock in held:
            sock.close()
    for d in dribblers:
        assert d.answered.wait(120), "a slow client never answered"
        assert d.error is None and d.status == 201, (d.error, d.answer[:300])
    assert [d.json()["name"] for d in dribblers[:5]] == names
    if slow_doc:
        uploaded = dribblers[-1].json()
        assert uploaded["size"] == len(file_bytes) and uploaded["filename"] == "slow.txt"
        with platform.client(slow["token"]) as c:
            got = c.get(f"/api/v1/documents/{slow_doc}/versions/{uploaded['number']}/content")
        assert got.status_code == 200 and got.content == file_bytes
