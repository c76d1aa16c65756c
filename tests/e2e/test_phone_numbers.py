"""A phone number with letters is refused, not stored as some other number (issue #28):
customers, contacts, leads and users alike, and a CSV row with one is reported invalid."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.sales_support import _ok
from tests.support.platform import Platform
from tests.support.problems import expect_problem

WITH_LETTERS = ["138 0013 8000x", "+86 10 FLOWERS1", "010-8888 6666 ext. 12"]


def _names(problem: dict[str, Any], field: str) -> None:
    assert any(field in str(e.get("field", e.get("loc", ""))) for e in problem["errors"]), \
        problem


def test_phone_numbers_with_letters_are_refused(platform: Platform, org: dict[str, Any]
                                                ) -> None:
    with platform.client(org["rep"]["token"]) as c:
        for phone in WITH_LETTERS:
            _names(expect_problem(c.post("/api/v1/customers", json={
                "name": f"字母{uuid.uuid4().hex[:6]}", "kind": "person", "phone": phone}),
                422), "phone")
            _names(expect_problem(c.post("/api/v1/leads", json={
                "name": "字母线索", "phone": phone}), 422), "phone")
        company = _ok(c.post("/api/v1/customers", json={
            "name": f"号码{uuid.uuid4().hex[:6]}有限公司", "kind": "company"}), 201)
        _names(expect_problem(c.post(f"/api/v1/customers/{company['id']}/contacts", json={
            "name": "王经理", "phones": ["1380013800a0"]}), 422), "phones")
        _names(expect_problem(c.patch(f"/api/v1/customers/{company['id']}", json={
            "phones": ["13800138000", "1390000000O"]}), 422), "phones")
        assert _ok(c.get(f"/api/v1/customers/{company['id']}"))["phones"] == []
    with platform.admin() as admin:
        _names(expect_problem(admin.post("/api/v1/users", json={
            "username": f"p{uuid.uuid4().hex[:8]}", "password": "password-123",
            "display_name": "号码", "roles": ["viewer"], "phone": "138 0013 8OOO"}), 422),
            "phone")
    with platform.client(org["manager"]["token"]) as c:
        result = _ok(c.post("/api/v1/customers/import", files={"file": (
            "c.csv", f"name,phones\n字母导入{uuid.uuid4().hex[:6]},138 0013 8000x\n".encode(),
            "text/csv")}))
        assert result["invalid"] == 1 and "letters" in result["rows"][0]["errors"][0]
