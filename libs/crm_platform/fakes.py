"""In-memory stand-ins for a service's persistence, for unit tests of use cases.

A use case takes a :class:`crm_platform.uow.Work`: its service's repositories, ``publish``
and ``commit``. Here that work is an :class:`InMemoryUnitOfWork` over repositories built
from :class:`Table` (rows by key, held as the service's own model objects, never flushed)
and :class:`Sequences`. Every service's fakes are built from these pieces, so a use case
test runs without a database or a broker and checks what was committed and published.

Rows are plain objects, not a transaction: a use case that raises leaves the rows it
changed as it left them (a database would roll them back), so a test of a refusal checks
the error and what was published, then goes on with fresh rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from crm_platform.auth import Caller
from crm_platform.errors import NotFound
from crm_platform.events import CloudEvent, EventData

R = TypeVar("R")
T = TypeVar("T")


class InMemoryUnitOfWork(Generic[R]):
    """A :class:`crm_platform.uow.Work` that keeps events in memory: ``published`` holds
    the events of the commits so far; events of a rolled-back (or never committed) work
    are dropped, as the outbox would drop them."""

    def __init__(self, repos: R, *, service: str = "test", actor: str | None = "user-1",
                 correlation_id: str | None = None) -> None:
        self.repos = repos
        self.service = service
        self._actor = actor
        self.correlation_id = correlation_id
        self.published: list[CloudEvent] = []
        self.commits = 0
        self._pending: list[CloudEvent] = []

    @property
    def actor(self) -> str | None:
        return self._actor

    def publish(self, payload: EventData, *, subject: str | None = None) -> CloudEvent:
        envelope = CloudEvent.wrap(self.service, payload,
                                   correlation_id=self.correlation_id, actor=self._actor)
        if subject is not None:
            envelope.subject = subject
        self._pending.append(envelope)
        return envelope

    def flush(self) -> None:
        """Nothing to send anywhere: rows are in their tables as soon as added."""

    def commit(self) -> None:
        self.published.extend(self._pending)
        self._pending = []
        self.commits += 1

    def rollback(self) -> None:
        self._pending = []

    def event_types(self) -> list[str]:
        """The types of the published events, in order."""
        return [ev.type for ev in self.published]

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        """The payloads of the published events of one type."""
        return [ev.data for ev in self.published if ev.type == event_type]


class Table(Generic[T]):
    """Rows of one kind by key (the attribute ``key``, ``id`` unless told). Locking is a
    no-op: a unit test has one transaction."""

    def __init__(self, *rows: T, key: str = "id") -> None:
        self.key = key
        self.rows: dict[Any, T] = {}
        for row in rows:
            self.add(row)

    def add(self, row: T) -> T:
        """Keep ``row``; a row without a key gets the next number, as an autoincrement
        column would."""
        if getattr(row, self.key) is None:
            setattr(row, self.key, len(self.rows) + 1)
        self.rows[getattr(row, self.key)] = row
        return row

    def get(self, key: Any) -> T | None:
        return self.rows.get(key)

    def remove(self, key: Any) -> None:
        self.rows.pop(key, None)

    def where(self, test: Callable[[T], bool] | None = None, **equal: Any) -> list[T]:
        """Rows whose attributes equal ``equal`` and that pass ``test``, in key order
        (SQL locks them in that order too)."""
        found = [row for _, row in sorted(self.rows.items(), key=lambda kv: str(kv[0]))
                 if all(getattr(row, name) == value for name, value in equal.items())]
        return [row for row in found if test is None or test(row)]

    def first(self, test: Callable[[T], bool] | None = None, **equal: Any) -> T | None:
        found = self.where(test, **equal)
        return found[0] if found else None

    def __iter__(self) -> Iterator[T]:
        return iter(list(self.rows.values()))

    def __len__(self) -> int:
        return len(self.rows)


class OwnedTable(Table[T]):
    """Rows with an ``owner_id`` (leads, orders, customers…): :meth:`visible` answers as
    the SQL repositories do, a row out of the caller's scope looking missing."""

    def __init__(self, what: str, *rows: T, key: str = "id") -> None:
        super().__init__(*rows, key=key)
        self.what = what

    def visible(self, caller: Caller, key: Any, *, lock: bool = False) -> T:
        row = self.rows.get(key)
        if row is None or not caller.can_see_owner(getattr(row, "owner_id", None)):
            what = self.what
            raise NotFound(f"{what} not found", code=f"{what.replace(' ', '_')}_not_found")
        return row


class Sequences:
    """Named number series (invoice-2026, SO-2026…), each counting from 1."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def next(self, name: str) -> int:
        self.last[name] = self.last.get(name, 0) + 1
        return self.last[name]


class Settings:
    """Stored settings documents by name, each read over its defaults as SQL reads them."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}

    def read(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        return {**default, **self.values.get(name, {})}
