"""Classification rules without I/O (CUS-11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.customer.domain.classification import (
    Cutoffs,
    Facts,
    Thresholds,
    classify,
    compute_cutoffs,
    quintile_bounds,
    score,
)

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def facts(revenue: str = "0", orders: int = 0, bought_days: int | None = None,
          visited_days: int | None = None, created_days: int = 400) -> Facts:
    return Facts(
        created_at=NOW - timedelta(days=created_days), paid_revenue=Decimal(revenue),
        paid_orders=orders,
        last_purchase_at=NOW - timedelta(days=bought_days) if bought_days is not None else None,
        last_visit_at=NOW - timedelta(days=visited_days) if visited_days is not None else None)


def test_pareto_tiers() -> None:
    population = [facts(str(r), 1, 10) for r in range(1000, 11000, 1000)]  # 10 payers
    cut = compute_cutoffs(population, NOW, Thresholds())
    tiers = [classify(f, NOW, Thresholds(), cut).tier for f in population]
    assert tiers.count("A") == 2 and tiers.count("B") == 3 and tiers.count("C") == 5
    assert classify(facts("10000", 1, 10), NOW, Thresholds(), cut).tier == "A"


def test_rfm_quintiles() -> None:
    bounds = quintile_bounds([float(v) for v in range(1, 101)])
    assert score(100, bounds) == 5 and score(1, bounds) == 1
    assert score(1, bounds, higher_is_better=False) == 5
    assert score(5, []) == 3


def test_lifecycle_and_stage() -> None:
    t, c = Thresholds(), Cutoffs()
    assert classify(facts(created_days=10), NOW, t, c).lifecycle == "new"
    assert classify(facts(created_days=10), NOW, t, c).stage == "prospect"
    assert classify(facts("10", 6, 20), NOW, t, c).lifecycle == "loyal"
    assert classify(facts("10", 2, 200, 190), NOW, t, c).lifecycle == "at_risk"
    assert classify(facts("10", 2, 400), NOW, t, c).lifecycle == "lost"
    assert classify(facts("10", 2, 400), NOW, t, c).stage == "former"
    assert classify(facts("10", 2, 30), NOW, t, c).stage == "active"
    # a recent visit keeps a customer from being at risk
    assert classify(facts("10", 2, 200, 5), NOW, t, c).lifecycle == "general"


def test_volume_class_thresholds_are_settings() -> None:
    t = Thresholds.from_settings({"key_account_revenue": "500", "general_revenue": "50"})
    assert classify(facts("600", 1, 1), NOW, t, Cutoffs()).volume_class == "key_account"
    assert classify(facts("60", 1, 1), NOW, t, Cutoffs()).volume_class == "general"
    assert classify(facts("6", 1, 1), NOW, t, Cutoffs()).volume_class == "occasional"
