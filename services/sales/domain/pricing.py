"""Quote and order lines, amounts and payment terms (SAL-06, SAL-07). Exact decimals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from crm_platform.errors import ValidationFailed
from crm_platform.money import LIMIT, ZERO, rounded, text

HUNDRED = Decimal("100")
PERCENT_QUANTUM = Decimal("0.01")


@dataclass(frozen=True)
class CatalogueItem:
    id: str
    name: str
    unit: str
    tax_rate: Decimal
    currency: str
    is_active: bool


@dataclass(frozen=True)
class LineIn:
    product_id: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal = ZERO
    # the product's list price in the document's currency; None when the list price is
    # in another currency, so the line's discount cannot be measured
    list_price: Decimal | None = None


@dataclass(frozen=True)
class Priced:
    lines: list[dict[str, str | None]]
    amount: Decimal  # what the customer pays: discounts applied, tax included
    tax_amount: Decimal  # the tax contained in ``amount``
    # the largest effective discount among the lines whose discount can be measured
    max_discount_percent: Decimal


def effective_discount(quantity: Decimal, list_price: Decimal | None, net: Decimal
                       ) -> Decimal | None:
    """How far the net line amount is below quantity × list price, in percent, whatever
    fields (a lower unit price, a discount, both) got it there; rounded up to 0.01 so a
    discount just over a threshold is not rounded under it. A price above the list is no
    discount (0); None when there is no list price in the document's currency."""
    if list_price is None:
        return None
    listed = quantity * list_price
    if listed <= 0 or net >= listed:
        return Decimal(0)
    return ((listed - net) * HUNDRED / listed).quantize(PERCENT_QUANTUM, rounding=ROUND_CEILING)


def price_lines(lines: list[LineIn], catalogue: dict[str, CatalogueItem], currency: str
                ) -> Priced:
    """Each line: quantity × unit price less its discount, rounded to the currency. Prices
    include tax (含税价, the Chinese contract convention); each line shows the tax it
    contains at the product's rate. The total is the sum of the rounded lines, so the
    document always adds up to what its lines show."""
    if not lines:
        raise ValidationFailed("at least one line is needed", code="no_lines")
    out: list[dict[str, str | None]] = []
    amount = tax = ZERO
    max_discount = ZERO
    for n, line in enumerate(lines, start=1):
        item = catalogue.get(line.product_id)
        if item is None or not item.is_active:
            raise ValidationFailed(f"line {n}: unknown or retired product",
                                   code="unknown_product",
                                   extra={"line": n, "product_id": line.product_id})
        if line.quantity <= 0:
            raise ValidationFailed(f"line {n}: quantity must be positive",
                                   code="invalid_quantity", extra={"line": n})
        if not ZERO <= line.discount_percent <= HUNDRED:
            raise ValidationFailed(f"line {n}: discount must be between 0 and 100 %",
                                   code="invalid_discount", extra={"line": n})
        gross = line.quantity * line.unit_price
        # each figure fits but their product may not: past 10^16 the document's
        # NUMERIC(18, 2) amount overflows (and rounding 10^26 to cents raises)
        if gross >= LIMIT:
            raise ValidationFailed(f"line {n}: quantity × unit price is too large",
                                   code="invalid_amount", extra={"line": n})
        exact_net = gross * (HUNDRED - line.discount_percent) / HUNDRED
        net = rounded(exact_net, currency)
        line_tax = rounded(net * item.tax_rate / (1 + item.tax_rate), currency)
        amount += net
        tax += line_tax
        # measured before rounding to the currency: rounding is not a discount
        discount = effective_discount(line.quantity, line.list_price, exact_net)
        if discount is not None:
            max_discount = max(max_discount, discount)
        out.append({
            "product_id": item.id, "product_name": item.name, "unit": item.unit,
            "quantity": format(line.quantity.normalize(), "f"),
            "unit_price": text(line.unit_price, currency),
            "discount_percent": format(line.discount_percent.normalize(), "f"),
            "effective_discount_percent": None if discount is None
            else format(discount.normalize(), "f"),
            "tax_rate": format(item.tax_rate.normalize(), "f"),
            "amount": text(net, currency), "tax_amount": text(line_tax, currency),
        })
    if amount >= LIMIT:
        raise ValidationFailed("the lines add up to more than a document can hold",
                               code="invalid_amount")
    return Priced(out, amount, tax, max_discount)


def needs_discount_approval(effective_discounts: Iterable[Decimal | None],
                            threshold_percent: Decimal) -> bool:
    """A document needs its owner's manager when a line's effective discount is above
    the threshold, or cannot be measured (a price in a currency other than the list
    price's). The document's own discount (list total to net total) is a weighted mean
    of its lines' and never exceeds the largest, so the lines decide for it too."""
    return any(d is None or d > threshold_percent for d in effective_discounts)


def line_discounts(lines: Iterable[dict[str, str | None]]) -> list[Decimal | None]:
    """The effective discounts ``price_lines`` recorded on stored lines."""
    return [None if line.get("effective_discount_percent") is None
            else Decimal(str(line["effective_discount_percent"])) for line in lines]


def check_payment_terms(installments: list[tuple[Decimal, int]]) -> None:
    """Installments as (percent, days after confirmation); they must cover exactly 100 %."""
    if not installments:
        return  # one installment of 100 % due on confirmation
    if len(installments) > 36:
        raise ValidationFailed("at most 36 installments", code="invalid_payment_terms")
    for percent, due_days in installments:
        if percent <= 0 or due_days < 0:
            raise ValidationFailed("each installment needs a positive percent and due_days "
                                   "of 0 or more", code="invalid_payment_terms")
    total = sum((p for p, _ in installments), ZERO)
    if total != HUNDRED:
        raise ValidationFailed(f"installments add up to {total} %, not 100 %",
                               code="invalid_payment_terms", extra={"total_percent": str(total)})
