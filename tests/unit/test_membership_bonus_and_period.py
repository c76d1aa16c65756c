"""Membership rules of issue #27 (CUS-17), no I/O: campaign bonus rules on a payment's
points, and the tier over a rolling period."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from crm_platform.errors import ValidationFailed

from services.customer.domain import membership as m

D = Decimal
NOV = (date(2026, 11, 1), date(2026, 11, 11))


def _rule(rule_id: str = "r1", **fields: object) -> m.BonusRule:
    values: dict[str, object] = {"name": rule_id, "starts_on": NOV[0], "ends_on": NOV[1],
                                 **fields}
    return m.BonusRule(rule_id, **values)  # type: ignore[arg-type]


def _bonus(rules: list[m.BonusRule], amount: str = "1000", paid_on: date = date(2026, 11, 5),
           tier: str | None = "silver", tier_multiplier: str = "1.5",
           segments: frozenset[str] = frozenset(),
           awarded: frozenset[str] = frozenset()) -> list[m.Bonus]:
    return m.campaign_bonuses(rules, amount=D(amount), paid_on=paid_on,
                              points_per_unit=D("1"), tier_multiplier=D(tier_multiplier),
                              tier_code=tier, segments=segments, awarded=awarded)


def test_double_points_add_the_payments_own_points_at_the_tiers_rate() -> None:
    # 1000 paid by a silver card (1.5x) earns 1500; double points add 1500 more
    assert _bonus([_rule(multiplier=D("2"))]) == [m.Bonus("r1", 1500)]


def test_rules_add_up_each_on_the_payments_own_points_never_compounding() -> None:
    found = _bonus([_rule("a", multiplier=D("2")), _rule("b", multiplier=D("1.5")),
                    _rule("c", fixed_points=50)], tier_multiplier="1")
    assert found == [m.Bonus("a", 1000), m.Bonus("b", 500), m.Bonus("c", 50, 50)]


def test_a_bonus_is_rounded_down_like_the_points() -> None:
    # 33.33 at 1x earns 33; at 1.5x, 49.995 → 49: the bonus is 16
    assert _bonus([_rule(multiplier=D("1.5"))], amount="33.33", tier_multiplier="1") == \
        [m.Bonus("r1", 16)]


@pytest.mark.parametrize("paid_on", [date(2026, 11, 1), date(2026, 11, 11)])
def test_the_rules_dates_include_both_ends(paid_on: date) -> None:
    assert _bonus([_rule(fixed_points=10)], paid_on=paid_on) == [m.Bonus("r1", 10, 10)]


@pytest.mark.parametrize("paid_on", [date(2026, 10, 31), date(2026, 11, 12)])
def test_a_payment_outside_the_dates_gets_nothing(paid_on: date) -> None:
    assert _bonus([_rule(multiplier=D("2"), fixed_points=10)], paid_on=paid_on) == []


def test_conditions_tier_segment_minimum_and_active() -> None:
    assert _bonus([_rule(fixed_points=10, tiers=frozenset({"gold"}))]) == []
    assert _bonus([_rule(fixed_points=10, tiers=frozenset({"gold", "silver"}))]) == \
        [m.Bonus("r1", 10, 10)]
    assert _bonus([_rule(fixed_points=10, segment_id="vip")]) == []
    assert _bonus([_rule(fixed_points=10, segment_id="vip")],
                  segments=frozenset({"vip"})) == [m.Bonus("r1", 10, 10)]
    assert _bonus([_rule(fixed_points=10, min_amount=D("1000.01"))]) == []
    assert _bonus([_rule(fixed_points=10, min_amount=D("1000"))]) == [m.Bonus("r1", 10, 10)]
    assert _bonus([_rule(fixed_points=10, active=False)]) == []
    assert _bonus([_rule(fixed_points=10)], tier=None) == [m.Bonus("r1", 10, 10)]


def test_fixed_points_come_once_per_payment_a_multiplier_on_each_part() -> None:
    rule = _rule(multiplier=D("2"), fixed_points=100)
    assert _bonus([rule], tier_multiplier="1") == [m.Bonus("r1", 1100, 100)]
    # a later part of the same payment (credit allocated): the multiplier again, not
    # the fixed points
    assert _bonus([rule], tier_multiplier="1", awarded=frozenset({"r1"})) == \
        [m.Bonus("r1", 1000)]


def test_nothing_paid_earns_no_bonus() -> None:
    assert _bonus([_rule(fixed_points=10)], amount="0") == []


def test_a_rule_runs_a_day_at_least_and_gives_something() -> None:
    m.check_bonus_rule(NOV[0], NOV[0], D("2"), 0)
    m.check_bonus_rule(NOV[0], NOV[1], None, 5)
    for starts, ends, multiplier, fixed, code in [
            (NOV[1], NOV[0], D("2"), 0, "invalid_period"),
            (NOV[0], NOV[1], None, 0, "invalid_bonus_rule"),
            (NOV[0], NOV[1], D("1"), 0, "invalid_bonus_rule"),
            (NOV[0], NOV[1], D("10.01"), 0, "invalid_bonus_rule")]:
        with pytest.raises(ValidationFailed) as caught:
            m.check_bonus_rule(starts, ends, multiplier, fixed)
        assert caught.value.code == code


# -- the tier over a rolling period ------------------------------------------------------
@pytest.mark.parametrize(("day", "months", "before"), [
    (date(2026, 12, 6), 12, date(2025, 12, 6)), (date(2026, 5, 31), 3, date(2026, 2, 28)),
    (date(2028, 5, 31), 3, date(2028, 2, 29)), (date(2026, 1, 15), 1, date(2025, 12, 15)),
    (date(2026, 3, 31), 13, date(2025, 2, 28))])
def test_months_before_keeps_the_day_or_takes_the_months_last(
        day: date, months: int, before: date) -> None:
    assert m.months_before(day, months) == before


def test_the_window_is_the_last_n_months_up_to_the_day() -> None:
    assert m.window_start(date(2026, 12, 6), 12) == date(2025, 12, 7)
    with pytest.raises(ValueError):
        m.window_start(date(2026, 12, 6), 0)


LEDGER = [m.Counted(1000, True, D("1000.00"), date(2025, 12, 6)),   # earn, a year ago
          m.Counted(500, True, D("500.50"), date(2026, 6, 1)),      # earn
          m.Counted(-200, True, D("-200.00"), date(2026, 7, 1)),    # claw-back
          m.Counted(-300, False, None, date(2026, 8, 1)),           # redemption
          m.Counted(50, True, None, date(2026, 9, 1))]              # adjustment


def test_points_in_the_window_count_redemptions_do_not() -> None:
    assert m.tier_measure(LEDGER, m.POINTS, 12, date(2026, 12, 5)) == 1350
    # a day later the year-old earning has left the window
    assert m.tier_measure(LEDGER, m.POINTS, 12, date(2026, 12, 6)) == 350
    assert m.tier_measure(LEDGER, m.POINTS, None, date(2026, 12, 6)) == 1350


def test_spend_is_money_paid_less_refunds_in_whole_units() -> None:
    assert m.tier_measure(LEDGER, m.SPEND, 12, date(2026, 12, 5)) == 1300
    assert m.tier_measure(LEDGER, m.SPEND, 12, date(2026, 12, 6)) == 300


def test_entries_after_the_day_and_negative_totals_count_nothing() -> None:
    assert m.tier_measure(LEDGER, m.POINTS, 12, date(2026, 6, 30)) == 1500
    only_clawback = [m.Counted(-200, True, D("-200"), date(2026, 7, 1))]
    assert m.tier_measure(only_clawback, m.POINTS, 12, date(2026, 7, 2)) == 0
    assert m.tier_measure(only_clawback, m.SPEND, 12, date(2026, 7, 2)) == 0
