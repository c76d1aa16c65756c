"""Classification recomputed from events (orders from sales, payments from billing,
visits and follow-ups here) and by a nightly run that refreshes the population-wide
cutoffs (Pareto tier boundaries, RFM quintiles) — CUS-11."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import insert_ignore
from crm_platform.errors import Forbidden
from crm_platform.uow import UnitOfWork

from services.customer import events
from services.customer.db import queries
from services.customer.db.models import Customer, PaidOrder, Setting
from services.customer.domain.classification import (
    Classification,
    Cutoffs,
    Facts,
    Thresholds,
    classify,
    cutoffs_from_ranked,
    quintile_ranks,
    tier_ranks,
)

log = logging.getLogger(__name__)
SETTINGS = "classification"
CUTOFFS = "classification_cutoffs"
RUN = "classification_run"
DEFAULTS: dict[str, Any] = {"currency": "CNY", "run_every_hours": 20}
FIELDS = queries.CLASS_FIELDS
PAGE_SIZE = 2000  # customers per transaction of the nightly run
# how long a nightly run holds its claim without finishing a page; a run that crashed
# blocks the next one this long at most
LEASE = timedelta(minutes=5)


def _facts(c: Any) -> Facts:
    return Facts(c.created_at, c.paid_revenue, c.paid_orders, c.last_purchase_at,
                 c.last_visit_at)


def _thresholds(uow: UnitOfWork) -> Thresholds:
    return Thresholds.from_settings(queries.setting(uow.session, SETTINGS, {}))


def _cutoffs(uow: UnitOfWork) -> Cutoffs:
    raw = queries.setting(uow.session, CUTOFFS, {})
    recency = [datetime.fromisoformat(at) for at in raw.get("recency", [])]
    if "recency" not in raw and raw.get("recency_days") and raw.get("computed_at"):
        # stored before recency was kept as dates: days counted back from that run
        computed = datetime.fromisoformat(raw["computed_at"])
        recency = sorted(computed - timedelta(days=d) for d in raw["recency_days"])
    return Cutoffs(
        tier_a_min=Decimal(raw["tier_a_min"]) if raw.get("tier_a_min") else None,
        tier_b_min=Decimal(raw["tier_b_min"]) if raw.get("tier_b_min") else None,
        recency=recency, frequency=raw.get("frequency", []),
        monetary=raw.get("monetary", []))


def apply(uow: UnitOfWork, customer: Customer, result: Classification) -> bool:
    """Store a classification; publish ``customer.classified`` when it changed."""
    if all(getattr(customer, f) == getattr(result, f) for f in FIELDS):
        return False
    for name in FIELDS:
        setattr(customer, name, getattr(result, name))
    _publish(uow, customer.id, result, customer.paid_revenue)
    return True


def _publish(uow: UnitOfWork, customer_id: str, result: Classification,
             paid_revenue: Decimal) -> None:
    uow.publish(events.CustomerClassified(
        id=customer_id, tier=result.tier, lifecycle=result.lifecycle, stage=result.stage,
        volume_class=result.volume_class, rfm_recency=result.rfm_recency,
        rfm_frequency=result.rfm_frequency, rfm_monetary=result.rfm_monetary,
        paid_revenue=paid_revenue))


def reclassify(uow: UnitOfWork, customer: Customer, now: datetime | None = None) -> bool:
    return apply(uow, customer, classify(_facts(customer), now or datetime.now(UTC),
                                         _thresholds(uow), _cutoffs(uow)))


def _amount(data: dict[str, Any], currency: str) -> Decimal | None:
    if (data.get("currency") or currency) != currency:
        log.warning("ignoring an amount in %s (classification counts %s)",
                    data.get("currency"), currency)
        return None
    try:
        return Decimal(str(data.get("amount")))
    except (InvalidOperation, ValueError):
        log.warning("event without a decimal amount: %s", data)
        return None


def _when(data: dict[str, Any], *names: str) -> datetime:
    for name in names:
        if data.get(name):
            value = datetime.fromisoformat(str(data[name]))
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _customer(uow: UnitOfWork, customer_id: str | None) -> Customer | None:
    if not customer_id:
        return None
    customer = uow.session.get(Customer, customer_id, with_for_update=True)
    # references to a merged record count for its survivor
    while customer is not None and customer.merged_into_id:
        customer = uow.session.get(Customer, customer.merged_into_id, with_for_update=True)
    return customer


def on_order_confirmed(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """An order is work on the customer (it keeps them from the pool); it counts for the
    classification once it is paid."""
    customer = _customer(uow, data.get("customer_id"))
    if customer is None:
        return
    customer.last_activity_at = max(customer.last_activity_at,
                                    _when(data, "confirmed_at", "signed_at"))


def _count_paid_orders(uow: UnitOfWork, customer: Customer,
                       allocations: list[dict[str, Any]], sign: int) -> None:
    """Money allocated to (``sign`` +1) or refunded from (-1) orders: an order counts in
    ``paid_orders`` while money is on it."""
    s = uow.session
    for allocation in allocations:
        order_id = allocation.get("order_id")
        try:
            amount = Decimal(str(allocation.get("amount")))
        except (InvalidOperation, ValueError):
            log.warning("allocation without a decimal amount: %s", allocation)
            continue
        if not order_id or not amount:
            continue
        insert_ignore(s, PaidOrder.__table__, {  # type: ignore[arg-type]
            "order_id": order_id, "customer_id": customer.id, "amount": Decimal("0")})
        paid = s.get(PaidOrder, order_id, with_for_update=True, populate_existing=True)
        assert paid is not None
        before = paid.amount > 0
        paid.amount = max(Decimal("0"), paid.amount + sign * amount)
        customer.paid_orders += (paid.amount > 0) - before


def on_payment(uow: UnitOfWork, data: dict[str, Any], sign: int) -> None:
    """payment.received (+1) and payment.refunded (-1): paid revenue in the
    classification's currency, the orders the money reached, the last purchase."""
    customer = _customer(uow, data.get("customer_id"))
    if customer is None:
        return
    _count_paid_orders(uow, customer, list(data.get("allocations") or []), sign)
    currency = str(queries.setting(uow.session, SETTINGS, DEFAULTS).get("currency", "CNY"))
    amount = _amount(data, currency)
    if amount is not None:
        customer.paid_revenue = max(Decimal("0"), customer.paid_revenue + sign * amount)
        if sign > 0:
            at = _when(data, "received_at")
            customer.last_purchase_at = max(filter(None, [customer.last_purchase_at, at]))
    reclassify(uow, customer)


