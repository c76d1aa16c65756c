"""``keyset_page`` walks any key (ties on its first columns, either direction, entities
or grouped rows) returning every row exactly once; ``PageQuery`` bounds ``limit``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm_platform.db import UTCDateTime
from crm_platform.pagination import MAX_LIMIT, PageQuery, keyset_page
from pydantic import ValidationError
from sqlalchemy import Integer, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "rows"
    id: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(10))
    rank: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        # few distinct names, ranks and times: the key's first columns tie often
        s.add_all(Row(id=f"r{i:02d}", name="甲乙丙"[i % 3], rank=i % 4,
                      created_at=T0 + timedelta(hours=i % 5)) for i in range(23))
        s.commit()
        yield s


def _walk(s: Session, limit: int, key: tuple[Any, ...], descending: bool,
          rows: bool = False) -> list[Any]:
    query = select(Row.name, func.count().label("n")).group_by(Row.name) if rows \
        else select(Row)
    seen: list[Any] = []
    cursor = None
    while True:
        page, cursor = keyset_page(s, query, limit, cursor, key, descending=descending,
                                   rows=rows)
        assert len(page) <= limit
        seen += [r.name if rows else r.id for r in page]
        if cursor is None:
            return seen


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("key", [("id",), ("name", "id"), ("rank", "created_at", "id"),
                                 ("created_at", "id")])
def test_every_row_exactly_once_in_key_order(session: Session, key: tuple[str, ...],
                                             descending: bool) -> None:
    columns = tuple(getattr(Row, name) for name in key)
    rows = session.scalars(select(Row)).all()
    expected = [r.id for r in sorted(rows, key=lambda r: tuple(getattr(r, n) for n in key),
                                     reverse=descending)]
    for limit in (1, 2, 5, MAX_LIMIT):
        assert _walk(session, limit, columns, descending) == expected


def test_grouped_rows_page_by_their_group_key(session: Session) -> None:
    assert _walk(session, 1, (Row.name,), False, rows=True) == sorted("甲乙丙")


def test_limit_is_one_to_max() -> None:
    assert PageQuery().limit == 50
    assert PageQuery.model_validate({"limit": MAX_LIMIT}).limit == MAX_LIMIT
    for bad in (0, MAX_LIMIT + 1, -1):
        with pytest.raises(ValidationError):
            PageQuery.model_validate({"limit": bad})
    with pytest.raises(ValidationError):  # an unknown parameter is refused, not ignored
        PageQuery.model_validate({"limt": 5})
