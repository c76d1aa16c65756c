"""Erasure of a person's data on their request (PIPL art. 47, GDPR art. 17; #26 S8),
the part every service shares.

A service that erases (or hears that the customer service erased) a person knows the
values that identified them — a name, phones, e-mails — from its own records before it
anonymises them. Besides the records that point at the person (by id, each service's
own rule), those values may sit in text that points at nothing: a stored RPC answer, a
ticket's description, a message already sent, an audit entry's details. Such text is
scrubbed by value: each occurrence becomes :data:`ERASED`, whatever surrounds it.

The rules (:func:`erasable`, :func:`scrub`) are plain functions; :func:`scrub_rows` and
:func:`scrub_answers` apply them to a table's rows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, Text, and_, cast, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.uow import UnitOfWork

ERASED = "(erased)"
# a value shorter than this is no one's identity (a one-character name part, an
# initial) and would scrub every text it occurs in
MIN_LENGTH = 3
# a Chinese name of two characters is a whole name
MIN_LENGTH_CJK = 2
_CJK = re.compile(r"[\u3400-\u9fff]")


def erasable(values: Iterable[Any]) -> list[str]:
    """The distinct values worth scrubbing, longest first (so a value that contains
    another is replaced whole). A phone in E.164 is scrubbed with its national digits
    too (``+8613912345678`` → ``13912345678``): text written by people holds either."""
    found: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            continue
        value = value.strip()
        if value.startswith("+86") and value[3:].isdigit():
            found.add(value[3:])
        found.add(value)
    return sorted((v for v in found if v != ERASED and _long_enough(v)),
                  key=lambda v: (-len(v), v))


def _long_enough(value: str) -> bool:
    return len(value) >= (MIN_LENGTH_CJK if _CJK.search(value) else MIN_LENGTH)


def _pattern(values: Sequence[str]) -> re.Pattern[str] | None:
    if not values:
        return None
    # longest first: of two values at one place, the one that contains the other wins
    ordered = sorted(set(values), key=lambda v: (-len(v), v))
    return re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)


def scrub(text: str, values: Sequence[str]) -> str:
    """``text`` with every occurrence of any of ``values`` (case ignored) replaced by
    :data:`ERASED`."""
    pattern = _pattern(values)
    return pattern.sub(ERASED, text) if pattern else text


def mentions(text: str, values: Sequence[str]) -> bool:
    pattern = _pattern(values)
    return bool(pattern and pattern.search(text))


def scrub_value(value: Any, values: Sequence[str]) -> Any:
    """A stored value (text, or a JSON document's strings, keys kept) scrubbed."""
    if isinstance(value, str):
        return scrub(value, values)
    if isinstance(value, list):
        return [scrub_value(v, values) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v, values) for k, v in value.items()}
    return value


def mentioning(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """A condition: the column's text (a JSON document's too) holds one of ``values``
    (case ignored)."""
    return or_(*(cast(column, Text).ilike(f"%{escape_like(v)}%", escape="\\") for v in values))


def replace_mentioning(s: Session, model: Any, column: str, values: Sequence[str],
                       replacement: Any) -> int:
    """Set ``column`` to ``replacement`` in the rows whose ``column`` mentions one of
    ``values``: for text that keeps more of the person than their values (a stored
    answer, with free text beside the name)."""
    if not values:
        return 0
    table: Table = getattr(model, "__table__", model)
    result = s.execute(update(table).where(mentioning(table.c[column], values))
                       .values({column: replacement}))
    return int(result.rowcount)  # type: ignore[attr-defined]


def scrub_rows(s: Session, model: Any, columns: Sequence[str], values: Sequence[str],
               *where: ColumnElement[bool]) -> int:
    """Scrub ``values`` out of these text or JSON ``columns`` of the table's rows (those
    matching ``where``, if given, else all: a scan, which an erasure — rare, an admin's
    act — may afford). Returns the rows changed."""
    if not values or not columns:
        return 0
    table: Table = getattr(model, "__table__", model)
    key = list(table.primary_key.columns)
    cols = [table.c[name] for name in columns]
    mentioned = or_(*(mentioning(col, values) for col in cols))
    rows = s.execute(select(*key, *cols).where(and_(mentioned, *where))).all()
    for row in rows:
        held = row._mapping
        changed = {name: scrub_value(held[name], values) for name in columns}
        changed = {name: v for name, v in changed.items() if v != held[name]}
        if changed:
            s.execute(update(table).where(*(k == held[k.name] for k in key))
                      .values(**changed))
    return len(rows)


def escape_like(value: str) -> str:
    """``value`` matched literally by LIKE (with ``escape="\\"``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def scrub_answers(uow: UnitOfWork, values: Sequence[str]) -> int:
    """The service's kept RPC answers (``rpc_answers``: a create's record, answered again
    to a call repeated under its Idempotency-Key) that mention one of ``values`` are
    forgotten — a whole record, free text and all, not only the values. The call stays
    claimed: repeated, it is answered ``idempotency_answer_lost`` (look the record up),
    never applied twice."""
    table = uow.tables.answers
    if table is None or not values:
        return 0
    return replace_mentioning(uow.session, table, "answer", values, None)


def strings(*groups: Any) -> list[str]:
    """The strings among values and lists of values (a record's name, its phones…)."""
    found: list[str] = []
    for group in groups:
        if isinstance(group, str):
            found.append(group)
        elif isinstance(group, list | tuple | set):
            found += [v for v in group if isinstance(v, str)]
        elif isinstance(group, dict):
            found += [v for v in group.values() if isinstance(v, str)]
    return found
