"""Segment rules (CUS-12): which conditions a saved segment may hold. A segment is a list
of conditions that all must hold; each names a customer field by its path in the
customer's JSON — as ``?fields=`` names it: ``industry``, ``region.province``,
``classification.tier``, ``attributes.<key>`` for a custom attribute — an operator and a
value."""

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
_KINDS = {"text": TEXT_OPS, "number": NUMBER_OPS, "date": DATE_OPS, "list": LIST_OPS}
# path in the customer's JSON -> (the customer column it reads, kind)
_PATHS: dict[str, tuple[str, str]] = {
    "kind": ("kind", "text"), "industry": ("industry", "text"),
    "region.province": ("province", "text"), "region.city": ("city", "text"),
    "region.district": ("district", "text"), "region.band": ("region_band", "text"),
    "source": ("source", "text"), "size": ("size", "text"),
    "owner_id": ("owner_id", "text"), "owner_team_id": ("owner_team_id", "text"),
    "registered_capital": ("registered_capital", "number"),
    "created_at": ("created_at", "date"),
    "tags": ("tags", "list"), "category_ids": ("category_ids", "list"),
    **{f"classification.{name}": (name, kind) for name, kind in (
        ("tier", "text"), ("lifecycle", "text"), ("stage", "text"),
        ("volume_class", "text"), ("paid_revenue", "number"), ("paid_orders", "number"),
        ("rfm_recency", "number"), ("rfm_frequency", "number"), ("rfm_monetary", "number"),
        ("last_visit_at", "date"), ("last_followup_at", "date"),
        ("last_purchase_at", "date"))},
}
FIELDS: dict[str, tuple[str, frozenset[str]]] = {
    path: (kind, _KINDS[kind]) for path, (_, kind) in _PATHS.items()}
# The names conditions had before they followed the customer's JSON: still read (a saved
# segment, an old client) and shown under the path.
OLD_NAMES: dict[str, str] = {
    **{path.rsplit(".", 1)[1]: path for path in _PATHS if path.startswith("classification.")},
    "province": "region.province", "city": "region.city", "district": "region.district",
    "region_band": "region.band",
}
ATTRIBUTE_OPS = TEXT_OPS | NUMBER_OPS


def path_of(name: str) -> str:
    """The customer-JSON path a condition's field names (an old name → its path)."""
    return OLD_NAMES.get(name, name)


def column_of(path: str) -> str:
    """The customer column behind a path (not for ``attributes.<key>``)."""
    return _PATHS[path][0]


def with_paths(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conditions with each field named by its path."""
    return [{**c, "field": path_of(str(c.get("field", "")))} for c in conditions]


def field_kind(name: str) -> tuple[str, frozenset[str]]:
    if name.startswith("attributes.") and len(name) > len("attributes."):
        return "attribute", ATTRIBUTE_OPS
    if name not in FIELDS:
        raise ValidationFailed(f"segments cannot filter on {name!r}", code="invalid_segment",
                               extra={"fields": sorted(FIELDS) + ["attributes.<key>"]})
    return FIELDS[name]


def check_conditions(conditions: list[dict[str, Any]]) -> None:
    """``conditions`` with their fields named by path (:func:`with_paths`)."""
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
