"""The sales service's part of an employee's agenda (CUS-18)."""

from __future__ import annotations

from typing import Any

from crm_platform import agenda
from crm_platform.auth import Caller
from crm_platform.money import text
from crm_platform.uow import UnitOfWork

from services.sales.db import agenda as queries


def my_agenda(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
              ) -> dict[str, Any]:
    """Quotes and orders over the discount threshold waiting on the caller's decision."""
    before = agenda.window_end(query)
    s = uow.session
    items = [
        agenda.item("quote_approval", q.id, f"报价审批 {q.number} {customer or ''}".strip(),
                    q.updated_at, f"/api/v1/quotes/{q.id}", number=q.number,
                    customer_id=q.customer_id, customer_name=customer,
                    amount=text(q.amount, q.currency), currency=q.currency,
                    owner_id=q.owner_id, max_discount_percent=str(q.max_discount_percent))
        for q, customer in queries.quotes_to_approve(s, caller.user_id, before)
    ]
    items += [
        agenda.item("order_approval", o.id, f"订单审批 {o.number} {customer or ''}".strip(),
                    o.updated_at, f"/api/v1/orders/{o.id}", number=o.number,
                    customer_id=o.customer_id, customer_name=customer,
                    amount=text(o.amount, o.currency), currency=o.currency,
                    owner_id=o.owner_id)
        for o, customer in queries.orders_to_approve(s, caller.user_id, before)
    ]
    return {"items": agenda.sorted_by_due(items)}
