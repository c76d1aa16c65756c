"""Small helpers the billing use cases share: settings, dates, money on the wire."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from crm_platform import money
from crm_platform.errors import ValidationFailed
from sqlalchemy.orm import Session

from services.billing.db import queries

BILLING = "billing"
BILLING_DEFAULTS: dict[str, Any] = {
    "invoice_lead_days": 7,
    "default_invoice_type": "vat_ordinary",
    "default_currency": "CNY",
    "rating": None,
}


def billing_settings(s: Session) -> dict[str, Any]:
    return queries.setting(s, BILLING, BILLING_DEFAULTS)


def today() -> date:
    return datetime.now(UTC).date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_end(day: date) -> datetime:
    """The first instant after ``day`` (exclusive upper bound)."""
    return day_start(day + timedelta(days=1))


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def text(amount: Decimal | None, currency: str) -> str:
    return money.text(amount if amount is not None else money.ZERO, currency)


def positive(value: object, currency: str, field: str = "amount") -> Decimal:
    amount = money.parse(value, currency, field=field)
    if amount <= 0:
        raise ValidationFailed(f"{field} must be more than zero", code="invalid_amount",
                               extra={"field": field})
    return amount


def parse_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return aware(value)
    return aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def parse_date(value: Any) -> date | None:
    if not value:
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
