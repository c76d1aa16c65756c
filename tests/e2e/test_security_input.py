"""S4 and S6, hostile input: oversized bodies (declared or chunked) are 413, deep or huge
JSON and text that is not Unicode are a 4xx problem (never a 5xx), SQL and LIKE
wildcards are only text, and a formula in a name is escaped in the CSV export.

``CRM_SECURITY_FULL=1`` (``make security``) sends bigger and deeper bodies."""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.platform import Platform
from tests.support.problems import expect_problem

pytestmark = pytest.mark.e2e

FULL = os.environ.get("CRM_SECURITY_FULL") == "1"
MAX_BODY = 1_048_576  # the gateway's default CRM_MAX_BODY_BYTES
DEPTH = 100_000 if FULL else 5_000


@pytest.fixture(scope="module")
def rep(platform: Platform) -> dict[str, Any]:
    return platform.new_user(["sales_rep"])


def _post(platform: Platform, token: str, content: Any, path: str = "/api/v1/customers",
          **headers: str) -> httpx.Response:
    with platform.client(token) as c:
        return c.post(path, content=content,
                      headers={"Content-Type": "application/json", **headers})


def _count_named(platform: Platform, token: str, text: str) -> int:
    with platform.client(token) as c:
        r = c.get("/api/v1/customers", params={"q": text, "limit": 100})
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


def test_a_declared_oversized_body_is_413(platform: Platform, rep: dict[str, Any]) -> None:
    body = b'{"name": "' + b"x" * (MAX_BODY + 10) + b'", "kind": "company"}'
    expect_problem(_post(platform, rep["token"], body), 413, "payload_too_large")


def test_a_chunked_oversized_body_is_413(platform: Platform, rep: dict[str, Any]) -> None:
    """No Content-Length to refuse it by: the gateway counts the bytes as they come."""
    marker = f"chunked{uuid.uuid4().hex[:8]}"

    def chunks() -> Iterator[bytes]:
        yield f'{{"name": "{marker}", "kind": "company", "note": "'.encode()
        for _ in range(40 if FULL else 20):
            yield b"y" * 65_536  # 20 × 64 KiB = 1.25 MiB
        yield b'"}'

    r = _post(platform, rep["token"], chunks())
    assert "content-length" not in r.request.headers
    expect_problem(r, 413, "payload_too_large")
    assert _count_named(platform, rep["token"], marker) == 0


@pytest.mark.parametrize("shape", ["array", "object", "in a field"])
def test_deeply_nested_json_is_a_4xx(platform: Platform, rep: dict[str, Any],
                                     shape: str) -> None:
    if shape == "array":
        body = "[" * DEPTH + "]" * DEPTH
    elif shape == "object":
        body = '{"a":' * DEPTH + "1" + "}" * DEPTH
    else:
        body = '{"name": "深", "kind": "company", "tags": ' + "[" * DEPTH + "]" * DEPTH + "}"
    r = _post(platform, rep["token"], body.encode())
    assert 400 <= r.status_code < 500, f"{r.status_code} {r.text[:300]}"
    expect_problem(r, r.status_code)


def test_a_huge_flat_json_object_is_a_4xx(platform: Platform, rep: dict[str, Any]) -> None:
    keys = 60_000  # just under the body limit
    body = "{" + ",".join(f'"k{i}":{i}' for i in range(keys)) + "}"
    assert len(body) < MAX_BODY
    r = _post(platform, rep["token"], body.encode())
    assert 400 <= r.status_code < 500, f"{r.status_code} {r.text[:300]}"
    expect_problem(r, r.status_code)


@pytest.mark.parametrize("body", [
    b'{"name": "\xff\xfe\xfd", "kind": "company"}',  # not UTF-8
    b'{"name": "\xe4\xb8", "kind": "company"}',  # a cut-off character
    b'{"name": "\\ud800", "kind": "company"}',  # a lone surrogate
    b'{"name": "a\\u0000b", "kind": "company"}',  # NUL
    b'{"name": "x", "kind": "company"',  # cut off
], ids=["latin1", "truncated", "surrogate", "nul", "unterminated"])
def test_text_that_is_not_unicode_is_a_4xx(platform: Platform, rep: dict[str, Any],
                                           body: bytes) -> None:
    r = _post(platform, rep["token"], body)
    assert 400 <= r.status_code < 500, f"{r.status_code} {r.text[:300]}"
    expect_problem(r, r.status_code)


