"""Segment rules (CUS-12): which conditions a saved segment may hold. A segment is a list
of conditions that all must hold; each names a customer field (or a custom attribute as
``attributes.<key>``), an operator and a value."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from crm_platform.errors import ValidationFailed
from crm_platform.money import LIMIT  # the money columns' bound serves the numbers too

Op = Literal["eq", "ne", "in", "gte", "lte", "contains", "within_days", "older_than_days",
             "is_empty", "not_empty"]

# field -> (kind, operators it accepts)
TEXT_OPS = frozenset({"eq", "ne", "in", "is_empty", "not_empty"})
NUMBER_OPS = frozenset({"eq", "ne", "gte", "lte", "is_empty", "not_empty"})
DATE_OPS = frozenset({"within_days", "older_than_days", "is_empty", "not_empty"})
LIST_OPS = frozenset({"contains", "is_empty", "not_empty"})
FIELDS: dict[str, tuple[str, frozenset[str]]] = {
    "kind": ("text", TEXT_OPS), "industry": ("text", TEXT_OPS),
    "province": ("text", TEXT_OPS), "city": ("text", TEXT_OPS),
    "district": ("text", TEXT_OPS), "region_band": ("text", TEXT_OPS),
    "source": ("text", TEXT_OPS), "size": ("text", TEXT_OPS),
    "owner_id": ("text", TEXT_OPS), "owner_team_id": ("text", TEXT_OPS),
    "tier": ("text", TEXT_OPS), "lifecycle": ("text", TEXT_OPS),
    "stage": ("text", TEXT_OPS), "volume_class": ("text", TEXT_OPS),
    "paid_revenue": ("number", NUMBER_OPS), "paid_orders": ("number", NUMBER_OPS),
    "rfm_recency": ("number", NUMBER_OPS), "rfm_frequency": ("number", NUMBER_OPS),
    "rfm_monetary": ("number", NUMBER_OPS), "registered_capital": ("number", NUMBER_OPS),
    "last_visit_at": ("date", DATE_OPS), "last_followup_at": ("date", DATE_OPS),
    "last_purchase_at": ("date", DATE_OPS), "created_at": ("date", DATE_OPS),
    "tags": ("list", LIST_OPS), "category_ids": ("list", LIST_OPS),
}
ATTRIBUTE_OPS = TEXT_OPS | NUMBER_OPS


def field_kind(name: str) -> tuple[str, frozenset[str]]:
    if name.startswith("attributes.") and len(name) > len("attributes."):
        return "attribute", ATTRIBUTE_OPS
    if name not in FIELDS:
        raise ValidationFailed(f"segments cannot filter on {name!r}", code="invalid_segment",
                               extra={"fields": sorted(FIELDS) + ["attributes.<key>"]})
    return FIELDS[name]


def check_conditions(conditions: list[dict[str, Any]]) -> None:
    if not conditions:
        raise ValidationFailed("a segment needs at least one condition", code="invalid_segment")
    for i, cond in enumerate(conditions):
        kind, ops = field_kind(str(cond.get("field", "")))
        op = cond.get("op")
        if op not in ops:
            raise ValidationFailed(f"condition {i + 1}: {cond.get('field')} does not take "
                                   f"{op!r}", code="invalid_segment",
                                   extra={"allowed": sorted(ops)})
        value = cond.get("value")
        if op in ("is_empty", "not_empty"):
            continue
        problem = _value_problem(kind, op, value)
        if problem:
            raise ValidationFailed(f"condition {i + 1}: {cond.get('field')} {op} {problem}",
                                   code="invalid_segment")


# the values a condition compares with must be ones the database can compare its column
# with: a text column with text, a number with a finite number, a date with whole days
MAX_DAYS = 36500
MAX_IN_VALUES = 100


def number(value: Any) -> Decimal | None:
    """``value`` as a finite number in range (JSON number or decimal string), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() and abs(parsed) < LIMIT else None


def _value_problem(kind: str, op: str, value: Any) -> str | None:
    if op in ("within_days", "older_than_days"):
        ok = (isinstance(value, int) and not isinstance(value, bool)
              and 0 <= value <= MAX_DAYS)
        return None if ok else f"needs a number of days from 0 to {MAX_DAYS}"
    if op == "in":
        if not (isinstance(value, list) and 0 < len(value) <= MAX_IN_VALUES):
            return f"needs a list of 1 to {MAX_IN_VALUES} values"
        if not all(isinstance(v, str) for v in value):
            return "needs a list of texts"
        return None
    if op == "contains":
        return None if isinstance(value, str) else "needs a text"
    if kind == "number" or (kind == "attribute" and op in ("gte", "lte")):
        return None if number(value) is not None else "needs a finite number"
    if kind == "attribute":  # eq / ne: a text, or a number compared as a number
        ok = isinstance(value, str) or number(value) is not None
        return None if ok else "needs a text or a finite number"
    return None if isinstance(value, str) else "needs a text"
