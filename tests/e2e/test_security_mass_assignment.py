"""S2 of issue 26, mass assignment: a client cannot set what the server owns.

The platform's one rule: every request body is a ``crm_platform.inputs.Strict`` model
(``extra="forbid"``), so a field the operation does not take — an id, a version, an
owner or status the operation does not accept, a creation time or author, a tenant, an
admin flag, or any field of the response that is not in the request — is refused with
422 problem+json naming the field (``extra_forbidden``), before anything is written.
Refused rather than ignored: a client that believes it set the owner learns it did not.

Generated from the gateway's OpenAPI, so an operation added later is covered: the
schema test walks every JSON body (nested objects too); the call test sends, once per
operation, a body made only of fields the operation does not take, and expects each of
them named in the 422. Free-form maps (a customer's custom ``attributes``, a document's
``metadata``, a template's ``data``) have no declared fields and are not records, so
they are not part of the rule."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.test_security_matrix import assert_problem
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

# names a server owns on any record; each is injected wherever the request lacks it
SERVER_OWNED = ("id", "version", "owner_id", "created_at", "created_by", "updated_at",
                "updated_by", "status", "tenant", "tenant_id", "is_admin", "is_superuser",
                "roles", "deleted_at")
# operations only a customer's portal contact may call (a staff caller gets 403 there
# before the body is read); their bodies are held to the rule by the schema test
PORTAL_ONLY = re.compile(r"^/api/v1/portal/(?!invitations)")
PATH_PARAM = re.compile(r"{(\w+)}")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _open_records(spec: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """Every object with declared fields under ``schema`` that would take more."""
    schema = _resolve(spec, schema)
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            found += _open_records(spec, sub, where)
    if isinstance(schema.get("items"), dict):
        found += _open_records(spec, schema["items"], where + "[]")
    if schema.get("properties"):
        if schema.get("additionalProperties") is not False:
            found.append(where or "(the body)")
        for name, sub in schema["properties"].items():
            found += _open_records(spec, sub, f"{where}.{name}")
    return found


def _json_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, entries in spec["paths"].items():
        for method, op in entries.items():
            if isinstance(op, dict) and "application/json" in (
                    (op.get("requestBody") or {}).get("content", {})):
                ops.append((method.upper(), path, op))
    return ops


def _body_object(spec: dict[str, Any], op: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The object schema of the body (the item's, when the body is a list), and the
    fields a body needs to be read as that object at all: the tag of a tagged union
    (an assignment rule's ``kind``) picks its first variant."""
    schema = _resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
    if "discriminator" in schema:
        tag, ref = next(iter(sorted(schema["discriminator"]["mapping"].items())))
        return _resolve(spec, {"$ref": ref}), {schema["discriminator"]["propertyName"]: tag}
    for key in ("anyOf", "oneOf"):  # an optional body: Model | None
        for sub in schema.get(key, ()):
            sub = _resolve(spec, sub)
            if sub.get("type") != "null":
                schema = sub
    if schema.get("type") == "array":
        schema = _resolve(spec, schema["items"])
    return schema, {}


def _response_fields(spec: dict[str, Any], op: dict[str, Any]) -> set[str]:
    fields: set[str] = set()
    for status, response in op.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema:
            fields |= set(_resolve(spec, schema).get("properties", {}))
    return fields


def injected_fields(spec: dict[str, Any], op: dict[str, Any]) -> list[str]:
    """The fields a client must not set on this operation: the server-owned names and
    the response's fields that the request does not declare."""
    taken = set(_body_object(spec, op)[0].get("properties", {}))
    return sorted((set(SERVER_OWNED) | _response_fields(spec, op)) - taken)


def test_every_json_body_refuses_fields_it_does_not_declare(openapi: dict[str, Any]) -> None:
    ops = _json_operations(openapi)
    assert len(ops) > 100, "the walk found too few operations with a JSON body"
    open_bodies = {op["operationId"]: found for _, _, op in ops
                   if (found := _open_records(openapi, op["requestBody"]["content"]
                                              ["application/json"]["schema"], ""))}
    assert open_bodies == {}, (
        "request bodies that would take fields they do not declare: put the model on "
        f"crm_platform.inputs.Strict: {open_bodies}")


def _fill(template: str) -> str:
    return PATH_PARAM.sub(lambda m: "1" if m.group(1) in ("number", "version", "line_no")
                          else uuid.uuid4().hex, template)


def test_fields_the_server_owns_are_refused_on_every_create_and_update(
        platform: Platform, openapi: dict[str, Any]) -> None:
    """One call per operation, as an admin (who may call every one): a body of only the
    fields the operation must not take is a 422 that names each of them."""
    admin = platform.new_user(["admin"])
    wrong: dict[str, str] = {}
    tried = 0
    with httpx.Client(base_url=platform.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {admin['token']}"}) as c:
        for method, template, op in _json_operations(openapi):
            if PORTAL_ONLY.match(template):
                continue
            fields = injected_fields(openapi, op)
            body: Any = {**_body_object(openapi, op)[1],
                         **{name: f"forged-{name}" for name in fields}}
            schema = _resolve(openapi, op["requestBody"]["content"]["application/json"]
                              ["schema"])
            if schema.get("type") == "array":
                body = [body]
            r = c.request(method, _fill(template), json=body, headers={"If-Match": '"1"'})
            tried += 1
            where = f"{op['operationId']} {method} {template}"
            if r.status_code != 422:
                wrong[where] = f"{r.status_code} {r.text[:200]}"
                continue
            problem = assert_problem(r, where)
            named = {e["field"].rsplit(".", 1)[-1] for e in problem.get("errors", ())
                     if e.get("type") == "extra_forbidden"}
            if missing := set(fields) - named:
                wrong[where] = f"not refused: {sorted(missing)}"
    assert tried > 100
    assert wrong == {}, wrong


def test_a_rep_cannot_make_someone_else_the_owner(platform: Platform) -> None:
    """Where the request does take an owner (a customer's ``owner_id``), whether the
    caller may set it is the scope's rule: a rep may only create for themself, so naming
    another owner is a 403 and nothing is created."""
    rep, other = platform.new_user(["sales_rep"]), platform.new_user(["sales_rep"])
    name = f"冒名{uuid.uuid4().hex[:8]}"
    with platform.client(rep["token"]) as c:
        r = c.post("/api/v1/customers",
                   json={"name": name, "kind": "company", "owner_id": other["id"]})
        problem = assert_problem(r, "create_customer for another owner")
        assert r.status_code == 403 and problem["code"] == "owner_out_of_scope", problem
        r = c.get("/api/v1/customers", params={"q": name})
        assert r.status_code == 200 and r.json()["items"] == [], r.text
    with platform.admin() as c:
        r = c.get("/api/v1/customers", params={"q": name})
        assert r.status_code == 200 and r.json()["items"] == [], r.text
