"""Customer classification (CUS-11): ABC tier, RFM scores, lifecycle, transaction stage
and volume class. Thresholds come from settings, never from constants here.

The facts count only what is paid: revenue is money received, an order counts once money
reached it, a purchase is dated by its payment. Classifying the same facts with the same
cutoffs gives the same classes whenever it runs: recency is ranked by the date of the
last purchase, not by days counted from the moment the cutoffs were computed."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class Thresholds:
    a_share: float = 0.2            # top share of paying customers by revenue → tier A
    b_share: float = 0.3            # the next share → tier B; the rest → C
    new_days: int = 90              # created within this many days and no purchase → new
    loyal_orders: int = 5           # this many paid orders or more → loyal
    at_risk_days: int = 180         # no visit or purchase for this long → at risk
    lost_days: int = 365            # … and for this long → lost
    active_days: int = 365          # a purchase within this long → active stage
    key_account_revenue: Decimal = Decimal("1000000")
    general_revenue: Decimal = Decimal("100000")

    @classmethod
    def from_settings(cls, raw: Mapping[str, object]) -> Thresholds:
        base = cls()
        values = {}
        for name in cls.__dataclass_fields__:
            if name in raw:
                current = getattr(base, name)
                values[name] = type(current)(str(raw[name])) if isinstance(
                    current, Decimal) else type(current)(raw[name])
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Cutoffs:
    """Population-wide boundaries computed by the nightly run and reused when one
    customer is reclassified on an event."""

    tier_a_min: Decimal | None = None
    tier_b_min: Decimal | None = None
    # the buyers' last purchases at the 4 quintile boundaries, oldest first
    recency: Sequence[datetime] = field(default_factory=list)
    frequency: Sequence[float] = field(default_factory=list)
    monetary: Sequence[float] = field(default_factory=list)


@dataclass(frozen=True)
class Facts:
    created_at: datetime
    paid_revenue: Decimal
    paid_orders: int
    last_purchase_at: datetime | None
    last_visit_at: datetime | None


@dataclass(frozen=True)
class Classification:
    tier: str | None
    rfm_recency: int | None
    rfm_frequency: int | None
    rfm_monetary: int | None
    lifecycle: str
    stage: str
    volume_class: str


def quintile_ranks(n: int) -> list[int]:
    """0-based positions, in ascending order of a measure, of the 20/40/60/80th percentile
    values among ``n`` values (empty for an empty population)."""
    return [min(n - 1, int(n * q / 5)) for q in range(1, 5)] if n else []


def quintile_bounds(values: Sequence[float]) -> list[float]:
    """The 20/40/60/80th percentile values (empty for an empty population)."""
    ordered = sorted(values)
    return [ordered[i] for i in quintile_ranks(len(ordered))]


def tier_ranks(payers: int, t: Thresholds) -> list[int]:
    """0-based positions, highest paid revenue first, of the A and B cutoffs among
    ``payers`` paying customers (empty when nobody pays)."""
    if not payers:
        return []
    a_count = max(1, round(payers * t.a_share))
    b_count = max(0, round(payers * t.b_share))
    a = a_count - 1
    return [a, min(payers - 1, a_count + b_count - 1) if b_count else a]


def score(value: float, bounds: Sequence[float]) -> int:
    """1–5 by quintile, 5 = highest (for recency: the latest purchase); a value equal to
    a boundary ranks above it. With no boundaries (nobody had bought when they were
    computed) a buyer ranks first, as it would in a population of its own."""
    if not bounds:
        return 5
    return bisect_right(list(bounds), value) + 1


def cutoffs_from_ranked(tier_revenue: Sequence[Decimal], latest_purchases: Sequence[datetime],
                        orders: Sequence[int], revenue: Sequence[Decimal]) -> Cutoffs:
    """Cutoffs from the population's values at :func:`tier_ranks` (payers' revenue, highest
    first) and :func:`quintile_ranks` (buyers' last purchase latest first; their paid
    orders and revenue ascending). The nightly run gets these few values from the
    database instead of holding the population in memory."""
    return Cutoffs(
        tier_a_min=tier_revenue[0] if tier_revenue else None,
        tier_b_min=tier_revenue[1] if tier_revenue else None,
        recency=list(reversed(latest_purchases)),
        frequency=[float(n) for n in orders],
        monetary=[float(r) for r in revenue],
    )


def compute_cutoffs(population: Sequence[Facts], t: Thresholds) -> Cutoffs:
    """The same cutoffs from a population in memory."""
    payers = sorted((f.paid_revenue for f in population if f.paid_revenue > 0), reverse=True)
    latest = sorted((f.last_purchase_at for f in population if f.last_purchase_at is not None),
                    reverse=True)
    buyers = [f for f in population if f.last_purchase_at is not None]
    orders = sorted(f.paid_orders for f in buyers)
    revenue = sorted(f.paid_revenue for f in buyers)
    at = quintile_ranks(len(buyers))
    return cutoffs_from_ranked([payers[i] for i in tier_ranks(len(payers), t)],
                               [latest[i] for i in at], [orders[i] for i in at],
                               [revenue[i] for i in at])


def classify(f: Facts, now: datetime, t: Thresholds, c: Cutoffs) -> Classification:
    tier = None
    if f.paid_revenue > 0 and c.tier_a_min is not None:
        if f.paid_revenue >= c.tier_a_min:
            tier = "A"
        elif c.tier_b_min is not None and f.paid_revenue >= c.tier_b_min:
            tier = "B"
        else:
            tier = "C"
    elif f.paid_revenue <= 0:
        tier = "C" if f.paid_orders else None
    rfm: tuple[int | None, int | None, int | None] = (None, None, None)
    if f.last_purchase_at is not None:
        rfm = (score(f.last_purchase_at.timestamp(), [at.timestamp() for at in c.recency]),
               score(float(f.paid_orders), c.frequency),
               score(float(f.paid_revenue), c.monetary))
    touches = [d for d in (f.last_purchase_at, f.last_visit_at) if d is not None]
    last_touch = max(touches) if touches else f.created_at
    idle = now - last_touch
    if f.paid_orders == 0 and now - f.created_at < timedelta(days=t.new_days):
        lifecycle = "new"
    elif idle >= timedelta(days=t.lost_days):
        lifecycle = "lost"
    elif idle >= timedelta(days=t.at_risk_days):
        lifecycle = "at_risk"
    elif f.paid_orders >= t.loyal_orders:
        lifecycle = "loyal"
    else:
        lifecycle = "general"
    if f.paid_orders == 0 or f.last_purchase_at is None:
        stage = "prospect"
    elif now - f.last_purchase_at <= timedelta(days=t.active_days):
        stage = "active"
    else:
        stage = "former"
    if f.paid_revenue >= t.key_account_revenue:
        volume = "key_account"
    elif f.paid_revenue >= t.general_revenue:
        volume = "general"
    else:
        volume = "occasional"
    return Classification(tier, rfm[0], rfm[1], rfm[2], lifecycle, stage, volume)