def on_payment_allocated(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """A credit balance paid orders: no new money, but orders now paid."""
    customer = _customer(uow, data.get("customer_id"))
    if customer is None:
        return
    _count_paid_orders(uow, customer, list(data.get("allocations") or []), +1)
    reclassify(uow, customer)


def _yield() -> None:
    # in the service eventlet has patched time.sleep: this lets other green threads (RPC
    # workers, event handlers) run; without eventlet it costs next to nothing
    time.sleep(0)


def _population_cutoffs(uow: UnitOfWork, t: Thresholds) -> Cutoffs:
    """Population-wide cutoffs from a few ranked values the database picks out."""
    s = uow.session
    payers, buyers = queries.classification_population(s)
    at = quintile_ranks(buyers)
    latest, orders, revenue = queries.buyers_at(s, at)
    return cutoffs_from_ranked(queries.payers_revenue_at(s, tier_ranks(payers, t)),
                               latest, orders, revenue)


def _claim(uow: UnitOfWork, token: str, now: datetime, force: bool) -> bool:
    """Take the run unless it ran recently or another run holds an unexpired lease
    (``force``: take it anyway; the other run stops at its next page). Committed."""
    s = uow.session
    run = queries.lock_setting(s, RUN)
    state = {k: v for k, v in run.value.items() if k != "running"}
    if not force:
        every = float(queries.setting(s, SETTINGS, DEFAULTS).get("run_every_hours", 20))
        last = state.get("finished_at")
        if last and now - datetime.fromisoformat(last) < timedelta(hours=every):
            uow.rollback()
            return False
        other = run.value.get("running")
        if other and datetime.fromisoformat(other["lease_until"]) > datetime.now(UTC):
            uow.rollback()
            return False
    run.value = {**state, "running": _lease(token, now, "", 0, 0)}
    run.version += 1
    uow.commit()
    return True


def _lease(token: str, now: datetime, after_id: str, customers: int, changed: int
           ) -> dict[str, Any]:
    # the lease runs on the wall clock, not on ``now`` (which callers may set); the
    # progress is for whoever looks at the row: a new run starts from the beginning
    return {"by": token, "now": now.isoformat(), "after_id": after_id,
            "customers": customers, "changed": changed,
            "lease_until": (datetime.now(UTC) + LEASE).isoformat()}


def _hold(uow: UnitOfWork, token: str) -> Setting | None:
    """The run's bookkeeping row, locked, if this run still holds it; else None."""
    run = queries.lock_setting(uow.session, RUN)
    if (run.value.get("running") or {}).get("by") != token:
        log.info("classification run %s was taken over; stopping", token)
        uow.rollback()
        return None
    return run


def _commit(uow: UnitOfWork) -> None:
    uow.commit()
    # the unit of work keeps each committed event for its caller: over a million
    # customers that list alone would be gigabytes, and this caller never reads it
    uow.published.clear()


def run_nightly(uow: UnitOfWork, now: datetime | None = None, force: bool = False, *,
                page_size: int = PAGE_SIZE, pause: Callable[[], None] = _yield) -> int:
    """Recompute the cutoffs, then every active customer's classification; the number of
    customers whose classes changed.

    Memory and transactions stay small at any population: the cutoffs come from SQL, and
    customers are classified ``page_size`` at a time by id, each page in its own
    transaction writing only the customers that changed, with their ``customer.classified``
    events, and ``pause()`` runs between pages so the service keeps answering.

    Replicas whose timers fire together run it once: the run is claimed with a lease on its
    bookkeeping row that every page renews; a run that lost its lease (it stalled, or an
    admin forced a new run) stops before its next write. A crash leaves committed pages
    whole and no ``finished_at``, so once the lease lapses the next timer tick runs again
    from the start; pages already done write nothing."""
    now = now or datetime.now(UTC)
    token = uuid.uuid4().hex
    if not _claim(uow, token, now, force):
        return 0
    thresholds = _thresholds(uow)
    cutoffs = _population_cutoffs(uow, thresholds)
    if _hold(uow, token) is None:
        return 0
    queries.put_setting(uow.session, CUTOFFS, {
        "tier_a_min": str(cutoffs.tier_a_min) if cutoffs.tier_a_min is not None else None,
        "tier_b_min": str(cutoffs.tier_b_min) if cutoffs.tier_b_min is not None else None,
        "recency": [at.isoformat() for at in cutoffs.recency],
        "frequency": list(cutoffs.frequency),
        "monetary": list(cutoffs.monetary), "computed_at": now.isoformat()})
    _commit(uow)
    after, seen, changed = "", 0, 0
    while True:
        page = queries.classification_page(uow.session, after, page_size)
        updates: list[tuple[Any, Classification]] = []
        for row in page:
            result = classify(Facts(row.created_at, row.paid_revenue, row.paid_orders,
                                    row.last_purchase_at, row.last_visit_at),
                              now, thresholds, cutoffs)
            if result != Classification(*(getattr(row, f) for f in FIELDS)):
                updates.append((row, result))
        run = _hold(uow, token)
        if run is None:
            return changed
        written = queries.store_classes(uow.session, [
            {**row._mapping, **{f: getattr(result, f) for f in FIELDS}}
            for row, result in updates])
        for row, result in updates:
            if row.id in written:
                _publish(uow, row.id, result, row.paid_revenue)
        seen += len(page)
        changed += len(written)
        last_page = len(page) < page_size
        if last_page:
            run.value = {"finished_at": now.isoformat(), "customers": seen, "changed": changed}
        else:
            after = page[-1].id
            run.value = {**run.value, "running": _lease(token, now, after, seen, changed)}
        run.version += 1
        _commit(uow)
        if last_page:
            return changed
        pause()


def recompute_now(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
    if caller.scope != "all" or not caller.has("customer:configure"):
        raise Forbidden("recomputing classification is for admins", code="permission_denied")
    changed = run_nightly(uow, force=True)
    return {"changed": changed}


def get_settings(uow: UnitOfWork) -> dict[str, Any]:
    thresholds = _thresholds(uow)
    base = {name: (str(v) if isinstance(v, Decimal) else v)
            for name, v in vars(thresholds).items()}
    return {**base, **{k: v for k, v in queries.setting(uow.session, SETTINGS, DEFAULTS)
                       .items() if k in DEFAULTS}}


def put_settings(uow: UnitOfWork, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    if caller.scope != "all" or not caller.has("customer:configure"):
        raise Forbidden("classification settings are for admins", code="permission_denied")
    queries.put_setting(uow.session, SETTINGS, data)
    uow.commit()
    return get_settings(uow)
