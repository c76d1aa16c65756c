"""Membership rules (CUS-17), no I/O: tier computation, earning and claw-back, the points
ledger's balance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from crm_platform.errors import StateViolation, ValidationFailed

from services.customer.domain import membership as m

D = Decimal
TIERS = [m.Tier("normal", "普通", 0, D("1")), m.Tier("silver", "银卡", 1000, D("1.2")),
         m.Tier("gold", "金卡", 5000, D("1.5")), m.Tier("diamond", "钻石", 20000, D("2"))]


@pytest.mark.parametrize(("points", "tier"), [
    (0, "normal"), (999, "normal"), (1000, "silver"), (4999, "silver"), (5000, "gold"),
    (19999, "gold"), (20000, "diamond"), (10 ** 9, "diamond")])
def test_the_tier_is_the_highest_threshold_reached(points: int, tier: str) -> None:
    found = m.tier_for(points, reversed(TIERS))  # the order tiers come in does not matter
    assert found is not None and found.code == tier


def test_below_every_tier_there_is_none() -> None:
    assert m.tier_for(99, [m.Tier("silver", "银卡", 100, D("1"))]) is None
    assert m.tier_for(5, []) is None


def test_two_tiers_at_one_threshold_are_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        m.check_tiers([*TIERS, m.Tier("gold2", "金卡二", 5000, D("1"))])
    assert caught.value.code == "duplicate_tier_threshold"
    m.check_tiers(TIERS)


@pytest.mark.parametrize(("amount", "per_unit", "multiplier", "points"), [
    ("1000.00", "1", "1", 1000), ("999.99", "1", "1", 999), ("100.00", "1", "1.5", 150),
    ("33.33", "1", "1.5", 49), ("10.00", "0.1", "1", 1), ("9.99", "0.1", "1", 0),
    ("0", "1", "2", 0), ("-5.00", "1", "1", 0)])
def test_points_earned_round_down(amount: str, per_unit: str, multiplier: str,
                                  points: int) -> None:
    assert m.earned_points(D(amount), D(per_unit), D(multiplier)) == points


def test_a_claw_back_takes_the_refunded_share_and_never_more_than_was_earned() -> None:
    assert m.clawback_points(1500, D("1000.00"), D("1000.00"), 0) == 1500
    assert m.clawback_points(1500, D("1000.00"), D("400.00"), 0) == 600
    assert m.clawback_points(1000, D("999.00"), D("1.00"), 0) == 2  # rounded up
    assert m.clawback_points(1500, D("1000.00"), D("1000.00"), 600) == 900
    assert m.clawback_points(1500, D("1000.00"), D("5000.00"), 0) == 1500
    assert m.clawback_points(0, D("0"), D("10.00"), 0) == 0


def test_the_balance_is_the_ledger_sum_and_redemptions_do_not_lower_the_tier() -> None:
    ledger = [m.Entry(1000, True), m.redemption(300), m.adjustment(50), m.Entry(-200, True)]
    totals = m.totals(ledger)
    assert totals == m.Totals(balance=550, qualifying=850)
    running = m.Totals(0, 0)
    for entry in ledger:
        running = m.post(running, entry)
    assert running == totals


def test_the_balance_never_goes_below_zero() -> None:
    with pytest.raises(ValidationFailed) as caught:
        m.post(m.Totals(100, 100), m.redemption(101))
    assert caught.value.code == "insufficient_points"
    assert caught.value.extra["balance"] == 100
    with pytest.raises(ValidationFailed):
        m.post(m.Totals(100, 100), m.adjustment(-101))
    assert m.post(m.Totals(100, 100), m.redemption(100)) == m.Totals(0, 100)
    # what an event takes cannot be refused: it takes at most the balance
    assert m.bounded_deduction(40, 100) == 40
    assert m.bounded_deduction(400, 100) == 100


def test_redemptions_and_adjustments_need_points() -> None:
    for bad in (lambda: m.redemption(0), lambda: m.redemption(-5), lambda: m.adjustment(0)):
        with pytest.raises(ValidationFailed) as caught:
            bad()
        assert caught.value.code == "invalid_points"


def test_a_reversal_is_the_counter_entry_and_happens_once() -> None:
    assert m.reversal(m.REDEEM, -300, False, already_reversed=False) == m.Entry(300, False)
    assert m.reversal(m.EARN, 1000, True, already_reversed=False) == m.Entry(-1000, True)
    with pytest.raises(ValidationFailed) as caught:
        m.reversal(m.EARN, 1000, True, already_reversed=True)
    assert caught.value.code == "entry_reversed"
    with pytest.raises(ValidationFailed) as caught:
        m.reversal(m.REVERSAL, 300, False, already_reversed=False)
    assert caught.value.code == "entry_not_reversible"


def test_card_lifecycle() -> None:
    assert m.CARD.next("active", "freeze") == "frozen"
    assert m.CARD.next("frozen", "unfreeze") == "active"
    assert m.CARD.next("frozen", "cancel") == "cancelled"
    with pytest.raises(StateViolation):
        m.CARD.next("cancelled", "unfreeze")


# -- expiry ------------------------------------------------------------------------------
def _d(text: str) -> date:
    return date.fromisoformat(text)


def test_points_are_usable_until_the_end_of_the_nth_year_after() -> None:
    assert m.last_usable_day(_d("2024-03-05"), 2) == _d("2026-12-31")
    assert m.last_usable_day(_d("2024-12-31"), 0) == _d("2024-12-31")
    ledger = [m.Dated(100, _d("2024-03-05"))]
    assert m.points_to_expire(ledger, 2, _d("2026-12-31")) == 0
    assert m.points_to_expire(ledger, 2, _d("2027-01-01")) == 100


def test_spending_takes_the_oldest_points_first() -> None:
    ledger = [m.Dated(100, _d("2023-02-01")), m.Dated(-30, _d("2023-06-01")),
              m.Dated(200, _d("2024-02-01")), m.Dated(-100, _d("2024-06-01"))]
    # 2023's 100 are all spent (30 + 70); 2024 has 130 left
    assert m.points_to_expire(ledger, 1, _d("2025-01-01")) == 0
    assert m.points_to_expire(ledger, 1, _d("2026-01-01")) == 170


def test_expiry_runs_once_the_ledger_decides() -> None:
    ledger = [m.Dated(100, _d("2023-02-01")), m.Dated(-40, _d("2023-06-01")),
              m.Dated(50, _d("2025-02-01"))]
    as_of = _d("2025-01-01")
    due = m.points_to_expire(ledger, 1, as_of)
    assert due == 60
    ledger.append(m.Dated(m.expiry(due).points, as_of))
    assert m.points_to_expire(ledger, 1, as_of) == 0
    assert m.points_to_expire(ledger, 1, _d("2025-12-31")) == 0
    # the next year's points expire in their turn, once
    ledger.append(m.Dated(-m.points_to_expire(ledger, 1, _d("2027-01-01")), _d("2027-01-01")))
    assert ledger[-1].points == -50
    assert m.points_to_expire(ledger, 1, _d("2027-01-01")) == 0


def test_an_expiry_does_not_lower_the_tier_and_expires_something() -> None:
    assert m.expiry(5) == m.Entry(-5, qualifying=False)
    with pytest.raises(ValueError):
        m.expiry(0)
