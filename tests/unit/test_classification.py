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
    cutoffs_from_ranked,
    quintile_bounds,
    quintile_ranks,
    score,
    tier_ranks,
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
    cut = compute_cutoffs(population, Thresholds())
    tiers = [classify(f, NOW, Thresholds(), cut).tier for f in population]
    assert tiers.count("A") == 2 and tiers.count("B") == 3 and tiers.count("C") == 5
    assert classify(facts("10000", 1, 10), NOW, Thresholds(), cut).tier == "A"


def test_rfm_quintiles() -> None:
    bounds = quintile_bounds([float(v) for v in range(1, 101)])
    assert score(100, bounds) == 5 and score(1, bounds) == 1
    # nobody had bought when the bounds were computed: a buyer ranks first, as it does in
    # a population of its own
    assert score(5, []) == 5 == score(5, quintile_bounds([5.0]))


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


def test_cutoffs_are_the_values_at_ranks_the_database_can_pick() -> None:
    # the nightly run asks the database only for the values at these positions
    assert tier_ranks(10, Thresholds()) == [1, 4]  # A: top 2, B: the next 3
    assert tier_ranks(10, Thresholds(b_share=0)) == [1, 1]
    assert tier_ranks(0, Thresholds()) == []
    assert quintile_ranks(10) == [2, 4, 6, 8] and quintile_ranks(1) == [0, 0, 0, 0]
    assert quintile_ranks(0) == []
    population = [facts(str(r), r % 4, r % 9) for r in range(0, 400, 13)]
    buyers = [f for f in population if f.last_purchase_at is not None]
    payers = sorted((f.paid_revenue for f in population if f.paid_revenue > 0), reverse=True)
    at = quintile_ranks(len(buyers))
    latest = sorted((f.last_purchase_at for f in buyers if f.last_purchase_at), reverse=True)
    ranked = cutoffs_from_ranked(
        [payers[i] for i in tier_ranks(len(payers), Thresholds())], [latest[i] for i in at],
        [sorted(f.paid_orders for f in buyers)[i] for i in at],
        [sorted(f.paid_revenue for f in buyers)[i] for i in at])
    assert ranked == compute_cutoffs(population, Thresholds())
    # recency: the boundaries are purchase dates, oldest first
    assert list(ranked.recency) == sorted(ranked.recency)


def test_the_same_facts_get_the_same_classes_whenever_they_are_classified() -> None:
    """Cutoffs computed one day, a customer classified on an event days later, and a
    recompute on that later day over the same facts agree (issue #28, defect 8)."""
    population = [facts(str(100 * i), 1 + i % 3, bought_days=3 * i, created_days=500)
                  for i in range(1, 21)]
    t = Thresholds()
    earlier = compute_cutoffs(population, t)
    for later in (NOW + timedelta(days=2), NOW + timedelta(days=9, hours=5)):
        recomputed = compute_cutoffs(population, t)
        assert recomputed == earlier
        for f in population:
            on_event = classify(f, later, t, earlier)
            assert on_event == classify(f, later, t, recomputed)
            assert on_event.rfm_recency == classify(f, NOW, t, earlier).rfm_recency


def test_an_unpaid_order_is_no_purchase() -> None:
    unpaid = classify(facts("0", 0, None, created_days=200), NOW, Thresholds(), Cutoffs())
    assert (unpaid.tier, unpaid.stage, unpaid.rfm_recency) == (None, "prospect", None)
