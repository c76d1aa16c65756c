"""Quotes with discount approval (SAL-06), orders / contracts with the credit check and
deliveries (SAL-07), and the paid status billing reports back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from crm_platform import wire
from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, Forbidden, ValidationFailed, check_version
from crm_platform.money import ZERO
from crm_platform.pagination import PageQuery, keyset_page
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select

from services.billing.events import AllocationRef
from services.sales import events, schemas
from services.sales.db import queries
from services.sales.db.models import (
    CustomerCopy,
    Delivery,
    Opportunity,
    Order,
    OrderPayment,
    Quote,
)
from services.sales.db.repositories import SqlStages
from services.sales.domain import pricing, workflow
from services.sales.repositories import SalesWork
from services.sales.use_cases.common import (
    FetchCustomer,
    amount,
    customer_for,
    settings,
)
from services.sales.use_cases.pipeline import opportunity_out

# ``check_credit(customer_id, amount, currency, order_id, override)`` asks billing as the
# order is confirmed (over RPC with a timeout; ServiceUnavailable when it does not
# answer); ``override``: a manager confirms it whatever the answer.
CheckCredit = Callable[[str, str, str, str, bool], dict[str, Any]]


def _threshold(uow: SalesWork) -> Decimal:
    return Decimal(str(settings(uow)["quote_discount_approval_percent"]))


def _price(uow: SalesWork, lines: list[schemas.LineIn], currency: str) -> pricing.Priced:
    products = {p.id: p for p in uow.repos.products.many(line.product_id for line in lines)}
    catalogue = {p.id: pricing.CatalogueItem(p.id, p.name, p.unit, p.tax_rate, p.currency,
                                             p.is_active) for p in products.values()}
    priced_in: list[pricing.LineIn] = []
    for n, line in enumerate(lines, start=1):
        product = products.get(line.product_id)
        if line.unit_price is None and product is not None and product.currency != currency:
            raise ValidationFailed(f"line {n}: the list price is in {product.currency}; "
                                   f"give a unit_price in {currency}",
                                   code="currency_mismatch", extra={"line": n})
        price = line.unit_price if line.unit_price is not None else (
            product.list_price if product is not None else ZERO)
        # the discount is measured from the list price, so only in the list's currency
        list_price = product.list_price \
            if product is not None and product.currency == currency else None
        priced_in.append(pricing.LineIn(line.product_id, line.quantity,
                                        amount(price, currency, f"lines[{n}].unit_price"),
                                        line.discount_percent, list_price))
    return pricing.price_lines(priced_in, catalogue, currency)


# -- quotes -------------------------------------------------------------------------------------
def quote_out(q: Quote) -> dict[str, Any]:
    return schemas.Quote.model_validate(q, from_attributes=True).model_dump(mode="json")


def _quote_event(q: Quote, cls: type[events.QuoteEvent], **extra: Any) -> events.QuoteEvent:
    return cls(id=q.id, number=q.number, customer_id=q.customer_id, owner_id=q.owner_id,
               amount=q.amount, currency=q.currency,
               max_discount_percent=q.max_discount_percent, **extra)


def create_quote(uow: SalesWork, caller: Caller, data: schemas.QuoteIn, fetch: FetchCustomer
                 ) -> dict[str, Any]:
    """A new quote supersedes the customer's unfinished quotes for the same opportunity, so
    one customer never holds two live quotes that disagree (SAL-06)."""
    customer = customer_for(uow, caller, data.customer_id, fetch)
    priced = _price(uow, data.lines, data.currency)
    now = utcnow()
    for old in uow.repos.quotes.live(customer.id, data.opportunity_id):
        old.status = workflow.QUOTE.next(old.status, "supersede")
        bump(old)
    q = Quote(id=str(uuid.uuid4()), number=_number(uow, "QT", now.year),
              customer_id=customer.id, opportunity_id=data.opportunity_id,
              owner_id=customer.owner_id, owner_team_id=customer.owner_team_id,
              currency=data.currency, lines=priced.lines, amount=priced.amount,
              tax_amount=priced.tax_amount, max_discount_percent=priced.max_discount_percent,
              valid_until=data.valid_until, note=data.note, status="draft",
              created_by=caller.user_id, created_at=now, updated_at=now, version=1)
    uow.repos.quotes.add(q)
    uow.commit()
    return quote_out(q)


def get_quote(uow: SalesWork, caller: Caller, quote_id: str) -> dict[str, Any]:
    return quote_out(uow.repos.quotes.visible(caller, quote_id))


def list_quotes(uow: UnitOfWork, caller: Caller, q: schemas.QuoteQuery) -> dict[str, Any]:
    query = queries.visible(select(Quote), Quote, caller)
    for name in ("customer_id", "opportunity_id", "status"):
        if getattr(q, name):
            query = query.where(getattr(Quote, name) == getattr(q, name))
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            (Quote.created_at, Quote.id), descending=True)
    return {"items": [quote_out(r) for r in rows], "next_cursor": nxt}


def update_quote(uow: SalesWork, caller: Caller, quote_id: str, data: schemas.QuoteUpdate,
                 expected_version: int | None) -> dict[str, Any]:
    q = uow.repos.quotes.visible(caller, quote_id, lock=True)
    check_version(q.version, expected_version, "quote")
    q.status = workflow.QUOTE.next(q.status, "edit")
    if data.lines is not None:
        priced = _price(uow, data.lines, q.currency)
        q.lines, q.amount, q.tax_amount = priced.lines, priced.amount, priced.tax_amount
        q.max_discount_percent = priced.max_discount_percent
    for name in ("valid_until", "note"):
        if name in data.model_fields_set:
            setattr(q, name, getattr(data, name))
    q.decided_by = q.decision_comment = None
    bump(q)
    uow.commit()
    return quote_out(q)


def submit_quote(uow: SalesWork, caller: Caller, quote_id: str) -> dict[str, Any]:
    """Within the discount threshold the quote is approved at once; above it, it waits for
    the owner's manager."""
    q = uow.repos.quotes.visible(caller, quote_id, lock=True)
    if pricing.needs_discount_approval(pricing.line_discounts(q.lines), _threshold(uow)):
        q.status = workflow.QUOTE.next(q.status, "submit_for_approval")
        q.approver_id = uow.repos.people.manager_of(q.owner_id)
        uow.publish(_quote_event(q, events.QuoteSubmitted, approver_id=q.approver_id))
    else:
        q.status = workflow.QUOTE.next(q.status, "submit")
        uow.publish(_quote_event(q, events.QuoteApproved, decided_by=None))
    bump(q)
    uow.commit()
    return quote_out(q)


