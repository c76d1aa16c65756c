"""The gateway's process-wide state: database, outbox relay, caches, RPC client."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from crm_platform.amqp import ConfirmedPublisher
from crm_platform.db import make_engine, session_factory
from crm_platform.errors import RateLimited
from crm_platform.outbox import OutboxRelay
from crm_platform.rpc_client import AsyncRpcClient
from crm_platform.settings import get_settings
from crm_platform.uow import UnitOfWork

from gateway.config import gateway_settings
from gateway.db.models import MESSAGING
from gateway.identity import ERASED_VALUES, IdentityStore
from gateway.portal_accounts import PortalAccounts
from gateway.principal import Principal, PrincipalCache

log = logging.getLogger(__name__)


class RateLimiter:
    """Token bucket per principal (per replica)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                retry_after = max(1, int((1.0 - tokens) / self.rate + 0.999))
                raise RateLimited("rate limit exceeded; slow down",
                                  extra={"retry_after": retry_after})
            self._buckets[key] = (tokens - 1.0, now)


class LoginThrottle:
    """Failed sign-ins per username and per client address in a sliding window (S3): past
    the limit every attempt, a right password included, is a 429 until the window has
    room, so a password cannot be guessed at the speed of the API. A success clears the
    username's failures. Per replica, like :class:`RateLimiter`."""

    def __init__(self, per_username: int, per_address: int, window_seconds: float) -> None:
        self.limits = {"user": per_username, "ip": per_address}
        self.window = window_seconds
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(f"user:{username.casefold()}", self.limits["user"])]
        if address:
            keys.append((f"ip:{address}", self.limits["ip"]))
        return keys

    def check(self, username: str, address: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            for key, limit in self._keys(username, address):
                recent = [t for t in self._failures.get(key, ()) if now - t < self.window]
                self._failures[key] = recent
                if len(recent) >= limit:
                    retry_after = max(1, int(recent[0] + self.window - now + 0.999))
                    raise RateLimited("too many failed sign-ins; try again later",
                                      code="login_rate_limited",
                                      extra={"retry_after": retry_after})

    def failed(self, username: str, address: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of names: forget, do not grow
                self._failures.clear()
            for key, _limit in self._keys(username, address):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.casefold()}", None)


class OutboxThread:
    """Publishes the gateway's outbox: right after each commit, and a periodic sweep."""

    def __init__(self, relay: OutboxRelay, interval: float) -> None:
        self.relay = relay
        self.interval = interval
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def notify(self, rows: Sequence[dict[str, Any]]) -> None:
        self._queue.put(list(rows))

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stopped.is_set():
            timeout = max(0.0, next_sweep - time.monotonic())
            try:
                rows = self._queue.get(timeout=timeout)
                if rows:
                    self.relay.publish_committed(rows)
                    self.relay.delete_confirmed()  # the gateway's writes are few
            except queue.Empty:
                pass
            except Exception:
                log.exception("fast-path publish failed; left for the sweep")
            if time.monotonic() >= next_sweep:
                try:
                    self.relay.sweep()
                    self.relay.backlog()
                except Exception:
                    log.exception("outbox sweep failed")
                next_sweep = time.monotonic() + self.interval


class AuditWriter:
    """Writes audit entries in batches from a background thread, so a read that must be
    audited does not wait for an insert. Entries are flushed every ``interval`` seconds
    and on shutdown; a crash can lose at most that window. Adding is a list append: no
    per-entry thread wake-up on the request path."""

    def __init__(self, write: Any, interval: float = 0.05) -> None:
        self._write = write
        self.interval = interval
        self._buffer: list[dict[str, Any]] = []
        self._swap = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, entry: dict[str, Any]) -> None:
        self._buffer.append(entry)  # atomic under the GIL

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)
        self._drain()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self._drain()

    def _drain(self) -> None:
        with self._swap:
            entries, self._buffer = self._buffer, []
        if entries:
            self._flush(entries)

    def _flush(self, entries: list[dict[str, Any]]) -> None:
        for attempt in range(3):
            try:
                self._write(entries)
                return
            except Exception:
                log.exception("audit write failed (attempt %s)", attempt + 1)
                time.sleep(0.5 * (attempt + 1))
        for entry in entries:  # keep them in the log at least (an erasure's values never)
            log.error("audit entry not stored: %s",
                      {k: v for k, v in entry.items() if k != ERASED_VALUES})


class Runtime:
    def __init__(self) -> None:
        settings = get_settings()
        gw = gateway_settings()
        self.engine = make_engine(settings.database_url("gateway"),
                                  pool_size=settings.db_pool_size or 10,
                                  max_overflow=settings.db_max_overflow)
        self.sessions = session_factory(self.engine)
        self.publisher = ConfirmedPublisher(settings.amqp_uri)
        self.relay = OutboxRelay(self.sessions, MESSAGING, self.publisher, "gateway",
                                 grace_seconds=settings.outbox_grace_seconds)
        self.outbox = OutboxThread(self.relay, settings.outbox_sweep_seconds)
        self.cache = PrincipalCache(gw.principal_cache_seconds)
        self.identity = IdentityStore(self.uow)
        self.portal = PortalAccounts(self.uow, gw.portal_invite_days)
        self.rate_limiter = RateLimiter(gw.rate_limit_per_second, gw.rate_limit_burst)
        self.login_throttle = LoginThrottle(gw.login_failures_per_username,
                                            gw.login_failures_per_address,
                                            gw.login_failure_window_seconds)
        self.rpc = AsyncRpcClient(settings.amqp_uri, default_timeout=settings.rpc_timeout)
        self.audit = AuditWriter(self.identity.record_audit)

    def uow(self, actor: Principal | None = None, correlation_id: str | None = None) -> UnitOfWork:
        def after_commit(rows: Sequence[dict[str, Any]]) -> None:
            self.cache.invalidate()  # identity changed: scopes and activity may differ now
            self.outbox.notify(rows)

        return UnitOfWork(self.sessions, MESSAGING, "gateway",
                          actor=actor.user_id if actor else None,
                          correlation_id=correlation_id, after_commit=after_commit,
                          note_changes=True)

    async def call(self, service: str, method: str, kwargs: dict[str, Any],
                   context: dict[str, Any], timeout: float | None = None,
                   raw: bool = False) -> Any:
        return await self.rpc.call(service, method, kwargs, context=context, timeout=timeout,
                                   raw=raw)
