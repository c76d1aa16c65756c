"""A test-only service built from crm_platform pieces exactly as a real service is, to
prove the messaging guarantees without any one service's domain in the way."""

from __future__ import annotations

import os
import uuid
from typing import Any

from crm_platform.db import messaging_tables
from crm_platform.events import CloudEvent, EventData
from crm_platform.service import (
    CrmService,
    UnitOfWorkProvider,
    batch_event_handler,
    event_handler,
    rpc,
)
from crm_platform.uow import UnitOfWork
from sqlalchemy import Boolean, Integer, String, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME = os.environ.get("LEDGER_SERVICE_NAME", "ledger")


class Base(DeclarativeBase):
    pass


MESSAGING = messaging_tables(Base.metadata)


class Entry(Base):
    __tablename__ = "entries"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account: Mapped[str] = mapped_column(String(50))
    amount: Mapped[int] = mapped_column(Integer)


class Applied(Base):
    """One row per applied event: the effect whose count must equal the events sent."""

    __tablename__ = "applied"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(36))


class Switch(Base):
    __tablename__ = "switches"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    on: Mapped[bool] = mapped_column(Boolean)


class EntryAdded(EventData):
    event_type = "ledger_entry.added"
    id: str
    account: str
    amount: int


class EntryBatched(EventData):
    """Handled in batches (``batch_event_handler``); ``poison`` ones always fail."""

    event_type = "ledger_entry.batched"
    id: str
    poison: bool = False


class PoisonPill(EventData):
    event_type = "ledger_entry.poison"
    id: str


class LedgerService(CrmService):
    name = NAME
    uow = UnitOfWorkProvider(Base.metadata)

    @rpc
    def add_entry(self, account: str, amount: int, fail_after_write: bool = False
                  ) -> dict[str, Any]:
        with self.uow() as uow:
            entry = Entry(id=str(uuid.uuid4()), account=account, amount=amount)
            uow.session.add(entry)
            uow.publish(EntryAdded(id=entry.id, account=account, amount=amount))
            uow.session.flush()
            if fail_after_write:
                raise RuntimeError("failing after the write, before the commit")
            uow.commit()
            return {"id": entry.id}

    @rpc
    def poison(self) -> dict[str, Any]:
        with self.uow() as uow:
            event = uow.publish(PoisonPill(id=str(uuid.uuid4())))
            uow.commit()
            return {"event_id": event.id}

    @rpc
    def add_batched(self, n: int, poison_at: int = -1) -> list[str]:
        """``n`` events in one transaction (so they reach the consumer together)."""
        with self.uow() as uow:
            ids = [uow.publish(EntryBatched(id=str(uuid.uuid4()), poison=i == poison_at)).id
                   for i in range(n)]
            uow.commit()
            return ids

    @rpc
    def batch_sizes(self) -> list[int]:
        """The sizes of the batches the batched events were applied in."""
        with self.uow(read_only=True) as uow:
            return sorted({int(entry.removeprefix("batch of ")) for entry in uow.session.scalars(
                select(Applied.entry_id).where(Applied.entry_id.like("batch of %")))})

    @rpc
    def set_switch(self, name: str, on: bool) -> None:
        with self.uow() as uow:
            uow.session.merge(Switch(name=name, on=on))
            uow.commit()

    @rpc
    def applied(self) -> dict[str, Any]:
        with self.uow(read_only=True) as uow:
            rows = uow.session.execute(select(Applied.event_id, func.count()).group_by(
                Applied.event_id)).all()
            return {event_id: count for event_id, count in rows}

    @rpc
    def echo(self, payload: str) -> str:
        return payload

    @rpc
    def slow_query(self, seconds: float) -> float:
        with self.uow(read_only=True) as uow:
            uow.session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
            return seconds

    @event_handler(NAME, "ledger_entry.added")
    def on_entry_added(self, event: CloudEvent, uow: UnitOfWork) -> None:
        uow.session.add(Applied(event_id=event.id, entry_id=event.data["id"]))

    @batch_event_handler(NAME, "ledger_entry.batched")
    def on_batched(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        for event in events:
            if event.payload(EntryBatched).poison:
                raise RuntimeError("poisoned")
            uow.session.add(Applied(event_id=event.id, entry_id=f"batch of {len(events)}"))

    @event_handler(NAME, "ledger_entry.poison")
    def on_poison(self, event: CloudEvent, uow: UnitOfWork) -> None:
        switch = uow.session.get(Switch, "poison")
        if switch is None or switch.on:
            raise RuntimeError("poisoned")
        uow.session.add(Applied(event_id=event.id, entry_id="poison"))
