"""nameko dependency providers every service uses.

- :class:`UnitOfWorkProvider` (``self.uow()``): a unit of work per use, its events
  relayed right after commit, plus a sweep of the outbox in every replica.
- :class:`CallerProvider` (``self.caller``): the caller the gateway passed.
- :class:`Instrumentation`: entrypoint latency metrics, log context, the ops server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import eventlet
import eventlet.queue
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from sqlalchemy import MetaData, delete, select, text, update

from crm_platform import logs, metrics, wire
from crm_platform.amqp import ConfirmedPublisher
from crm_platform.auth import Caller
from crm_platform.db import (
    make_engine,
    messaging_tables,
    read_session_factory,
    session_factory,
    utcnow,
)
from crm_platform.errors import DomainError
from crm_platform.outbox import OutboxRelay
from crm_platform.service import ops
from crm_platform.settings import get_settings
from crm_platform.uow import WORKER_CALL, WORKER_UNITS, IdempotentCall, UnitOfWork

log = logging.getLogger(__name__)

_publishers: dict[str, ConfirmedPublisher] = {}
# the answers of calls made under an Idempotency-Key are kept a day (the gateway keeps
# its own record of the key as long)
ANSWERS_KEPT = timedelta(hours=24)
ANSWERS_SWEEP_SECONDS = 600.0
# longer than any call takes: an answer not kept by then never will be
ANSWER_LOST_AFTER = timedelta(seconds=60)
# the fast path deletes the rows the broker confirmed this long after the first of them
CONFIRMED_DELETE_SECONDS = 0.25


def shared_publisher(amqp_uri: str) -> ConfirmedPublisher:
    """One confirmed publisher per broker per process."""
    if amqp_uri not in _publishers:
        _publishers[amqp_uri] = ConfirmedPublisher(amqp_uri)
    return _publishers[amqp_uri]


_callers: dict[Any, Caller | None] = {}  # caller header -> parsed


def caller_of(worker_ctx: Any) -> Caller | None:
    """The caller in the worker's context, parsed once per distinct header: a user's
    requests carry the same one, and validating it was a twentieth of a small call's CPU.
    Callers are never modified, so workers can share one."""
    if not hasattr(worker_ctx, "_crm_caller"):
        raw = worker_ctx.context_data.get("caller")
        try:
            caller = _callers[raw]
        except (KeyError, TypeError):  # new, or not a string (no caching a dict)
            caller = Caller.from_context(raw)
            if isinstance(raw, (str, bytes)):
                if len(_callers) >= 10_000:
                    _callers.clear()
                _callers[raw] = caller
        worker_ctx._crm_caller = caller
    cached: Caller | None = worker_ctx._crm_caller
    return cached


def _context_str(worker_ctx: Any, key: str) -> str | None:
    value = worker_ctx.context_data.get(key)
    return None if value is None else str(value)


class UnitOfWorkProvider(DependencyProvider):  # type: ignore[misc]
    """Gives workers ``self.uow()``, a fresh :class:`UnitOfWork` on the service database."""

    def __init__(self, metadata: MetaData) -> None:
        self.metadata = metadata
        self.tables = messaging_tables(metadata)

    def setup(self) -> None:
        settings = get_settings()
        service = self.container.service_name
        # every worker may hold a connection, plus the relay's fast path and sweep
        self.engine = make_engine(settings.database_url(service),
                                  pool_size=settings.db_pool_size or settings.max_workers + 4,
                                  max_overflow=settings.db_max_overflow,
                                  prepared_statements=settings.db_prepared_statements)
        self.sessions = session_factory(self.engine)
        self.read_sessions = read_session_factory(self.engine)
        amqp_uri = self.container.config.get("AMQP_URI", settings.amqp_uri)
        self.publisher = shared_publisher(amqp_uri)
        self.relay = OutboxRelay(
            self.sessions,
            self.tables,
            self.publisher,
            service,
            grace_seconds=settings.outbox_grace_seconds,
        )
        self.sweep_interval = settings.outbox_sweep_seconds
        for switch, on in (("CRM_TEST_UNSAFE_NO_OUTBOX", settings.test_unsafe_no_outbox),
                           ("CRM_TEST_UNSAFE_NO_INBOX", settings.test_unsafe_no_inbox)):
            if on:  # a chaos test's (R2); settings refuse it outside CRM_TESTING=1
                log.warning("%s is on: %s loses its delivery guarantee (test only)",
                            switch, service)
        ops.register_check("database", self._check_database)
        ops.register_check("broker", self._check_broker)

    def start(self) -> None:
        self._committed: eventlet.queue.LightQueue = eventlet.queue.LightQueue()
        self.container.spawn_managed_thread(self._publish_committed)
        self.container.spawn_managed_thread(self._sweep_forever)

    def _publish_committed(self) -> None:
        """The fast path: one green thread publishes what commits hand it, in batches,
        so a burst of commits holds one database connection, not one each. The confirmed
        rows are deleted together once ``CONFIRMED_DELETE_SECONDS`` passed since the
        first of them (or 500 wait), not a transaction per commit."""
        delete_at: float | None = None
        while True:
            try:
                wait = None if delete_at is None else max(0.0, delete_at - time.monotonic())
                rows = list(self._committed.get(timeout=wait))
                while not self._committed.empty() and len(rows) < 500:
                    rows.extend(self._committed.get_nowait())
            except eventlet.queue.Empty:
                rows = []
            try:
                if rows:
                    self.relay.publish_committed(rows)
                waiting = self.relay.confirmed_waiting
                if not waiting:  # none, or the sweep deleted them
                    delete_at = None
                    continue
                if delete_at is None:
                    delete_at = time.monotonic() + CONFIRMED_DELETE_SECONDS
                if waiting >= 500 or time.monotonic() >= delete_at:
                    delete_at = None
                    self.relay.delete_confirmed()
            except Exception:  # the sweep will pick them up
                log.exception("fast-path publish failed; left for the sweep")

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # else the sweep after a restart sends them
            self.relay.delete_confirmed()

    def _sweep_forever(self) -> None:
        answers_swept = 0.0
        while True:
            try:
                self.relay.sweep()
                self.relay.backlog()
                if time.monotonic() - answers_swept > ANSWERS_SWEEP_SECONDS:
                    self.forget_answers(utcnow() - ANSWERS_KEPT)
                    answers_swept = time.monotonic()
            except Exception:  # keep sweeping; the next round retries
                log.exception("outbox sweep failed")
            eventlet.sleep(self.sweep_interval)

    # -- answers of RPCs made under an Idempotency-Key ------------------------------------
    def answer(self, key: str) -> tuple[bool, bool, Any]:
        """``(claimed, answered, answer)`` of a call made before under ``key``; claimed
        and not answered while the call is being applied. A claim still unanswered after
        ``ANSWER_LOST_AFTER`` was applied by a process that died before it kept the
        answer: ``answer`` is then the time of the claim."""
        table = self.tables.answers
        assert table is not None
        with self.read_sessions() as s:
            row = s.execute(select(table.c.answer, table.c.created_at)
                            .where(table.c.key == key)).first()
        if row is None:
            return False, False, None
        if row.answer is None:
            lost = utcnow() - row.created_at > ANSWER_LOST_AFTER
            return True, False, row.created_at if lost else None
        return True, True, json.loads(row.answer)

    def keep_answer(self, key: str, result: Any) -> None:
        table = self.tables.answers
        assert table is not None
        with self.sessions() as s:
            s.execute(update(table).where(table.c.key == key)
                      .values(answer=wire.dumps(result).decode()))
            s.commit()

    def forget_answers(self, before: Any) -> None:
        table = self.tables.answers
        if table is None:
            return
        with self.sessions() as s:
            s.execute(delete(table).where(table.c.created_at < before))
            s.commit()

    def _check_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _check_broker(self) -> None:
        from kombu import Connection

        with Connection(self.publisher.amqp_uri, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)

    def _after_commit(self, rows: Sequence[dict[str, Any]]) -> None:
        self._committed.put(list(rows))

    def make_uow(self, correlation_id: str | None = None, actor: str | None = None,
                 read_only: bool = False, note_changes: bool = False,
                 call: IdempotentCall | None = None) -> UnitOfWork:
        return UnitOfWork(
            self.read_sessions if read_only else self.sessions,
            self.tables,
            self.container.service_name,
            correlation_id=correlation_id,
            actor=actor,
            after_commit=self._after_commit,
            read_only=read_only,
            note_changes=note_changes,
            call=None if read_only else call,
        )

    def get_dependency(self, worker_ctx: Any) -> Callable[..., UnitOfWork]:
        correlation_id = _context_str(worker_ctx, "correlation_id")
        caller = caller_of(worker_ctx)
        actor = caller.user_id if caller else _context_str(worker_ctx, "actor")

        # what an RPC (a client's request, through the gateway) changed, for the audit
        # trail; event handlers and timers are nobody's request
        audited = isinstance(worker_ctx.entrypoint, Rpc)
        units: list[UnitOfWork] = []
        setattr(worker_ctx, WORKER_UNITS, units)
        key = _context_str(worker_ctx, "idempotency_key") if audited else None
        call = None
        if key and self.tables.answers is not None:
            call = IdempotentCall(key, worker_ctx.entrypoint.method_name)
            setattr(worker_ctx, WORKER_CALL, call)

        def uow(read_only: bool = False) -> UnitOfWork:
            """``read_only``: one consistent-enough snapshot per statement, no
            transaction; for single-query reads on the hot path."""
            unit = self.make_uow(correlation_id, actor, read_only,
                                 note_changes=audited and not read_only, call=call)
            if unit.note_changes:
                units.append(unit)
            return unit

        return uow


class CallerProvider(DependencyProvider):  # type: ignore[misc]
    """``self.caller``: who called, with the scope the gateway granted.

    An RPC without a caller gets an identity with no roles and own scope (sees nothing
    of others); event handlers and timers act as the service itself.
    """

    def get_dependency(self, worker_ctx: Any) -> Caller:
        caller = caller_of(worker_ctx)
        if caller is not None:
            return caller
        if isinstance(worker_ctx.entrypoint, Rpc):
            return Caller(user_id="anonymous", scope="own")
        return Caller.system(self.container.service_name)


class Instrumentation(DependencyProvider):  # type: ignore[misc]
    """Latency histogram per entrypoint and outcome, JSON log context, ops server."""

    def setup(self) -> None:
        self._started: dict[Any, float] = {}

    def start(self) -> None:
        port = get_settings().ops_port
        if port:
            self.container.spawn_managed_thread(lambda: ops.serve(port))

    def get_dependency(self, worker_ctx: Any) -> None:
        return None

    def worker_setup(self, worker_ctx: Any) -> None:
        self._started[worker_ctx] = time.perf_counter()
        caller = caller_of(worker_ctx)
        logs.bind(
            correlation_id=_context_str(worker_ctx, "correlation_id"),
            actor=caller.user_id if caller else _context_str(worker_ctx, "actor"),
            entrypoint=worker_ctx.entrypoint.method_name,
        )

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        started = self._started.pop(worker_ctx, None)
        if started is None:
            return
        if exc_info is None:
            outcome = "ok"
        elif isinstance(exc_info[1], DomainError):
            outcome = "rejected"
        else:
            outcome = "error"
        entrypoint = worker_ctx.entrypoint
        kind = (
            "rpc"
            if isinstance(entrypoint, Rpc)
            else "timer"
            if isinstance(entrypoint, Timer)
            else "event"
        )
        metrics.ENTRYPOINT_LATENCY.labels(
            self.container.service_name, entrypoint.method_name, kind, outcome
        ).observe(time.perf_counter() - started)


class CrmService:
    """Base for every service class: metrics and the caller come for free.

    A service adds ``uow = UnitOfWorkProvider(metadata)`` with its own metadata.
    """

    name: str = ""
    instrumentation = Instrumentation()
    caller = CallerProvider()