def _check_approver(caller: Caller, owner_id: str | None, permission: str) -> None:
    if not caller.has(permission):
        raise Forbidden("only the owner's manager can decide", code="permission_denied")
    if owner_id == caller.user_id and caller.scope != "all":
        raise Forbidden("you cannot approve your own request", code="self_approval")
    if caller.scope == "own" or not caller.can_see_owner(owner_id):
        raise Forbidden("only the owner's manager can decide", code="permission_denied")


def decide_quote(uow: SalesWork, caller: Caller, quote_id: str, approve: bool,
                 comment: str | None) -> dict[str, Any]:
    q = uow.repos.quotes.visible(caller, quote_id, lock=True)
    _check_approver(caller, q.owner_id, "quote:approve")
    if approve:
        q.status = workflow.QUOTE.next(q.status, "approve")
        uow.publish(_quote_event(q, events.QuoteApproved, decided_by=caller.user_id))
    else:
        q.status = workflow.QUOTE.next(q.status, "reject")
        uow.publish(_quote_event(q, events.QuoteRejected, decided_by=caller.user_id,
                                 comment=comment))
    q.decided_by, q.decision_comment = caller.user_id, comment
    bump(q)
    uow.commit()
    return quote_out(q)


def convert_quote(uow: SalesWork, caller: Caller, quote_id: str, data: schemas.QuoteConvert,
                  fetch: FetchCustomer) -> dict[str, Any]:
    q = uow.repos.quotes.visible(caller, quote_id, lock=True)
    q.status = workflow.QUOTE.next(q.status, "convert")
    customer = customer_for(uow, caller, q.customer_id, fetch)
    order = _new_order(uow, caller, customer, q.currency, q.lines, q.amount, q.tax_amount,
                       data.payment_terms, data, quote=q)
    q.order_id = order.id
    bump(q)
    uow.commit()
    return order_out(order)


