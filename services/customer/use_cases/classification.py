"""Classification recomputed from events (orders from sales, payments from billing,
visits and follow-ups here) and by a nightly run that refreshes the population-wide
cutoffs (Pareto tier boundaries, RFM quintiles) — CUS-11."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import Forbidden
from crm_platform.uow import UnitOfWork
from sqlalchemy import select

from services.customer import events
from services.customer.db import queries
from services.customer.db.models import Customer, Setting
from services.customer.domain.classification import (
    Classification,
    Cutoffs,
    Facts,
    Thresholds,
    classify,
    compute_cutoffs,
)

log = logging.getLogger(__name__)
SETTINGS = "classification"
CUTOFFS = "classification_cutoffs"
RUN = "classification_run"
DEFAULTS: dict[str, Any] = {"currency": "CNY", "run_every_hours": 20}
FIELDS = ("tier", "rfm_recency", "rfm_frequency", "rfm_monetary", "lifecycle", "stage",
          "volume_class")


def _facts(c: Any) -> Facts:
    return Facts(c.created_at, c.paid_revenue, c.paid_orders, c.last_purchase_at,
                 c.last_visit_at)


def _thresholds(uow: UnitOfWork) -> Thresholds:
    return Thresholds.from_settings(queries.setting(uow.session, SETTINGS, {}))


def _cutoffs(uow: UnitOfWork) -> Cutoffs:
    raw = queries.setting(uow.session, CUTOFFS, {})
    return Cutoffs(
        tier_a_min=Decimal(raw["tier_a_min"]) if raw.get("tier_a_min") else None,
        tier_b_min=Decimal(raw["tier_b_min"]) if raw.get("tier_b_min") else None,
        recency_days=raw.get("recency_days", []), frequency=raw.get("frequency", []),
        monetary=raw.get("monetary", []))


def apply(uow: UnitOfWork, customer: Customer, result: Classification) -> bool:
    """Store a classification; publish ``customer.classified`` when it changed."""
    if all(getattr(customer, f) == getattr(result, f) for f in FIELDS):
        return False
    for name in FIELDS:
        setattr(customer, name, getattr(result, name))
    uow.publish(events.CustomerClassified(
        id=customer.id, tier=result.tier, lifecycle=result.lifecycle, stage=result.stage,
        volume_class=result.volume_class, rfm_recency=result.rfm_recency,
        rfm_frequency=result.rfm_frequency, rfm_monetary=result.rfm_monetary,
        paid_revenue=customer.paid_revenue))
    return True


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
    customer = _customer(uow, data.get("customer_id"))
    if customer is None:
        return
    customer.paid_orders += 1
    at = _when(data, "confirmed_at", "signed_at")
    customer.last_purchase_at = max(filter(None, [customer.last_purchase_at, at]))
    customer.last_activity_at = max(customer.last_activity_at, at)
    reclassify(uow, customer)


def on_payment(uow: UnitOfWork, data: dict[str, Any], sign: int) -> None:
    customer = _customer(uow, data.get("customer_id"))
    if customer is None:
        return
    currency = str(queries.setting(uow.session, SETTINGS, DEFAULTS).get("currency", "CNY"))
    amount = _amount(data, currency)
    if amount is None:
        return
    customer.paid_revenue = max(Decimal("0"), customer.paid_revenue + sign * amount)
    if sign > 0:
        at = _when(data, "received_at")
        customer.last_purchase_at = max(filter(None, [customer.last_purchase_at, at]))
    reclassify(uow, customer)


def run_nightly(uow: UnitOfWork, now: datetime | None = None, force: bool = False) -> int:
    """Recompute cutoffs and every customer's classification. The run is claimed with a
    row lock on its bookkeeping row, so replicas whose timers fire together run it once."""
    now = now or datetime.now(UTC)
    s = uow.session
    run = s.get(Setting, RUN, with_for_update=True)
    if run is None:
        s.add(Setting(name=RUN, value={}, version=1))
        s.flush()
        run = s.get(Setting, RUN, with_for_update=True)
    assert run is not None
    every = float(queries.setting(s, SETTINGS, DEFAULTS).get("run_every_hours", 20))
    last = run.value.get("finished_at")
    if not force and last and now - datetime.fromisoformat(last) < timedelta(hours=every):
        uow.rollback()
        return 0
    customers = list(s.scalars(select(Customer).where(Customer.status == "active")))
    thresholds = _thresholds(uow)
    cutoffs = compute_cutoffs([_facts(c) for c in customers], now, thresholds)
    queries.put_setting(s, CUTOFFS, {
        "tier_a_min": str(cutoffs.tier_a_min) if cutoffs.tier_a_min is not None else None,
        "tier_b_min": str(cutoffs.tier_b_min) if cutoffs.tier_b_min is not None else None,
        "recency_days": list(cutoffs.recency_days), "frequency": list(cutoffs.frequency),
        "monetary": list(cutoffs.monetary), "computed_at": now.isoformat()})
    changed = sum(apply(uow, c, classify(_facts(c), now, thresholds, cutoffs))
                  for c in customers)
    run.value = {"finished_at": now.isoformat(), "customers": len(customers),
                 "changed": changed}
    run.version += 1
    uow.commit()
    return changed


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
