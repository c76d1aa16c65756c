"""Outbound webhooks (NTF-07) as Standard Webhooks (https://www.standardwebhooks.com/).

- Signing is :mod:`crm_platform.webhook_signing` (shared with the call centre). A
  delivery carries ``webhook-id`` (the same on every retry and replay: the receiver's
  idempotency key), ``webhook-timestamp`` (Unix seconds of this attempt) and
  ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the
  endpoint's secret (``whsec_<base64>``). While a rotated secret's overlap lasts, the
  header carries both signatures, space-separated, so receivers can switch at leisure.
- Retries follow :data:`RETRY_SCHEDULE` (seconds after each failed attempt: 5 s, 5 min,
  30 min, 2 h, 5 h, 10 h, 10 h — the last attempt a little over 27 hours after the
  first); an endpoint that has failed for ``disable_after`` is disabled.
- The SSRF guard (:func:`refusal`) refuses URLs that are or resolve to addresses inside
  the platform's network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from crm_platform.states import StateMachine

from services.notify.domain.rules import matches

RETRY_SCHEDULE: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)

ENDPOINT = StateMachine("webhook endpoint", {
    "disable": ("active", "disabled"),
    "enable": ("disabled", "active"),
})


def next_attempt(attempts: int, now: datetime,
                 schedule: Sequence[int] = RETRY_SCHEDULE) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; None when the schedule is
    spent."""
    if attempts > len(schedule):
        return None
    return now + timedelta(seconds=schedule[attempts - 1])


def should_disable(failing_since: datetime | None, now: datetime,
                   disable_after: timedelta) -> bool:
    return failing_since is not None and now - failing_since >= disable_after


def matches_any(patterns: Iterable[str], event_type: str) -> bool:
    """Whether a subscription to ``patterns`` (``invoice.*``, ``*``) takes the event."""
    return any(matches(p, event_type) for p in patterns)


def retriable_status(status: int) -> bool:
    """Retried: 5xx and 429. Other non-2xx answers (a 3xx is not followed) are final;
    they can be replayed once the receiver is fixed."""
    return status >= 500 or status == 429


# -- SSRF guard ---------------------------------------------------------------------------
# cloud metadata services, beyond the link-local range that holds most of them
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.com",
                            "instance-data", "instance-data.ec2.internal"})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
                                ipaddress.ip_address("fd00:ec2::254")})  # AWS IPv6

Resolver = Callable[[str, int], list[str]]


def forbidden_address(address: str) -> str | None:
    """Why a connection to ``address`` must not be made, or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address)
                        and ip in ipaddress.ip_network("100.64.0.0/10")):
        return "a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "not a public unicast address"
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"


def parse_target(url: str) -> Target | str:
    """The URL's scheme, host and port, or why it is not a webhook URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs are allowed"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed"
    return Target(parts.scheme, parts.hostname.lower().rstrip("."),
                  port or (443 if parts.scheme == "https" else 80))


def refusal(url: str, allowed_hosts: Iterable[str], resolve: Resolver) -> str | None:
    """Why ``url`` must not be called, or None. Every address the host resolves to is
    checked (``resolve`` is the resolver the HTTP client's connection will use, so a
    decimal ``2130706433`` or an octal ``0177.1`` is seen as the 127.0.0.1 it is); a
    ``host:port`` in ``allowed_hosts`` is exempt."""
    target = parse_target(url)
    if isinstance(target, str):
        return target
    if target.host_port in {h.strip().lower() for h in allowed_hosts}:
        return None
    if target.host in METADATA_HOSTS:
        return f"{target.host} is a cloud metadata host"
    try:
        addresses = resolve(target.host, target.port)
    except OSError as exc:
        return f"{target.host} does not resolve: {exc}"
    if not addresses:
        return f"{target.host} does not resolve"
    for address in addresses:
        why = forbidden_address(address)
        if why:
            return f"{target.host} resolves to {address}, {why}"
    return None
