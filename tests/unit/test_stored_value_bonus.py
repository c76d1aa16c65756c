"""Stored value rules of issue #27 (BIL-09), no I/O: the top-up bonus held apart from the
principal, spends taking both in proportion, refunds paying out principal only and
forfeiting the bonus in the same share, refunded payments putting the parts back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from crm_platform.errors import StateViolation, ValidationFailed

from services.billing.domain import stored_value as sv

D = Decimal
CENT = D("0.01")
TIERS = [sv.BonusTier(D("1000"), D("100")), sv.BonusTier(D("500"), D("30")),
         sv.BonusTier(D("2000"), D("300"))]


@pytest.mark.parametrize(("amount", "bonus"), [
    ("499.99", "0"), ("500", "30"), ("999.99", "30"), ("1000", "100"), ("1999", "100"),
    ("2000", "300"), ("5000", "300")])
def test_the_highest_tier_reached_gives_its_bonus_once(amount: str, bonus: str) -> None:
    assert sv.top_up_bonus(D(amount), TIERS) == D(bonus)
    assert sv.top_up_bonus(D(amount), []) == 0


def test_bonus_tiers_are_positive_and_distinct() -> None:
    sv.check_bonus_tiers(TIERS)
    for tiers in ([sv.BonusTier(D("0"), D("1"))], [sv.BonusTier(D("10"), D("0"))],
                  [sv.BonusTier(D("10"), D("1")), sv.BonusTier(D("10"), D("2"))]):
        with pytest.raises(ValidationFailed) as caught:
            sv.check_bonus_tiers(tiers)
        assert caught.value.code == "invalid_bonus_tier"


HELD = sv.Parts(D("1000.00"), D("100.00"))


def test_a_spend_takes_principal_and_bonus_in_proportion() -> None:
    assert sv.spend_parts(D("550.00"), HELD, CENT) == sv.Parts(D("500.00"), D("50.00"))
    assert sv.spend_parts(D("0.01"), HELD, CENT) == sv.Parts(D("0.01"), D("0.00"))
    assert sv.spend_parts(D("1100.00"), HELD, CENT) == HELD
    # no bonus held: all principal
    assert sv.spend_parts(D("10"), sv.Parts(D("20"), D("0")), CENT) == \
        sv.Parts(D("10"), D("0"))


def test_spending_it_all_in_odd_pieces_never_takes_a_part_below_zero() -> None:
    held = sv.Parts(D("1000.00"), D("100.00"))
    for _ in range(33):
        taken = sv.spend_parts(D("33.33"), held, CENT)
        assert taken.total == D("33.33")
        held = sv.apply(held, sv.Parts(-taken.principal, -taken.bonus))
        assert held.principal >= 0 and held.bonus >= 0
    assert held.total == D("1100.00") - 33 * D("33.33")
    last = sv.spend_parts(held.total, held, CENT)
    assert sv.apply(held, sv.Parts(-last.principal, -last.bonus)) == sv.Parts(D("0"), D("0"))


def test_a_spend_over_the_balance_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        sv.spend_parts(D("1100.01"), HELD, CENT)
    assert caught.value.code == "insufficient_balance"


def test_a_refund_pays_out_principal_and_forfeits_the_bonus_in_the_same_share() -> None:
    assert sv.refund_parts(D("500.00"), HELD, CENT) == sv.Parts(D("500.00"), D("50.00"))
    assert sv.refund_parts(D("1000.00"), HELD, CENT) == HELD  # all principal: all bonus
    assert sv.refund_parts(D("1.00"), sv.Parts(D("3.00"), D("0.01")), CENT) == \
        sv.Parts(D("1.00"), D("0.00"))


def test_the_bonus_is_not_refundable() -> None:
    with pytest.raises(ValidationFailed) as caught:
        sv.refund_parts(D("1000.01"), HELD, CENT)
    assert caught.value.code == "insufficient_balance"
    assert caught.value.extra["refundable"] == "1000.00"


def test_a_refunded_payment_puts_back_the_spends_parts_on_the_running_total() -> None:
    spent = sv.Parts(D("66.67"), D("6.66"))  # 73.33
    parts = [sv.returned_parts(D("10.00"), D(str(10 * i)), spent, CENT) for i in range(7)]
    last = sv.returned_parts(D("3.33"), D("70.00"), spent, CENT)
    assert sum(p.principal for p in [*parts, last]) == spent.principal
    assert sum(p.bonus for p in [*parts, last]) == spent.bonus
    assert all(p.total == D("10.00") for p in parts)
    # a spend made before bonuses existed puts back principal
    assert sv.returned_parts(D("5"), D("0"), sv.Parts(D("20"), D("0")), CENT) == \
        sv.Parts(D("5"), D("0"))


def test_neither_part_goes_below_zero() -> None:
    with pytest.raises(ValidationFailed) as caught:
        sv.apply(HELD, sv.Parts(D("0"), D("-100.01")))
    assert caught.value.code == "insufficient_balance"


@pytest.mark.parametrize(("card_status", "kind", "allowed"), [
    (None, sv.TOP_UP, True), (None, sv.SPEND, True),
    ("active", sv.TOP_UP, True), ("active", sv.SPEND, True),
    ("frozen", sv.TOP_UP, False), ("frozen", sv.SPEND, False),
    ("frozen", sv.REFUND, False), ("frozen", sv.PAYMENT_REFUND, True),
    ("cancelled", sv.TOP_UP, False), ("cancelled", sv.SPEND, False),
    ("cancelled", sv.REFUND, True), ("cancelled", sv.PAYMENT_REFUND, True),
])
def test_a_card_accounts_movements_follow_the_cards_status(
        card_status: str | None, kind: str, allowed: bool) -> None:
    if allowed:
        sv.check_card(card_status, kind)
        return
    with pytest.raises(StateViolation) as refused:
        sv.check_card(card_status, kind)
    assert refused.value.code == "invalid_transition"
    assert refused.value.extra["current_state"] == card_status
