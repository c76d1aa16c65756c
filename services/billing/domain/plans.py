"""Payment plans (BIL-01): an order's payment terms become installments whose amounts sum
exactly to the order amount; invoice lines are the order lines pro-rated to an
installment, again summing exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from crm_platform.errors import ValidationFailed
from crm_platform.money import LIMIT, ZERO, quantum, rounded
from crm_platform.states import StateMachine

HUNDRED = Decimal("100")

INSTALLMENT = StateMachine("installment", {
    "invoice": ("pending", "invoiced"),
    "cancel": ("pending", "cancelled"),
    "void_invoice": ("invoiced", "pending"),  # its invoice voided: it may be invoiced again
})
PAYMENT_PLAN = StateMachine("payment plan", {
    "invoice_installment": ("active", None),
    "cancel": ("active", "cancelled"),
})


@dataclass(frozen=True)
class Term:
    percent: Decimal
    due_days: int


@dataclass(frozen=True)
class InstallmentDraft:
    number: int
    percent: Decimal
    due_days: int
    amount: Decimal
    due_date: date


def parse_terms(raw: Mapping[str, Any] | None) -> list[Term]:
    """``{"installments": [{"percent": "30", "due_days": 0}, ...]}``; nothing given means
    one installment of 100% due at confirmation."""
    items = (raw or {}).get("installments") or []
    terms: list[Term] = []
    for index, item in enumerate(items):
        try:
            percent = Decimal(str(item.get("percent")))
            due_days = int(item.get("due_days") or 0)
        except (InvalidOperation, TypeError, ValueError, AttributeError):
            raise ValidationFailed(f"installment {index + 1} is malformed",
                                   code="invalid_payment_terms") from None
        if not percent.is_finite() or percent < 0 or due_days < 0:
            raise ValidationFailed(f"installment {index + 1} needs a percent >= 0 and "
                                   "due_days >= 0", code="invalid_payment_terms")
        if percent > 0:  # a 0% line carries no money
            terms.append(Term(percent, due_days))
    return terms or [Term(HUNDRED, 0)]


def split_amounts(amount: Decimal, currency: str, weights: Sequence[Decimal]) -> list[Decimal]:
    """``amount`` shared in proportion to ``weights``, each rounded to the currency's minor
    unit, the rounding remainder on the last share, so the shares sum exactly."""
    total = sum(weights, ZERO)
    if not weights:
        return []
    if total <= 0:
        return [ZERO] * (len(weights) - 1) + [amount]
    head = _shares(amount, currency, weights, total, ROUND_HALF_UP)
    last = amount - sum(head, ZERO)
    if (last >= 0) != (amount >= 0):
        # half-up overshoots when the last weight is tiny; rounding down never does
        head = _shares(amount, currency, weights, total, ROUND_DOWN)
        last = amount - sum(head, ZERO)
    return [*head, last]


def _shares(amount: Decimal, currency: str, weights: Sequence[Decimal], total: Decimal,
            mode: str) -> list[Decimal]:
    return [(amount * w / total).quantize(quantum(currency), rounding=mode)
            for w in weights[:-1]]


def split_installments(amount: Decimal, currency: str, terms: Sequence[Term],
                       confirmed_on: date) -> list[InstallmentDraft]:
    """Installments in due order; percents are weights (normally summing to 100)."""
    ordered = sorted(terms, key=lambda t: t.due_days)
    shares = split_amounts(rounded(amount, currency), currency, [t.percent for t in ordered])
    return [InstallmentDraft(number=i + 1, percent=t.percent, due_days=t.due_days,
                             amount=share, due_date=confirmed_on + timedelta(days=t.due_days))
            for i, (t, share) in enumerate(zip(ordered, shares, strict=True))]


def invoicing_due(due_date: date, today: date, lead_days: int) -> bool:
    """An installment is invoiced ``lead_days`` before it is due (at once if already)."""
    return due_date - timedelta(days=lead_days) <= today


def issue_date_for(due_date: date, confirmed_on: date, today: date, lead_days: int) -> date:
    """The date an installment's invoice bears: when its invoicing window opened, never
    before the order was confirmed and never in the future."""
    opened = max(confirmed_on, due_date - timedelta(days=lead_days))
    return min(today, opened)


# -- invoice lines -----------------------------------------------------------------------
@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    amount: Decimal  # tax included
    tax_amount: Decimal
    product_id: str | None = None

    def to_json(self, currency: str) -> dict[str, Any]:
        return {"description": self.description, "product_id": self.product_id,
                "quantity": str(self.quantity), "unit_price": str(self.unit_price),
                "tax_rate": str(self.tax_rate),
                "amount": format(rounded(self.amount, currency), "f"),
                "tax_amount": format(rounded(self.tax_amount, currency), "f")}


def tax_included(amount: Decimal, rate: Decimal, currency: str) -> Decimal:
    """The tax inside a tax-inclusive amount (Chinese prices are quoted with VAT)."""
    if rate <= 0:
        return ZERO
    return rounded(amount * rate / (1 + rate), currency)


def _decimal(value: Any, default: str = "0") -> Decimal:
    try:
        result = Decimal(str(value if value is not None else default))
    except InvalidOperation:
        return Decimal(default)
    return result if result.is_finite() else Decimal(default)


def prorate_lines(order_lines: Sequence[Mapping[str, Any]], invoice_amount: Decimal,
                  currency: str, label: str) -> list[InvoiceLine]:
    """The order's lines (tax-inclusive amounts) scaled to ``invoice_amount``; each line's
    tax from its own rate. Without lines: one line for the whole amount."""
    if not order_lines:
        return [InvoiceLine(label, Decimal(1), invoice_amount, ZERO, invoice_amount, ZERO)]
    weights = [_decimal(line.get("amount")) for line in order_lines]
    shares = split_amounts(invoice_amount, currency, weights)
    out = []
    for line, share in zip(order_lines, shares, strict=True):
        rate = _decimal(line.get("tax_rate"))
        name = str(line.get("product_name") or line.get("description") or "item")
        out.append(InvoiceLine(f"{name} ({label})", _decimal(line.get("quantity"), "1"),
                               _decimal(line.get("unit_price")), rate, share,
                               tax_included(share, rate, currency),
                               str(line["product_id"]) if line.get("product_id") else None))
    return out


def priced_line(description: str, quantity: Decimal, unit_price: Decimal, tax_rate: Decimal,
                currency: str, product_id: str | None = None) -> InvoiceLine:
    """A hand-written invoice line: quantity x unit price (tax included)."""
    if quantity <= 0 or unit_price < 0 or tax_rate < 0 or tax_rate >= 1:
        raise ValidationFailed("a line needs quantity > 0, unit_price >= 0 and "
                               "0 <= tax_rate < 1", code="invalid_invoice_line")
    # each figure fits but their product may not (the invoice's amount column overflowed,
    # and rounding 10^27 to cents raises)
    if quantity * unit_price >= LIMIT:
        raise ValidationFailed("quantity x unit price is too large", code="invalid_amount")
    amount = rounded(quantity * unit_price, currency)
    return InvoiceLine(description, quantity, unit_price, tax_rate, amount,
                       tax_included(amount, tax_rate, currency), product_id)
