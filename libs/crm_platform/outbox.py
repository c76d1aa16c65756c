"""Outbox relay: publishes committed outbox rows and deletes them once confirmed.

- Fast path: right after a commit, :meth:`OutboxRelay.publish_committed` publishes that
  transaction's rows as the committing process holds them (no read of the table); the
  confirmed ones are deleted by :meth:`OutboxRelay.delete_confirmed`, many commits' rows
  in one transaction (a transaction per commit was a fifth of a create's database
  work); :meth:`OutboxRelay.publish_ids` claims rows by id first.
- Sweep: :meth:`OutboxRelay.sweep` publishes rows older than the grace period, i.e.
  whatever a crash, a broker outage or a failed fast path left behind.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several replicas (and
the fast path and sweep of one replica) never publish one row at the same time. A row is
deleted only after the broker confirmed it; a crash between confirm and delete publishes
it again, which consumers absorb through their inbox (at-least-once, effect once).

Rows go out in batches of ``batch_size``: a batch is claimed, published, and its
confirms awaited together (one broker round trip per batch, not per row); then the
confirmed rows are deleted and the claim ends with the transaction. Rows without a
confirm stay, with ``attempts`` counted up, for the sweep.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_platform import metrics
from crm_platform.amqp import ConfirmedPublisher, NotConfirmed, Outgoing
from crm_platform.db import MessagingTables, any_of, utcnow

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
        batch_size: int = 500,
    ) -> None:
        self._sessions = sessions
        self._outbox = tables.outbox
        self._publisher = publisher
        self.service = service
        self.grace = timedelta(seconds=grace_seconds)
        self.batch_size = batch_size
        self._confirmed: list[str] = []  # published by the fast path, not deleted yet
        self._confirmed_lock = threading.Lock()

    def publish_ids(self, ids: Sequence[str]) -> int:
        """Publish the given rows if nobody else holds them; returns how many. Stops at
        the first batch the broker did not fully confirm (the sweep retries the rest)."""
        total = 0
        for start in range(0, len(ids), self.batch_size):
            chunk = list(ids[start:start + self.batch_size])
            published, complete = self._publish_claimed(ids=chunk)
            total += published
            if not complete:
                break
        return total

    @property
    def confirmed_waiting(self) -> int:
        """Rows the fast path published and has not deleted yet."""
        return len(self._confirmed)

    def delete_confirmed(self) -> int:
        """Delete the rows the fast path published since the last call, in one
        transaction; returns how many. Kept for the next call if the delete fails."""
        with self._confirmed_lock:
            ids, self._confirmed = self._confirmed, []
        if not ids:
            return 0
        try:
            with self._sessions() as session, session.begin():
                session.execute(delete(self._outbox).where(
                    any_of(session, self._outbox.c.id, ids)))
        except Exception:
            with self._confirmed_lock:
                self._confirmed[:0] = ids
            raise
        return len(ids)

    def publish_committed(self, rows: Sequence[dict[str, Any]]) -> int:
        """Publish rows just committed (as written: id, exchange, routing_key, body,
        headers); returns how many the broker confirmed, which wait for
        :meth:`delete_confirmed` (a crash first publishes them again, as one between a
        confirm and its delete always could). The rows are not claimed: one the sweep of
        another replica also takes (it waits a grace period first) goes out twice, which
        consumers absorb through their inbox."""
        messages = [Outgoing(exchange=row["exchange"], routing_key=row["routing_key"],
                             body=row["body"], headers=json.loads(row["headers"] or "{}"),
                             message_id=row["id"]) for row in rows]
        try:
            self._publisher.publish_batch(messages)
            confirmed = [True] * len(rows)
        except NotConfirmed as exc:
            confirmed = exc.confirmed
            log.warning("outbox publish failed, left for the sweep: %s", exc)
        except Exception as exc:
            confirmed = [False] * len(rows)
            log.warning("outbox publish failed, left for the sweep: %s", exc)
        done = [row for row, ok in zip(rows, confirmed, strict=True) if ok]
        for routing_key, count in Counter(row["routing_key"] for row in done).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, routing_key).inc(count)
        if len(done) < len(rows):
            metrics.EVENTS_PUBLISH_FAILED.labels(self.service).inc(len(rows) - len(done))
        with self._confirmed_lock:
            self._confirmed.extend(row["id"] for row in done)
        return len(done)

    def sweep(self) -> int:
        """Publish rows left behind; returns how many were published. The fast path's
        confirmed rows are deleted first, so this process never sends them again."""
        self.delete_confirmed()
        total = 0
        while True:
            published, complete = self._publish_claimed(cutoff=utcnow() - self.grace)
            total += published
            if not complete or published < self.batch_size:
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

    def _publish_claimed(self, *, ids: list[str] | None = None,
                         cutoff: datetime | None = None) -> tuple[int, bool]:
        """Claim the rows ``ids``, or the oldest batch created before ``cutoff``, publish
        them as one batch and delete the confirmed ones; returns (rows published,
        whether all were)."""
        with self._sessions() as session, session.begin():
            query = select(self._outbox)
            if ids is not None:
                query = query.where(any_of(session, self._outbox.c.id, ids))
            else:
                query = (query.where(self._outbox.c.created_at <= cutoff)
                         .order_by(self._outbox.c.created_at).limit(self.batch_size))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return 0, True
            messages = [
                Outgoing(
                    exchange=row.exchange,
                    routing_key=row.routing_key,
                    body=row.body,
                    headers=json.loads(row.headers or "{}"),
                    message_id=row.id,
                )
                for row in rows
            ]
            try:
                self._publisher.publish_batch(messages)
                confirmed = [True] * len(rows)
            except NotConfirmed as exc:  # broker down or refusing: keep those rows
                confirmed = exc.confirmed
                log.warning("outbox publish failed, will retry: %s", exc)
            except Exception as exc:  # e.g. no connection at all
                confirmed = [False] * len(rows)
                log.warning("outbox publish failed, will retry: %s", exc)
            done = [row.id for row, ok in zip(rows, confirmed, strict=True) if ok]
            failed = [row.id for row, ok in zip(rows, confirmed, strict=True) if not ok]
            for routing_key, count in Counter(
                    row.routing_key for row, ok in zip(rows, confirmed, strict=True) if ok
            ).items():
                metrics.EVENTS_PUBLISHED.labels(self.service, routing_key).inc(count)
            if done:
                session.execute(
                    delete(self._outbox).where(any_of(session, self._outbox.c.id, done)))
            if failed:
                metrics.EVENTS_PUBLISH_FAILED.labels(self.service).inc(len(failed))
                session.execute(
                    update(self._outbox)
                    .where(any_of(session, self._outbox.c.id, failed))
                    .values(attempts=self._outbox.c.attempts + 1)
                )
            return len(done), not failed
