"""The gateway's OpenAPI describes every error as what it is: problem+json (#28, #26 S5)."""

from __future__ import annotations

import json

from crm_platform.errors import NotFound, problem_body

from gateway.problems import PROBLEM_JSON, PROBLEM_SCHEMA


def test_every_operation_documents_its_errors_as_problems() -> None:
    from gateway.app import app

    spec = app.openapi()
    assert spec["components"]["schemas"]["Problem"] == PROBLEM_SCHEMA
    problem = {"$ref": "#/components/schemas/Problem"}
    operations = [(path, method, op) for path, ops in spec["paths"].items()
                  for method, op in ops.items()]
    assert len(operations) > 300
    for path, method, op in operations:
        responses = op["responses"]
        # (a 416 of a download has no body at all: only Content-Range)
        for status in ("default", *(s for s in responses
                                    if s[0] in "45" and "content" in responses[s])):
            assert responses[status]["content"] == {PROBLEM_JSON: {"schema": problem}}, \
                (method, path, status)
    # FastAPI's own 422 body ({"detail": [...]}) is never sent: not described either
    assert "HTTPValidationError" not in json.dumps(spec)


def test_the_problem_schema_describes_the_bodies_sent() -> None:
    body = NotFound("customer not found", code="customer_not_found").to_problem("/x")
    assert set(PROBLEM_SCHEMA["required"]) <= set(body)
    assert set(problem_body(422, "validation_failed", "t", "d", None, {"errors": [
        {"field": "name", "location": "body", "message": "m"}]})) <= \
        set(PROBLEM_SCHEMA["properties"])
