"""Segment rule validation (CUS-12)."""

from __future__ import annotations

import pytest
from crm_platform.errors import ValidationFailed

from services.customer.domain.segments import check_conditions


def test_valid_conditions() -> None:
    check_conditions([{"field": "province", "op": "in", "value": ["浙江", "江苏"]},
                      {"field": "last_visit_at", "op": "older_than_days", "value": 90},
                      {"field": "paid_revenue", "op": "gte", "value": "1000"},
                      {"field": "attributes.vehicle_age", "op": "gte", "value": 3},
                      {"field": "tags", "op": "contains", "value": "VIP"},
                      {"field": "paid_orders", "op": "eq", "value": "3"},
                      {"field": "attributes.vehicle_age", "op": "eq", "value": 3.5},
                      {"field": "attributes.colour", "op": "ne", "value": "红"},
                      {"field": "created_at", "op": "within_days", "value": 36500}])


@pytest.mark.parametrize("conditions", [
    [],
    [{"field": "password", "op": "eq", "value": "x"}],
    [{"field": "province", "op": "gte", "value": 1}],
    [{"field": "province", "op": "in", "value": []}],
    [{"field": "last_visit_at", "op": "within_days", "value": "soon"}],
    [{"field": "paid_revenue", "op": "gte", "value": "lots"}],
    # values the database cannot compare with the column (500s before)
    [{"field": "last_visit_at", "op": "within_days", "value": 10 ** 9}],
    [{"field": "last_visit_at", "op": "older_than_days", "value": True}],
    [{"field": "paid_revenue", "op": "gte", "value": "NaN"}],
    [{"field": "paid_revenue", "op": "lte", "value": 1e300}],
    [{"field": "paid_orders", "op": "eq", "value": True}],
    [{"field": "province", "op": "eq", "value": 5}],
    [{"field": "province", "op": "eq", "value": {"a": 1}}],
    [{"field": "province", "op": "in", "value": ["浙江", 1]}],
    [{"field": "province", "op": "in", "value": ["x"] * 101}],
    [{"field": "tags", "op": "contains", "value": ["VIP"]}],
    [{"field": "attributes.vehicle_age", "op": "gte", "value": "old"}],
    [{"field": "attributes.vehicle_age", "op": "eq", "value": [1]}],
    [{"field": "attributes.vehicle_age", "op": "eq", "value": False}],
])
def test_invalid_conditions(conditions: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationFailed):
        check_conditions(conditions)
