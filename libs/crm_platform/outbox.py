"""Outbox relay: publishes committed outbox rows and deletes them once confirmed.

- Fast path: right after a commit, :meth:`OutboxRelay.publish_ids` publishes that
  transaction's rows.
- Sweep: :meth:`OutboxRelay.sweep` publishes rows older than the grace period, i.e.
  whatever a crash, a broker outage or a failed fast path left behind.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several replicas (and
the fast path and sweep of one replica) never publish one row at the same time. A row is
deleted only after the broker confirmed it; a crash between confirm and delete publishes
it again, which consumers absorb through their inbox (at-least-once, effect once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_platform import metrics
from crm_platform.amqp import ConfirmedPublisher
from crm_platform.db import MessagingTables, utcnow

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tables: MessagingTables,
        publisher: ConfirmedPublisher,
        service: str,
        *,
        grace_seconds: float = 1.0,
        batch_size: int = 200,
    ) -> None:
        self._sessions = sessions
        self._outbox = tables.outbox
        self._publisher = publisher
        self.service = service
        self.grace = timedelta(seconds=grace_seconds)
        self.batch_size = batch_size

    def publish_ids(self, ids: Sequence[str]) -> int:
        """Publish the given rows if nobody else holds them; returns how many."""
        if not ids:
            return 0
        query = select(self._outbox).where(self._outbox.c.id.in_(list(ids)))
        return self._publish_claimed(query)

    def sweep(self) -> int:
        """Publish rows left behind; returns how many were published."""
        total = 0
        while True:
            cutoff = utcnow() - self.grace
            query = (
                select(self._outbox)
                .where(self._outbox.c.created_at <= cutoff)
                .order_by(self._outbox.c.created_at)
                .limit(self.batch_size)
            )
            published = self._publish_claimed(query)
            total += published
            if published < self.batch_size:
                return total

    def backlog(self) -> tuple[int, float]:
        """(rows waiting, age in seconds of the oldest)."""
        with self._sessions() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(self._outbox.c.created_at))
            ).one()
        age = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:
                from datetime import UTC

                oldest = oldest.replace(tzinfo=UTC)
            age = max(0.0, (utcnow() - oldest).total_seconds())
        metrics.OUTBOX_BACKLOG.labels(self.service).set(count)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(age)
        return int(count), age

    def _publish_claimed(self, query: Any) -> int:
        with self._sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return 0
            done: list[str] = []
            failed: str | None = None
            for row in rows:
                try:
                    self._publish_row(row)
                except Exception as exc:  # broker down or refusing: keep the row
                    log.warning("outbox publish failed, will retry: %s", exc)
                    metrics.EVENTS_PUBLISH_FAILED.labels(self.service).inc()
                    failed = row.id
                    break
                done.append(row.id)
                metrics.EVENTS_PUBLISHED.labels(self.service, row.routing_key).inc()
            if done:
                session.execute(delete(self._outbox).where(self._outbox.c.id.in_(done)))
            if failed is not None:
                session.execute(
                    update(self._outbox)
                    .where(self._outbox.c.id == failed)
                    .values(attempts=self._outbox.c.attempts + 1)
                )
            return len(done)

    def _publish_row(self, row: Row[Any]) -> None:
        self._publisher.publish(
            exchange=row.exchange,
            routing_key=row.routing_key,
            body=row.body,
            headers=json.loads(row.headers or "{}"),
            message_id=row.id,
        )
