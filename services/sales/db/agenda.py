"""What the sales service holds for an employee's agenda (CUS-18): quotes and orders
waiting on their approval."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_platform.agenda import MAX_ITEMS_PER_SECTION
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.sales.db.models import CustomerCopy, Order, Quote
from services.sales.db.queries import manager_of

# orders over the discount threshold waiting for a decision, read at most (few wait at
# once: each is decided within the day)
PENDING_ORDERS_READ = 1000


def quotes_to_approve(s: Session, approver_id: str, before: datetime) -> list[Row[Any]]:
    """(quote, customer name) of quotes submitted to the approver; a quote waits since
    its submission (its last change)."""
    return list(s.execute(
        select(Quote, CustomerCopy.name)
        .outerjoin(CustomerCopy, CustomerCopy.id == Quote.customer_id)
        .where(Quote.approver_id == approver_id, Quote.status == "pending_approval",
               Quote.updated_at < before)
        .order_by(Quote.updated_at, Quote.id).limit(MAX_ITEMS_PER_SECTION)))


def orders_to_approve(s: Session, manager_id: str, before: datetime) -> list[Row[Any]]:
    """(order, customer name) of orders waiting for approval whose owner's manager is
    ``manager_id`` (an order is routed as its owner's quotes are)."""
    rows = s.execute(
        select(Order, CustomerCopy.name)
        .outerjoin(CustomerCopy, CustomerCopy.id == Order.customer_id)
        .where(Order.status == "pending_approval", Order.updated_at < before,
               Order.owner_id != manager_id)
        .order_by(Order.updated_at, Order.id).limit(PENDING_ORDERS_READ))
    managers: dict[str | None, str | None] = {}
    mine = []
    for row in rows:
        owner = row[0].owner_id
        if owner not in managers:
            managers[owner] = manager_of(s, owner)
        if managers[owner] == manager_id:
            mine.append(row)
    return mine[:MAX_ITEMS_PER_SECTION]
