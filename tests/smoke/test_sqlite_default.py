"""The laptop default: every database a SQLite file under var/, nothing else configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.platform import Platform, running_platform


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
        _service_desk_on_sqlite(platform, made.json()["id"])


def _service_desk_on_sqlite(platform: Platform, customer_id: str) -> None:
    """A complaint received 61 minutes ago is breached by the sweep; knowledge is found by
    a Chinese search."""
    received = (datetime.now(UTC) - timedelta(minutes=61)).isoformat()
    with platform.admin() as admin:
        ticket = admin.post("/api/v1/tickets", json={
            "customer_id": customer_id, "category": "complaint", "channel": "phone",
            "subject": "投诉", "received_at": received})
        assert ticket.status_code == 201, ticket.text
        # the service's own timer may have been first
        assert admin.post("/api/v1/service-desk/sla-sweep").json()["breached"] <= 1
        assert admin.get(f"/api/v1/tickets/{ticket.json()['id']}").json()["breached"]
        article = admin.post("/api/v1/kb/articles", json={
            "title": "异响排查", "body": "发动机冷启动异响：检查皮带", "category": "汽车"}).json()
        admin.post(f"/api/v1/kb/articles/{article['id']}/versions/1/publish")
        hits = admin.get("/api/v1/kb/search", params={"q": "发动机异响"}).json()["items"]
        assert [h["article_id"] for h in hits] == [article["id"]]


pytestmark = pytest.mark.e2e
