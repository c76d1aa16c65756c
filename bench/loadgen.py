"""A small keep-alive HTTP/1.1 load generator on raw asyncio streams.

Lighter than an HTTP client library, so on a 2-core machine it steals less CPU from the
server under test; every figure is measured with it, so ratios compare like with like.
Loopback only; bounded by request count and time.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass
class Result:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    def line(self, label: str) -> str:
        return (f"{label:<28} c={self.concurrency:<3} n={self.requests:<6} "
                f"err={self.errors:<4} {self.rps:8.0f} req/s  p50 {self.pct(0.5):6.1f} ms  "
                f"p99 {self.pct(0.99):6.1f} ms  mean {statistics.fmean(self.latencies_ms):6.1f} ms")


# ``request(n)``: the bytes of the n-th request of a run (a POST's body differs per request)
Request = Callable[[int], bytes]


async def _worker(host: str, port: int, request: Request, deadline: float, budget: list[int],
                  latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            raw = request(budget[0])
            started = time.perf_counter()
            writer.write(raw)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if not status_line.startswith(b"HTTP/1.1 2"):
                errors[0] += 1
    finally:
        writer.close()


async def run(url: str, concurrency: int, total: int, max_seconds: float,
              headers: dict[str, str] | None = None,
              body: Callable[[int], bytes] | None = None,
              query: Callable[[int], str] | None = None) -> Result:
    """GET ``url``; or, with ``body``, POST ``body(n)`` as JSON for the n-th request;
    ``query(n)``: the n-th GET's query string (lookups of different keys)."""
    parsed = urlparse(url)
    assert parsed.hostname in ("127.0.0.1", "localhost"), "loopback only"
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request: Request
    if body is None and query is not None:
        def request(n: int) -> bytes:
            return (f"GET {parsed.path}?{query(n)} HTTP/1.1\r\nHost: {parsed.hostname}\r\n"
                    f"{head}\r\n").encode()
    elif body is None:
        get = (f"GET {path} HTTP/1.1\r\nHost: {parsed.hostname}\r\n{head}\r\n").encode()
        request = lambda n: get  # noqa: E731 - the same bytes every time
    else:
        post = (f"POST {path} HTTP/1.1\r\nHost: {parsed.hostname}\r\n{head}"
                "Content-Type: application/json\r\n").encode()

        def request(n: int) -> bytes:
            payload = body(n)
            return post + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
    budget = [total]
    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    deadline = started + max_seconds
    await asyncio.gather(*[
        _worker(parsed.hostname or "127.0.0.1", parsed.port or 80, request, deadline, budget,
                latencies, errors) for _ in range(concurrency)])
    return Result(concurrency, len(latencies), errors[0], time.perf_counter() - started,
                  latencies)
