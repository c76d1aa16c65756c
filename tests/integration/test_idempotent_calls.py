"""A unit of work of an RPC made under an Idempotency-Key claims the key with its first
commit: the same call made again commits nothing and is told so."""

from __future__ import annotations

import pytest
from crm_platform.db import messaging_tables
from crm_platform.errors import Conflict
from crm_platform.uow import IdempotentCall, UnitOfWork
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

pytestmark = pytest.mark.integration


class Base(DeclarativeBase):
    pass


TABLES = messaging_tables(Base.metadata)


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[str] = mapped_column(String(10), primary_key=True)


def _count(sessions: sessionmaker, table: object) -> int:  # type: ignore[type-arg]
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def test_the_first_commit_claims_the_key_and_a_repeat_is_refused() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    assert TABLES.answers is not None
    first = IdempotentCall("k" * 64, "create_note")
    with UnitOfWork(sessions, TABLES, "test", call=first) as uow:
        uow.session.add(Note(id="n1"))
        uow.commit()
        uow.session.add(Note(id="n2"))
        uow.commit()  # a second commit of the same call claims nothing more
    assert first.claimed
    repeat = IdempotentCall("k" * 64, "create_note")
    with UnitOfWork(sessions, TABLES, "test", call=repeat) as uow:
        uow.session.add(Note(id="n3"))
        with pytest.raises(Conflict) as refused:
            uow.commit()
    assert refused.value.code == "idempotency_in_progress" and not repeat.claimed
    assert _count(sessions, Note.__table__) == 2
    assert _count(sessions, TABLES.answers) == 1
    other = IdempotentCall("o" * 64, "create_note")
    with UnitOfWork(sessions, TABLES, "test", call=other) as uow:
        uow.session.add(Note(id="n4"))
        uow.commit()
    assert _count(sessions, Note.__table__) == 3
