"""The HTTP call of a webhook delivery, with the SSRF guard around it (NTF-07).

The host is resolved once and every address checked
(:func:`services.notify.domain.webhooks.refusal`); the request then goes to the checked
address itself (the name is sent as ``Host`` and as the TLS server name), so a DNS
answer that changes between the check and the connection cannot lead inside. Redirects
are not followed; connect and read time-outs apply; at most ``max_bytes`` of the answer
are read.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.notify.domain import webhooks


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: str | None
    error: str | None
    duration_ms: int


class Refused(Exception):
    """The URL is not one the platform may call."""


def _pinned(url: str, address: str, target: webhooks.Target) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    return urlunsplit((parts.scheme, f"{host}:{target.port}", parts.path or "/",
                       parts.query, ""))


class WebhookClient:
    def __init__(self, allowed_hosts: list[str], connect_timeout: float, read_timeout: float,
                 max_bytes: int) -> None:
        self.allowed_hosts = allowed_hosts
        self.max_bytes = max_bytes
        self.client = httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_keepalive_connections=20))

    def post(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        target = webhooks.parse_target(url)
        if isinstance(target, str):
            raise Refused(target)
        extensions: dict[str, str] = {}
        request_url = url
        if target.host_port not in self.allowed_hosts:
            addresses: list[str] = []

            def lookup(host: str, port: int) -> list[str]:
                addresses.extend(resolve(host, port))
                return addresses

            why = webhooks.refusal(url, self.allowed_hosts, lookup)
            if why:
                raise Refused(why)
            request_url = _pinned(url, addresses[0], target)
            default_port = 443 if target.scheme == "https" else 80
            headers = {**headers, "Host": target.host if target.port == default_port
                       else target.host_port}
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
        started = time.perf_counter()
        try:
            with self.client.stream("POST", request_url, headers=headers, content=body,
                                    extensions=extensions) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= self.max_bytes:
                        break
                text = b"".join(chunks)[: self.max_bytes].decode("utf-8", "replace")
                return Answer(response.status_code, text, None, _ms(started))
        except httpx.TimeoutException as exc:
            return Answer(None, None, f"timed out: {type(exc).__name__}", _ms(started))
        except httpx.HTTPError as exc:
            return Answer(None, None, f"{type(exc).__name__}: {exc}", _ms(started))

    def close(self) -> None:
        self.client.close()


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