SQLISH = ["x'); DROP TABLE customers;--", "' OR '1'='1", "1; SELECT pg_sleep(10)--",
          "\\'; --", "$$; DELETE FROM inbox; $$"]


def test_sql_in_names_and_searches_is_only_text(platform: Platform) -> None:
    rep = platform.new_user(["sales_rep"])
    with platform.client(rep["token"]) as c:
        made = []
        for text in SQLISH:
            r = c.post("/api/v1/customers", json={"name": f"{text}公司", "kind": "company"})
            assert r.status_code == 201, r.text
            made.append(r.json())
        for customer, text in zip(made, SQLISH, strict=True):
            assert c.get(f"/api/v1/customers/{customer['id']}").json()["name"] == f"{text}公司"
        # the rep has exactly the customers above; a search that were SQL would match all
        for text in SQLISH:
            r = c.get("/api/v1/customers", params={"q": text, "limit": 100})
            assert r.status_code == 200, r.text
            names = [i["name"] for i in r.json()["items"]]
            assert names == [f"{text}公司"], (text, names)
        # and as a path parameter
        r = c.get("/api/v1/customers/' OR '1'='1")
        expect_problem(r, 404)


def test_like_wildcards_match_only_themselves(platform: Platform) -> None:
    rep = platform.new_user(["sales_rep"])
    with platform.client(rep["token"]) as c:
        for name in ("百分之百%公司", "下划线_公司", "普通贸易公司", "反斜杠\\公司"):
            assert c.post("/api/v1/customers", json={"name": name, "kind": "company"}
                          ).status_code == 201
        for q, expected in (("%", ["百分之百%公司"]), ("_", ["下划线_公司"]),
                            ("\\", ["反斜杠\\公司"]), ("%%", [])):
            r = c.get("/api/v1/customers", params={"q": q, "limit": 100})
            assert r.status_code == 200, r.text
            assert [i["name"] for i in r.json()["items"]] == expected, q


PLAIN_NUMBER = re.compile(r"[+-][0-9 ().,/-]*\Z")
FORMULAS = ["=cmd|' /C calc'!A0", "+HYPERLINK(\"http://evil.test\")", "-2+3+cmd|' /C x'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1"]


def test_formulas_in_an_export_are_escaped(platform: Platform) -> None:
    """S6: a name, address or tag that a spreadsheet would run is written as text."""
    manager = platform.new_user(["sales_manager"])
    marker = f"导出{uuid.uuid4().hex[:6]}"
    with platform.client(manager["token"]) as c:
        for n, formula in enumerate(FORMULAS):
            r = c.post("/api/v1/customers", json={
                "name": formula + marker, "kind": "company", "address": formula,
                "phones": [f"+86 139 {uuid.uuid4().int % 10000:04d} 11{n:02d}"]})
            assert r.status_code == 201, r.text
        r = c.get("/api/v1/customers/export", params={"q": marker})
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    header, data = rows[0], rows[1:]
    assert len(data) == len(FORMULAS)
    name_at, address_at = header.index("name"), header.index("address")
    for row in data:
        for cell in row:  # a cell may start with a sign only as a number or phone does
            assert not cell.startswith(("=", "@", "\t", "\r")), (header, row)
            assert not cell.startswith(("+", "-")) or PLAIN_NUMBER.match(cell), (header, row)
        assert row[name_at].startswith("'") and row[address_at].startswith("'"), row
    # the phone number, a plain number, is left as it is
    phones = [row[header.index("phones")] for row in data]
    assert all("139" in p and not p.startswith("'") for p in phones), phones


def test_a_caller_without_the_permission_gets_403_not_422(platform: Platform) -> None:
    """A caller without the permission learns nothing of the body's schema: 403, not 422."""
    viewer = platform.new_user(["viewer"])
    r = _post(platform, viewer["token"], b'{"unexpected": true}', "/api/v1/leads")
    expect_problem(r, 403, "permission_denied")
