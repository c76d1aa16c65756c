"""The customer service builds its API shape without pydantic validation per row (for
speed) and leaves datetimes and decimals to the RPC reply's encoder; these tests hold
that shape, as written on the wire, equal to what the schema itself produces."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from crm_platform import wire
from crm_platform.errors import ValidationFailed

from services.customer import schemas
from services.customer.domain.list_fields import SUMMARY, SUMMARY_FIELDS, WHOLE, selection
from services.customer.use_cases.customers import customer_out, customers_out

BASE: dict[str, Any] = dict(
    id="c1", code="C000001", name="华为技术有限公司", kind="company",
    phones=["+8613800138000"], emails=["a@example.com"], tax_id="91440300", industry="IT",
    province="广东", city="深圳", district=None, region_band="urban", address="坂田",
    website=None, legal_representative="任", registered_capital=Decimal("1000000.50"),
    business_scope=None, size="large", source="import", credit_note=None,
    category_ids=["k1"], tags=["vip", "重点"], attributes={"fleet": 12, "note": "x", "ok": True},
    owner_id="u1", owner_team_id="t1", status="active", merged_into_id=None, tier="A",
    rfm_recency=5, rfm_frequency=3, rfm_monetary=4, lifecycle="loyal", stage="active",
    volume_class="key_account", paid_revenue=Decimal("12345.60"), paid_orders=7,
    last_purchase_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC), last_visit_at=None,
    last_followup_at=datetime(2026, 11, 1, 23, 59, 59, 123456, tzinfo=UTC), version=3,
    created_by="u9", created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    updated_at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
)


def _on_wire(value: Any) -> Any:
    return wire.loads(wire.dumps(value))


def _via_schema(row: Any, owner_name: str | None) -> dict[str, Any]:
    region = None
    if any((row.province, row.city, row.district, row.region_band)):
        region = {"province": row.province, "city": row.city, "district": row.district,
                  "band": row.region_band}
    data = {**vars(row), "region": region, "in_pool": row.owner_id is None,
            "owner": {"id": row.owner_id, "display_name": owner_name or row.owner_id}
            if row.owner_id else None,
            "classification": {k: getattr(row, k) for k in schemas.Classification.model_fields}}
    return schemas.Customer.model_validate(data).model_dump(mode="json")


@pytest.mark.parametrize("changes", [
    {},
    {"owner_id": None, "owner_team_id": None, "tier": None, "rfm_recency": None},
    {"province": None, "city": None, "region_band": None, "registered_capital": None,
     "paid_revenue": Decimal("0.00"), "attributes": {}, "tags": [], "phones": []},
    {"status": "merged", "merged_into_id": "c2", "kind": "person"},
])
def test_customer_shape_equals_the_schema_dump(changes: dict[str, Any]) -> None:
    row = SimpleNamespace(**{**BASE, **changes})
    assert _on_wire(customer_out(row, "张三")) == _via_schema(row, "张三")
    assert _on_wire(customer_out(row, None)) == _via_schema(row, None)


def test_page_shape_uses_the_joined_owner_name() -> None:
    # Row-like: values by position, names in _fields (columns in another order than the
    # shape's, as a statement may select them)
    names = [*reversed(list(BASE)), "owner_display_name"]
    page_row = namedtuple("page_row", names)  # type: ignore[misc]  # names known at run time
    rows = [page_row(**{**BASE, "owner_display_name": "李四"}),
            page_row(**{**BASE, "id": "c2", "owner_id": None, "owner_display_name": None})]
    out = _on_wire(customers_out(rows))
    assert out[0] == _via_schema(SimpleNamespace(**BASE), "李四")
    assert out[0]["owner"] == {"id": "u1", "display_name": "李四"}
    assert out[1]["owner"] is None and out[1]["in_pool"] is True
    assert out[0]["classification"]["paid_revenue"] == "12345.60"
    assert out[0]["created_at"] == "2025-01-02T03:04:05Z"


def _page_rows(**changes: Any) -> list[Any]:
    names = [*reversed(list(BASE)), "owner_display_name"]
    page_row = namedtuple("page_row", names)  # type: ignore[misc]  # names known at run time
    return [page_row(**{**BASE, "owner_display_name": "李四", **changes})]


def test_a_sparse_page_item_is_the_whole_record_cut_to_its_fields() -> None:
    whole = _on_wire(customers_out(_page_rows()))[0]
    for fields in ("name,owner", "in_pool", "region,classification.tier,classification.stage",
                   "classification", "tags,version,updated_at"):
        chosen = selection(fields)
        item = _on_wire(customers_out(_page_rows(), chosen))[0]
        top = {name.split(".")[0] for name in fields.split(",")} | {"id"}
        assert set(item) == top, fields
        for name in top - {"classification"}:
            assert item[name] == whole[name], (fields, name)
        if "classification" in top:
            assert item["classification"] == {
                k: v for k, v in whole["classification"].items() if k in chosen.classification}


def test_the_summary_is_what_its_fields_say_and_validates_as_a_list_item() -> None:
    item = _on_wire(customers_out(_page_rows(), SUMMARY))[0]
    top = {name.split(".")[0] for name in SUMMARY_FIELDS}
    assert set(item) == top
    assert set(item["classification"]) == {"tier", "lifecycle", "stage", "last_followup_at"}
    assert "tax_id" not in item and "attributes" not in item
    parsed = schemas.CustomerListItem.model_validate(item)
    assert parsed.model_dump(mode="json", exclude_unset=True) == item


def test_every_selection_reads_columns_the_whole_record_has() -> None:
    shown = set(BASE) | {"owner_display_name"}
    assert selection("*").columns <= shown
    assert WHOLE.columns == shown
    assert selection("in_pool").columns == {"id", "owner_id"}
    assert selection("owner").columns == {"id", "owner_id", "owner_display_name"}


@pytest.mark.parametrize("fields", ["", " , ", "name,nmae", "classification.bogus", "owner.id"])
def test_an_unknown_or_empty_field_list_is_refused(fields: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        selection(fields)
    assert caught.value.code == "invalid_fields"


def test_the_query_schema_refuses_what_cannot_be_a_field_list() -> None:
    """The names are the service's to check (above); the schema, which the gateway
    validates without the customer domain, refuses only what is no list of names."""
    schemas.CustomerQuery.model_validate({"fields": "name, classification.tier"})
    with pytest.raises(ValueError):
        schemas.CustomerQuery.model_validate({"fields": "name;drop table"})