# -- orders -------------------------------------------------------------------------------------
def order_out(o: Order) -> dict[str, Any]:
    if o.paid_amount <= 0:
        paid = "unpaid"
    elif o.paid_amount < o.amount:
        paid = "partially_paid"
    else:
        paid = "paid"
    return schemas.Order.model_validate({**{k: getattr(o, k) for k in schemas.Order.model_fields
                                            if hasattr(o, k)}, "paid_status": paid}
                                        ).model_dump(mode="json")


def _terms(terms: schemas.PaymentTerms) -> dict[str, Any]:
    pricing.check_payment_terms([(i.percent, i.due_days) for i in terms.installments])
    return {"installments": [{"percent": format(i.percent.normalize(), "f"), "due_days": i.due_days}
                             for i in terms.installments]}


def _number(uow: SalesWork, series: str, year: int) -> str:
    """``SO-2026-000042``: gap-free per series and year."""
    return f"{series}-{year}-{uow.repos.sequences.next(f'{series}-{year}'):06d}"


def _new_order(uow: SalesWork, caller: Caller, customer: CustomerCopy, currency: str,
               lines: list[dict[str, Any]], total: Decimal, tax: Decimal,
               terms: schemas.PaymentTerms, fields: schemas.OrderFields,
               quote: Quote | None = None, opportunity_id: str | None = None) -> Order:
    now = utcnow()
    o = Order(id=str(uuid.uuid4()), number=_number(uow, "SO", now.year),
              customer_id=customer.id, quote_id=quote.id if quote else None,
              opportunity_id=quote.opportunity_id if quote else opportunity_id,
              owner_id=customer.owner_id, owner_team_id=customer.owner_team_id,
              currency=currency, lines=lines, amount=total, tax_amount=tax,
              payment_terms=_terms(terms), status="draft", paid_amount=ZERO,
              created_by=caller.user_id, created_at=now, updated_at=now, version=1,
              **fields.model_dump(include=set(schemas.OrderFields.model_fields)))
    uow.repos.orders.add(o)
    uow.publish(events.OrderCreated(id=o.id, number=o.number, customer_id=o.customer_id,
                                    owner_id=o.owner_id, status=o.status, version=o.version))
    return o


def create_order(uow: SalesWork, caller: Caller, data: schemas.OrderIn, fetch: FetchCustomer
                 ) -> dict[str, Any]:
    customer = customer_for(uow, caller, data.customer_id, fetch)
    priced = _price(uow, data.lines, data.currency)
    o = _new_order(uow, caller, customer, data.currency, priced.lines, priced.amount,
                   priced.tax_amount, data.payment_terms, data,
                   opportunity_id=data.opportunity_id)
    uow.commit()
    return order_out(o)


def get_order(uow: SalesWork, caller: Caller, order_id: str) -> dict[str, Any]:
    return order_out(uow.repos.orders.visible(caller, order_id))


def list_orders(uow: UnitOfWork, caller: Caller, q: schemas.OrderQuery) -> dict[str, Any]:
    query = queries.visible(select(Order), Order, caller)
    for name in ("customer_id", "owner_id"):
        if getattr(q, name):
            query = query.where(getattr(Order, name) == getattr(q, name))
    if q.status:
        query = query.where(Order.status.in_(q.status.split(",")))
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            (Order.created_at, Order.id), descending=True)
    return {"items": [order_out(r) for r in rows], "next_cursor": nxt}


def update_order(uow: SalesWork, caller: Caller, order_id: str, data: schemas.OrderUpdate,
                 expected_version: int | None) -> dict[str, Any]:
    o = uow.repos.orders.visible(caller, order_id, lock=True)
    check_version(o.version, expected_version, "order")
    workflow.ORDER.check(o.status, "edit")
    if o.quote_id is not None and data.lines is not None:
        raise Conflict("an order from a quote keeps the quote's lines; revise the quote",
                       code="lines_from_quote")
    if data.lines is not None:
        priced = _price(uow, data.lines, o.currency)
        o.lines, o.amount, o.tax_amount = priced.lines, priced.amount, priced.tax_amount
    if data.payment_terms is not None:
        o.payment_terms = _terms(data.payment_terms)
    for name in schemas.OrderFields.model_fields:
        if name in data.model_fields_set:
            setattr(o, name, getattr(data, name))
    bump(o)
    uow.commit()
    return order_out(o)


def _order_event_base(o: Order) -> dict[str, Any]:
    return {"order_id": o.id, "number": o.number, "customer_id": o.customer_id,
            "owner_id": o.owner_id, "owner_team_id": o.owner_team_id}


