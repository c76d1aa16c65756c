"""SQL of the customer service beside its searches (``search``): a customer to change,
sequences, the duplicate guard's keys, staff names, settings, the nightly classification."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from crm_platform import read_models
from crm_platform.auth import Caller
from crm_platform.db import (
    any_of,
    is_postgres,
    locked_setting,
    next_in_sequence,
    read_setting,
    write_setting,
)
from crm_platform.errors import NotFound
from sqlalchemy import Row, Table, bindparam, case, func, select, text, update
from sqlalchemy.orm import Session

from services.customer.db.models import CodeSequence, Customer, CustomerKey, Setting, Staff
from services.customer.db.search import visible

_customers = Customer.__table__


def get_visible(s: Session, caller: Caller, customer_id: str, *, lock: bool = False,
                include_archived: bool = True) -> Customer:
    query = visible(select(Customer).where(Customer.id == customer_id), caller)
    if lock:
        query = query.with_for_update()
    customer = s.scalar(query)
    if customer is None or (not include_archived and customer.status != "active"):
        raise NotFound("customer not found", code="customer_not_found")
    return customer


def next_sequence(s: Session, name: str, start: int = 1, count: int = 1) -> int:
    return next_in_sequence(s, CodeSequence, name, start, count=count)


def existing_keys(s: Session, keys: Iterable[str], exclude_customer: str | None = None
                  ) -> dict[str, str]:
    """{key: customer id} of those ``keys`` some customer (other than
    ``exclude_customer``) holds. Any number of keys: an import asks for 30,000 at once."""
    wanted = list(keys)
    found: dict[str, str] = {}
    # PostgreSQL takes them all as one array; SQLite a few hundred variables at a time
    step = len(wanted) if is_postgres(s) else 500
    for start in range(0, len(wanted), max(step, 1)):
        query = select(CustomerKey.key, CustomerKey.customer_id).where(
            any_of(s, CustomerKey.key, wanted[start:start + step]))
        if exclude_customer:
            query = query.where(CustomerKey.customer_id != exclude_customer)
        found.update(s.execute(query).tuples().all())
    return found


def staff_name(s: Session, user_id: str | None) -> str | None:
    if user_id is None:
        return None
    return s.scalar(select(Staff.display_name).where(Staff.id == user_id))


def staff_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    return read_models.names(s, Staff, ids, "display_name")


def owned_count(s: Session, user_id: str) -> int:
    return int(s.scalar(select(func.count()).select_from(Customer).where(
        Customer.owner_id == user_id, Customer.status == "active")) or 0)


def setting(s: Session, name: str, default: dict[str, Any]) -> dict[str, Any]:
    return read_setting(s, Setting, name, default)


def put_setting(s: Session, name: str, value: dict[str, Any]) -> dict[str, Any]:
    write_setting(s, Setting, name, value)
    return value




# -- the nightly classification (CUS-11) -------------------------------------------------
# It reads the population in narrow Core rows, never as ORM objects: at a million customers
# loading them all took 5.6 GB and a minute of CPU.
CLASS_FIELDS = ("tier", "rfm_recency", "rfm_frequency", "rfm_monetary", "lifecycle", "stage",
                "volume_class")
FACT_FIELDS = ("created_at", "paid_revenue", "paid_orders", "last_purchase_at",
               "last_visit_at")
_ACTIVE = _customers.c.status == "active"
_CLASS_PAGE = (select(_customers.c.id, *(_customers.c[n] for n in FACT_FIELDS + CLASS_FIELDS))
               .where(_ACTIVE, _customers.c.id > bindparam("after"))
               .order_by(_customers.c.id))


def lock_setting(s: Session, name: str) -> Setting:
    """The setting row, created empty if missing, locked until the transaction ends."""
    row: Setting = locked_setting(s, Setting, name)
    return row


def classification_population(s: Session) -> tuple[int, int]:
    """(payers, buyers): active customers with paid revenue, and with a purchase."""
    c = _customers.c
    row = s.execute(select(func.count(case((c.paid_revenue > 0, 1))),
                           func.count(c.last_purchase_at)).where(_ACTIVE)).one()
    return int(row[0]), int(row[1])


def _ranked(s: Session, value: Any, among: Any, ranks: Sequence[int], *, descending: bool
            ) -> list[Any]:
    """``value`` at the 0-based ``ranks`` of the active customers matching ``among``, in
    ``value`` order: one sort in the database instead of the population in memory."""
    if not ranks:
        return []
    order = value.desc() if descending else value.asc()
    ranked = (select(value.label("v"), func.row_number().over(order_by=order).label("rn"))
              .where(_ACTIVE, among).subquery())
    positions = sorted({r + 1 for r in ranks})
    wanted = select(ranked.c.rn, ranked.c.v).where(ranked.c.rn.in_(positions))
    found = {rn: v for rn, v in s.execute(wanted)}
    return [found[r + 1] for r in ranks]


def payers_revenue_at(s: Session, ranks: Sequence[int]) -> list[Decimal]:
    """Paid revenue of the paying customers at ``ranks``, highest first."""
    c = _customers.c
    return _ranked(s, c.paid_revenue, c.paid_revenue > 0, ranks, descending=True)


def buyers_at(s: Session, ranks: Sequence[int]
              ) -> tuple[list[datetime], list[int], list[Decimal]]:
    """At ``ranks`` among customers with a purchase: the last purchase (latest first), the
    paid orders and the paid revenue (both lowest first)."""
    c = _customers.c
    bought = c.last_purchase_at.is_not(None)
    return (_ranked(s, c.last_purchase_at, bought, ranks, descending=True),
            _ranked(s, c.paid_orders, bought, ranks, descending=False),
            _ranked(s, c.paid_revenue, bought, ranks, descending=False))


def classification_page(s: Session, after_id: str, size: int) -> list[Row[Any]]:
    """Up to ``size`` active customers with ids after ``after_id`` ("" for the first page),
    by id: their id, ``FACT_FIELDS`` and current ``CLASS_FIELDS``."""
    return list(s.execute(_CLASS_PAGE.limit(size), {"after": after_id}))


# Classes are written only while the facts they were computed from still hold: an order or
# payment event that changed a customer since the page was read reclassified it with newer
# facts, and a stale nightly result must not overwrite that.
_STORE_CLASSES_PG = text("""
UPDATE customers AS c
   SET tier = v.tier, rfm_recency = v.rfm_recency, rfm_frequency = v.rfm_frequency,
       rfm_monetary = v.rfm_monetary, lifecycle = v.lifecycle, stage = v.stage,
       volume_class = v.volume_class
  FROM unnest(CAST(:id AS varchar[]), CAST(:tier AS varchar[]),
              CAST(:rfm_recency AS integer[]), CAST(:rfm_frequency AS integer[]),
              CAST(:rfm_monetary AS integer[]), CAST(:lifecycle AS varchar[]),
              CAST(:stage AS varchar[]), CAST(:volume_class AS varchar[]),
              CAST(:paid_revenue AS numeric[]), CAST(:paid_orders AS integer[]),
              CAST(:last_purchase_at AS timestamptz[]), CAST(:last_visit_at AS timestamptz[]))
       AS v(id, tier, rfm_recency, rfm_frequency, rfm_monetary, lifecycle, stage,
            volume_class, paid_revenue, paid_orders, last_purchase_at, last_visit_at)
 WHERE c.id = v.id AND c.status = 'active'
   AND c.paid_revenue = v.paid_revenue AND c.paid_orders = v.paid_orders
   AND c.last_purchase_at IS NOT DISTINCT FROM v.last_purchase_at
   AND c.last_visit_at IS NOT DISTINCT FROM v.last_visit_at
