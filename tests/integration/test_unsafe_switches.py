"""The chaos tests' switches that break the outbox or the inbox on purpose (issue 26 R2,
``tests/reliability/test_chaos_unsafe.py``): honoured only in a test run, refused at
start-up anywhere else, and off by default, where the unit of work keeps both
guarantees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from crm_platform.db import messaging_tables
from crm_platform.events import EventData
from crm_platform.settings import PlatformSettings, get_settings
from crm_platform.uow import UnitOfWork
from pydantic import ValidationError
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

pytestmark = pytest.mark.integration

SWITCHES = ("CRM_TEST_UNSAFE_NO_OUTBOX", "CRM_TEST_UNSAFE_NO_INBOX")


class Base(DeclarativeBase):
    pass


TABLES = messaging_tables(Base.metadata)


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[str] = mapped_column(String(10), primary_key=True)


class NoteAdded(EventData):
    event_type = "note.added"
    id: str


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*SWITCHES, "CRM_TESTING", "CRM_ENV"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_is_refused_outside_a_test_run(monkeypatch: pytest.MonkeyPatch,
                                                switch: str) -> None:
    monkeypatch.setenv(switch, "1")
    with pytest.raises(ValidationError, match=switch):
        PlatformSettings()
    monkeypatch.setenv("CRM_TESTING", "1")
    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(ValidationError, match="chaos tests only"):
        PlatformSettings()
    monkeypatch.setenv("CRM_ENV", "development")
    assert PlatformSettings().model_dump()[switch.removeprefix("CRM_").lower()] is True


def test_the_switches_are_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TESTING", "1")
    settings = PlatformSettings()
    assert not settings.test_unsafe_no_outbox and not settings.test_unsafe_no_inbox


def _units() -> sessionmaker:  # type: ignore[type-arg]
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _outbox_rows(sessions: sessionmaker) -> int:  # type: ignore[type-arg]
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(TABLES.outbox)) or 0)


def _add_note_and_consume_twice(sessions: sessionmaker  # type: ignore[type-arg]
                                ) -> tuple[list[Any], list[bool]]:
    handed: list[Any] = []
    with UnitOfWork(sessions, TABLES, "notes", after_commit=handed.extend) as uow:
        uow.session.add(Note(id="n1"))
        uow.publish(NoteAdded(id="n1"))
        uow.commit()
    applied = []
    for _ in range(2):  # the same event delivered twice
        with UnitOfWork(sessions, TABLES, "notes") as uow:
            applied.append(uow.mark_consumed("event-1", "note.added", "on_note_added"))
            uow.commit()
    return handed, applied


def test_by_default_the_outbox_and_the_inbox_hold() -> None:
    sessions = _units()
    handed, applied = _add_note_and_consume_twice(sessions)
    assert _outbox_rows(sessions) == 1 and len(handed) == 1  # in the table, for the sweep
    assert applied == [True, False]


def test_switched_off_the_events_are_only_handed_on_and_redeliveries_apply_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TESTING", "1")
    for switch in SWITCHES:
        monkeypatch.setenv(switch, "1")
    get_settings.cache_clear()
    sessions = _units()
    handed, applied = _add_note_and_consume_twice(sessions)
    assert _outbox_rows(sessions) == 0 and len(handed) == 1  # published after commit only
    assert applied == [True, True]