def submit_order(uow: SalesWork, caller: Caller, order_id: str) -> dict[str, Any]:
    o = uow.repos.orders.visible(caller, order_id, lock=True)
    o.status = workflow.ORDER.next(o.status, "submit")
    bump(o)
    uow.commit()
    return order_out(o)


def confirm_order(uow: SalesWork, caller: Caller, order_id: str, check_credit: CheckCredit,
                  *, approved: bool = False, override: bool = False) -> dict[str, Any]:
    """Confirm after billing's credit check. A discount over the threshold needs the
    manager's approval (or an approved quote). Over the limit → 409
    ``credit_limit_exceeded`` (the check is recorded on the order) unless a manager
    approved the override; billing not answering → 503 and the order stays as it was."""
    o = uow.repos.orders.visible(caller, order_id, lock=True)
    confirmed = workflow.ORDER.next(o.status, "confirm")
    if (not approved and o.quote_id is None
            and pricing.needs_discount_approval(pricing.line_discounts(o.lines),
                                                _threshold(uow))):
        raise Conflict("a discount above the threshold needs the manager's approval: submit "
                       "the order", code="discount_approval_required")
    check = check_credit(o.customer_id, str(o.amount), o.currency, o.id, override)
    o.last_credit_check = {**check, "checked_at": wire.timestamp(utcnow())}
    if not check.get("allowed", False) and not override:
        o.version += 1
        uow.commit()  # keep the refused check on the order for whoever approves it
        raise Conflict("the order exceeds the customer's credit: a manager must approve an "
                       "override", code="credit_limit_exceeded",
                       extra={"credit": {k: check.get(k) for k in (
                           "reason", "limit", "exposure", "available", "currency")}})
    if override:
        o.credit_override_by = caller.user_id
    now = utcnow()
    o.status = confirmed
    o.confirmed_at = now
    o.version += 1
    o.updated_at = now
    customer = uow.repos.customers.get(o.customer_id)
    uow.publish(events.OrderConfirmed(
        **_order_event_base(o), customer_name=customer.name if customer else o.customer_id,
        currency=o.currency, amount=o.amount, tax_amount=o.tax_amount, lines=o.lines,
        payment_terms=o.payment_terms, confirmed_at=now, signed_at=o.signed_at,
        start_date=o.start_date, end_date=o.end_date,
        credit_override_by=o.credit_override_by))
    uow.commit()
    return order_out(o)


def approve_order(uow: SalesWork, caller: Caller, order_id: str, data: schemas.OrderApprove,
                  check_credit: CheckCredit) -> dict[str, Any]:
    o = uow.repos.orders.visible(caller, order_id, lock=True)
    _check_approver(caller, o.owner_id, "order:approve")
    workflow.ORDER.check(o.status, "approve")
    return confirm_order(uow, caller, order_id, check_credit, approved=True,
                         override=data.credit_override)


def cancel_order(uow: SalesWork, caller: Caller, order_id: str, reason: str) -> dict[str, Any]:
    o = uow.repos.orders.visible(caller, order_id, lock=True)
    was_confirmed = o.status == "confirmed"
    o.status = workflow.ORDER.next(o.status, "cancel")
    o.cancelled_reason = workflow.require_reason(reason, "cancellation reason")
    bump(o)
    uow.publish(events.OrderCancelled(**_order_event_base(o), reason=o.cancelled_reason,
                                      was_confirmed=was_confirmed))
    uow.commit()
    return order_out(o)


def complete_order(uow: SalesWork, caller: Caller, order_id: str) -> dict[str, Any]:
    o = uow.repos.orders.visible(caller, order_id, lock=True)
    _complete(uow, o)
    uow.commit()
    return order_out(o)


def _complete(uow: SalesWork, o: Order) -> None:
    o.status = workflow.ORDER.next(o.status, "complete")
    o.completed_at = utcnow()
    o.version += 1
    o.updated_at = o.completed_at
    uow.publish(events.OrderCompleted(**_order_event_base(o), completed_at=o.completed_at))


