"""Money is a decimal string on every operation: generated from the OpenAPI, every request
body field that is an amount refuses a JSON number with the same 422."""

from __future__ import annotations

import re
from typing import Any

from crm_platform.inputs import AMOUNT_PATTERN

from tests.support.platform import Platform


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _is_amount(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(_resolve(spec, o).get("pattern") == AMOUNT_PATTERN for o in options)


def _amounts_in(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0
                ) -> list[tuple[str | int, ...]]:
    """Where amounts sit in a body: field names, and 0 for an array's first item."""
    found: list[tuple[str | int, ...]] = []
    for name, prop in _resolve(spec, schema).get("properties", {}).items():
        if _is_amount(spec, prop):
            found.append((name,))
            continue
        for option in prop.get("anyOf", [prop]):
            option = _resolve(spec, option)
            if depth < 2 and option.get("type") == "array" and "items" in option:
                found += [(name, 0, *rest)
                          for rest in _amounts_in(spec, option["items"], depth + 1)]
    return found


def _body(where: tuple[str | int, ...]) -> Any:
    value: Any = 1234.5
    for step in reversed(where):
        value = [value] if step == 0 else {step: value}
    return value


def amount_fields(spec: dict[str, Any]) -> list[tuple[str, str, tuple[str | int, ...]]]:
    """(method, path, place) of every amount in a JSON request body."""
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                found += [(method.upper(), path, where)
                          for where in _amounts_in(spec, body["schema"])]
    return found


def test_every_amount_refuses_a_json_number(platform: Platform) -> None:
    with platform.admin() as admin:
        spec = admin.get("/openapi.json").json()
        fields = amount_fields(spec)
        services = {p.split("/")[3] for _, p, _ in fields}
        # amounts of customer, sales and billing operations are all found
        assert {"credit", "payments", "orders", "leads", "customers"} <= services, services
        assert any(len(where) > 1 for _, _, where in fields)  # order lines, allocations
        for method, path, where in fields:
            url = re.sub(r"{\w+}", "00000000-0000-0000-0000-000000000000", path)
            r = admin.request(method, url, json=_body(where), headers={"If-Match": '"1"'})
            assert r.status_code == 422, (method, path, r.text)
            field = ".".join(str(step) for step in where)
            errors = {e["field"]: e for e in r.json()["errors"]}
            assert errors[field]["type"] == "amount_not_a_string", (method, path, errors)
            assert "decimal string" in errors[field]["message"]
