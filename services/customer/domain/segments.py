"""Segment rules (CUS-12): which conditions a saved segment may hold. A segment is a list
of conditions that all must hold; each names a customer field (or a custom attribute as
``attributes.<key>``), an operator and a value."""

from __future__ import annotations

from typing import Any, Literal

from crm_platform.errors import ValidationFailed

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
        if op == "in" and not (isinstance(value, list) and value):
            raise ValidationFailed(f"condition {i + 1}: 'in' needs a non-empty list",
                                   code="invalid_segment")
        if op in ("within_days", "older_than_days") and not (
                isinstance(value, int) and value >= 0):
            raise ValidationFailed(f"condition {i + 1}: {op} needs a number of days",
                                   code="invalid_segment")
        if kind == "number" and op in ("gte", "lte", "eq", "ne"):
            try:
                float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValidationFailed(f"condition {i + 1}: needs a number",
                                       code="invalid_segment") from None