# -- deliveries ---------------------------------------------------------------------------------
def record_delivery(uow: SalesWork, caller: Caller, order_id: str, data: schemas.DeliveryIn
                    ) -> dict[str, Any]:
    o = uow.repos.orders.visible(caller, order_id, lock=True)
    if o.status != "in_delivery":  # the first delivery starts it; later ones add to it
        o.status = workflow.ORDER.next(o.status, "start_delivery")
    ordered = {line["product_id"] for line in o.lines}
    for n, line in enumerate(data.lines, start=1):
        if line.product_id not in ordered:
            raise ValidationFailed(f"line {n}: that product is not on the order",
                                   code="not_on_order", extra={"line": n})
    d = Delivery(id=str(uuid.uuid4()), order_id=o.id, delivered_on=data.delivered_on,
                 lines=[{"product_id": x.product_id, "quantity": str(x.quantity)}
                        for x in data.lines],
                 carrier=data.carrier, tracking_number=data.tracking_number, note=data.note,
                 recorded_by=caller.user_id, recorded_at=utcnow())
    uow.repos.deliveries.add(d)
    bump(o)
    uow.publish(events.OrderDelivered(**_order_event_base(o), delivery_id=d.id,
                                      delivered_on=d.delivered_on, lines=d.lines))
    if data.completes_order:
        _complete(uow, o)
    uow.commit()
    return schemas.Delivery.model_validate(d, from_attributes=True).model_dump(mode="json")


def list_deliveries(uow: UnitOfWork, caller: Caller, order_id: str, page: PageQuery
                    ) -> dict[str, Any]:
    queries.get_visible(uow.session, Order, order_id, caller, "order")
    query = select(Delivery).where(Delivery.order_id == order_id)
    rows, cursor = keyset_page(uow.session, query, page.limit, page.cursor,
                               (Delivery.delivered_on, Delivery.recorded_at, Delivery.id))
    return {"items": [schemas.Delivery.model_validate(r, from_attributes=True)
                      .model_dump(mode="json") for r in rows], "next_cursor": cursor}


# -- paid status from billing ------------------------------------------------------------------
def on_payment(uow: UnitOfWork, event_id: str, allocations: list[AllocationRef],
               sign: int) -> None:
    """``payment.received`` / ``payment.allocated`` (a credit balance applied later) /
    ``payment.refunded``: each allocation to an order adds to (or takes from) its paid
    amount; one row per (event, order) so a redelivery counts once."""
    s = uow.session
    per_order: dict[str, Decimal] = {}
    for alloc in allocations:
        if alloc.order_id:
            per_order[alloc.order_id] = per_order.get(alloc.order_id, ZERO) \
                + Decimal(alloc.amount)
    key = f"{'paid' if sign > 0 else 'refund'}:{event_id}"
    for order_id, paid in per_order.items():
        o = s.get(Order, order_id, with_for_update=True)
        if o is None or s.get(OrderPayment, (key, order_id)) is not None:
            continue
        s.add(OrderPayment(source_key=key, order_id=order_id, amount=sign * paid))
        s.flush()
        o.paid_amount = s.scalar(select(func.coalesce(func.sum(OrderPayment.amount), 0))
                                 .where(OrderPayment.order_id == order_id)) or ZERO
        o.version += 1


def get_settings(uow: SalesWork) -> dict[str, Any]:
    return schemas.SalesSettings.model_validate(settings(uow)).model_dump(mode="json")


def put_settings(uow: UnitOfWork, caller: Caller, data: schemas.SalesSettings) -> dict[str, Any]:
    if caller.scope != "all":
        raise Forbidden("only admins change sales settings", code="permission_denied")
    queries.put_setting(uow.session, "sales", data.model_dump(mode="json"))
    uow.commit()
    return data.model_dump(mode="json")



def customer_summary(uow: UnitOfWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    """The sales section of the customer 360 view (CUS-16), within the caller's scope."""
    s = uow.session
    opps = list(s.scalars(queries.visible(select(Opportunity), Opportunity, caller).where(
        Opportunity.customer_id == customer_id, Opportunity.status == "open")
        .order_by(Opportunity.updated_at.desc()).limit(20)))
    recent_orders = list(s.scalars(queries.visible(select(Order), Order, caller).where(
        Order.customer_id == customer_id).order_by(Order.created_at.desc()).limit(10)))
    recent_quotes = list(s.scalars(queries.visible(select(Quote), Quote, caller).where(
        Quote.customer_id == customer_id).order_by(Quote.created_at.desc()).limit(5)))
    stages = SqlStages(s)
    return {"open_opportunities": [opportunity_out(stages, o) for o in opps],
            "recent_orders": [order_out(o) for o in recent_orders],
            "recent_quotes": [quote_out(q) for q in recent_quotes]}
