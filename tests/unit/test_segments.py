"""Segment rule validation (CUS-12)."""

from __future__ import annotations

import pytest
from crm_platform.errors import ValidationFailed

from services.customer.domain.segments import check_conditions, with_paths


def test_valid_conditions() -> None:
    check_conditions([{"field": "region.province", "op": "in", "value": ["浙江", "江苏"]},
                      {"field": "classification.last_visit_at", "op": "older_than_days",
                       "value": 90},
                      {"field": "classification.paid_revenue", "op": "gte", "value": "1000"},
                      {"field": "attributes.vehicle_age", "op": "gte", "value": 3},
                      {"field": "tags", "op": "contains", "value": "VIP"},
                      {"field": "classification.paid_orders", "op": "eq", "value": "3"},
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
        check_conditions(with_paths(conditions))


def test_conditions_name_fields_by_their_path_in_the_customer_json() -> None:
    from services.customer.domain.list_fields import KNOWN_NAMES
    from services.customer.domain.segments import FIELDS

    # every field a condition takes is a customer field as ``?fields=`` names it (the
    # parts of the region are inside ``region``)
    for path in FIELDS:
        assert path in KNOWN_NAMES or path.startswith("region."), path
    old = [{"field": "province", "op": "eq", "value": "广东"},
           {"field": "tier", "op": "eq", "value": "A"},
           {"field": "region_band", "op": "eq", "value": "urban"},
           {"field": "attributes.colour", "op": "eq", "value": "红"}]
    assert [c["field"] for c in with_paths(old)] == [
        "region.province", "classification.tier", "region.band", "attributes.colour"]
    check_conditions(with_paths(old))
    with pytest.raises(ValidationFailed):
        check_conditions(old[:1])  # the old name itself is not a path
