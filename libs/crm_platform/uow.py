"""Unit of work: one database transaction that also carries outgoing events and the
inbox mark of the event being consumed.

Guarantees:
- events added with :meth:`UnitOfWork.publish` are written to the ``outbox`` table in the
  same transaction as the state change: a rollback publishes nothing, a commit cannot
  lose them (the relay publishes them after commit, see :mod:`crm_platform.outbox`);
- :meth:`UnitOfWork.mark_consumed` records ``(consumer, event_id)`` in the ``inbox`` in
  the same transaction as the effect: a redelivered event is recognised and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from crm_platform.bulk_insert import insert_rows
from crm_platform.db import MessagingTables, utcnow
from crm_platform.events import CloudEvent, EventData, exchange_name

AfterCommit = Callable[[Sequence[str]], None]


class UnitOfWork:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tables: MessagingTables,
        service: str,
        *,
        correlation_id: str | None = None,
        actor: str | None = None,
        after_commit: AfterCommit | None = None,
        read_only: bool = False,
    ) -> None:
        self._sessions = sessions
        self.read_only = read_only
        self.tables = tables
        self.service = service
        self.correlation_id = correlation_id
        self.actor = actor
        self._after_commit = after_commit
        self._pending: list[CloudEvent] = []
        self._session: Session | None = None
        self._on_commit: list[Callable[[], None]] = []
        self.published: list[CloudEvent] = []

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self._pending = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and detaches loaded objects
        # without expiring them, so results stay readable after the block
        self._pending = []
        self._on_commit = []
        try:
            self.session.close()
        finally:
            self._session = None

    def publish(self, payload: EventData, *, subject: str | None = None) -> CloudEvent:
        """Queue an event to be written to the outbox at commit."""
        envelope = CloudEvent.wrap(
            self.service, payload, correlation_id=self.correlation_id, actor=self.actor
        )
        if subject is not None:
            envelope.subject = subject
        self._pending.append(envelope)
        return envelope

    def mark_consumed(self, event_id: str, event_type: str, consumer: str) -> bool:
        """Record the event as applied by ``consumer``; False if it already was."""
        values = {
            "consumer": consumer,
            "event_id": event_id,
            "event_type": event_type,
            "processed_at": utcnow(),
        }
        dialect = self.session.get_bind().dialect.name
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(self.tables.inbox).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(self.tables.inbox).values(values).on_conflict_do_nothing()
        else:  # pragma: no cover - only the two supported backends
            raise RuntimeError(f"unsupported database {dialect}")
        result = self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0) == 1)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the next commit has succeeded (wake a worker that will
        read what it wrote)."""
        self._on_commit.append(callback)

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        if self._pending:
            now = utcnow()
            insert_rows(
                self.session,
                self.tables.outbox,
                [
                    {
                        "id": ev.id,
                        "exchange": exchange_name(self.service),
                        "routing_key": ev.type,
                        "body": ev.model_dump_json(),
                        "headers": json.dumps(_headers(ev)),
                        "created_at": now,
                        "attempts": 0,
                    }
                    for ev in self._pending
                ],
            )
        self.session.commit()
        committed, self._pending = self._pending, []
        self.published.extend(committed)
        if committed and self._after_commit is not None:
            self._after_commit([ev.id for ev in committed])
        callbacks, self._on_commit = self._on_commit, []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        self._pending = []
        self._on_commit = []
        if self._session is not None:
            self._session.rollback()


def _headers(ev: CloudEvent) -> dict[str, str]:
    """AMQP headers: nameko context (so nameko handlers log the correlation id) and
    CloudEvents binary-mode attributes for clients that route on headers."""
    headers = {"ce_id": ev.id, "ce_type": ev.type, "ce_source": ev.source}
    if ev.correlationid:
        headers["nameko.correlation_id"] = ev.correlationid
    if ev.actor:
        headers["nameko.actor"] = ev.actor
    return headers
