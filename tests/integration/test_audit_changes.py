"""A unit of work notes the old and new values of what its commits changed, per record,
and ``with_audit_changes`` puts those its result shows on the result."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from crm_platform.db import messaging_tables
from crm_platform.uow import AUDIT_CHANGES_KEY, SHOWN_AS, UnitOfWork, with_audit_changes
from sqlalchemy import Numeric, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

pytestmark = pytest.mark.integration


class Base(DeclarativeBase):
    pass


TABLES = messaging_tables(Base.metadata)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    secret: Mapped[str] = mapped_column(String(50))
    credit_limit: Mapped[Decimal] = mapped_column(Numeric(20, 4), info={SHOWN_AS: "limit"})


@pytest.fixture
def units() -> Iterator[sessionmaker]:  # type: ignore[type-arg]
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with UnitOfWork(sessions, TABLES, "test", note_changes=True) as uow:
        uow.session.add(Account(id="a1", name="甲", secret="s1", credit_limit=Decimal("100")))
        uow.commit()
        assert uow.changes == {}  # a record created has no old values
    yield sessions


def _shown(account: Account) -> dict[str, object]:
    return {"id": account.id, "name": account.name, "limit": f"{account.credit_limit:.2f}"}


def test_changes_across_flushes_keep_the_first_old_value(units: sessionmaker) -> None:  # type: ignore[type-arg]
    with UnitOfWork(units, TABLES, "test", note_changes=True) as uow:
        account = uow.session.get(Account, "a1")
        assert account is not None
        account.name = "乙"
        uow.flush()  # a flush forgets the old value: noted before it
        account.name = "丙"
        account.secret = "s2"
        account.credit_limit = Decimal("250.5")
        uow.commit()
        result = with_audit_changes(_shown(account), [uow])
    assert uow.changes["a1"]["name"] == ["甲", "丙"]
    # only what the record shows, with the decimals it shows; the secret stays out
    assert result[AUDIT_CHANGES_KEY] == {"name": ["甲", "丙"], "limit": ["100.00", "250.50"]}


def test_a_rolled_back_change_is_not_noted(units: sessionmaker) -> None:  # type: ignore[type-arg]
    with UnitOfWork(units, TABLES, "test", note_changes=True) as uow:
        account = uow.session.get(Account, "a1")
        assert account is not None
        account.name = "丁"
        uow.flush()
        uow.rollback()
    assert uow.changes == {}
    assert with_audit_changes({"id": "a1", "name": "甲"}, [uow]) == {"id": "a1", "name": "甲"}
