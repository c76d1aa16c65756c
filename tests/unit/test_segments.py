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
                      {"field": "tags", "op": "contains", "value": "VIP"}])


@pytest.mark.parametrize("conditions", [
    [],
    [{"field": "password", "op": "eq", "value": "x"}],
    [{"field": "province", "op": "gte", "value": 1}],
    [{"field": "province", "op": "in", "value": []}],
    [{"field": "last_visit_at", "op": "within_days", "value": "soon"}],
    [{"field": "paid_revenue", "op": "gte", "value": "lots"}],
])
def test_invalid_conditions(conditions: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationFailed):
        check_conditions(conditions)