RETURNING c.id""")
_GUARDED = ("paid_revenue", "paid_orders", "last_purchase_at", "last_visit_at")
_STORE_CLASS_ONE = (
    update(cast(Table, _customers))
    .where(_customers.c.id == bindparam("b_id"), _ACTIVE,
           *(_customers.c[n].is_not_distinct_from(bindparam(f"b_{n}")) for n in _GUARDED))
    .values({n: bindparam(f"b_{n}") for n in CLASS_FIELDS}))


def store_classes(s: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Write new classes: each of ``rows`` has ``id``, ``CLASS_FIELDS`` and the facts it
    was classified from (all of ``FACT_FIELDS`` but ``created_at``, which never changes).
    The ids written: a customer whose facts changed meanwhile, or that is no longer
    active, is left alone."""
    if not rows:
        return set()
    if is_postgres(s):  # one statement per page, not one round trip per customer
        names = ("id", *CLASS_FIELDS, *_GUARDED)
        return set(s.execute(_STORE_CLASSES_PG, {n: [r[n] for r in rows] for n in names})
                   .scalars())
    # SQLite (the laptop default): local, one writer, a statement per row is cheap
    written = set()
    for r in rows:
        params = {f"b_{n}": r[n] for n in ("id", *CLASS_FIELDS, *_GUARDED)}
        if s.execute(_STORE_CLASS_ONE, params).rowcount == 1:  # type: ignore[attr-defined]
            written.add(str(r["id"]))
    return written


