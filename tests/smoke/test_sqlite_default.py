"""The laptop default: every database a SQLite file under var/, nothing else configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.platform import running_platform


def test_platform_runs_on_sqlite_files(tmp_path: Path) -> None:
    with running_platform(tmp_path, sqlite=True) as platform:
        assert (tmp_path / "gateway.db").exists() and (tmp_path / "customer.db").exists()
        rep = platform.new_user(["sales_rep"])
        with platform.client(rep["token"]) as c:
            made = c.post("/api/v1/customers", json={"name": "苏州小桥流水有限公司",
                                                     "kind": "company", "phone": "13700001111"})
            assert made.status_code == 201, made.text
            dup = c.post("/api/v1/customers", json={"name": "苏州 小桥流水", "kind": "company"})
            assert dup.status_code == 409 and dup.json()["code"] == "duplicate_customer"
            found = c.get("/api/v1/customers", params={"q": "xqls"}).json()["items"]
            assert [x["id"] for x in found] == [made.json()["id"]]
            tagged = c.patch(f"/api/v1/customers/{made.json()['id']}", json={"tags": ["VIP"]},
                             headers={"If-Match": '"1"'})
            assert tagged.status_code == 200
            assert c.get("/api/v1/customers", params={"tag": "VIP"}).json()["items"]


pytestmark = pytest.mark.e2e
