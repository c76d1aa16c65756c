"""CSV import and export, and merging duplicates, through the gateway (CUS-13/14/15)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from tests.e2e.test_customers import _staff_known
from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def people(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        team = admin.post("/api/v1/teams", json={"name": f"North-{uuid.uuid4().hex[:4]}"}).json()
    manager = platform.new_user(["sales_manager"], team_id=team["id"], display_name="钱经理")
    rep = platform.new_user(["sales_rep"], team_id=team["id"], display_name="孙销售")
    for user in (manager, rep):
        _staff_known(platform, user["token"], user["id"])
    return {"manager": manager, "rep": rep}


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["name", "kind", "phones", "emails", "province",
                                             "tags"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def test_import_reports_each_row_and_creates_all_valid_ones(platform: Platform,
                                                           people: dict[str, Any]) -> None:
    tag = uuid.uuid4().hex[:6]
    with platform.client(people["rep"]["token"]) as c:
        existing = c.post("/api/v1/customers", json={"name": f"已有{tag}有限公司",
                                                     "kind": "company"}).json()
    rows = [
        {"name": f"导入甲{tag}", "kind": "company", "phones": "13911112222", "tags": "a;b"},
        {"name": f"已有{tag}", "kind": "company"},                       # existing customer
        {"name": f"导入乙{tag}", "kind": "person", "phones": "not-a-phone"},  # invalid
        {"name": "", "kind": "company"},                                   # invalid
        {"name": f"导入甲{tag} 有限公司", "kind": "company"},               # same as row 1
        {"name": f"导入丙{tag}", "kind": "person", "province": "湖北"},
    ]
    with platform.client(people["manager"]["token"]) as c:
        r = c.post("/api/v1/customers/import",
                   files={"file": ("customers.csv", _csv(rows), "text/csv")})
        assert r.status_code == 200, r.text
        result = r.json()
    assert (result["created"], result["duplicates"], result["invalid"]) == (2, 2, 2)
    by_row = {x["row"]: x for x in result["rows"]}
    assert by_row[1]["status"] == "created" and by_row[6]["status"] == "created"
    assert by_row[2]["duplicate_of"] == existing["id"]
    assert by_row[2]["owner"]["display_name"] == "孙销售"
    assert by_row[3]["status"] == "invalid" and by_row[4]["status"] == "invalid"
    assert "row 1" in by_row[5]["errors"][0]
    with platform.client(people["manager"]["token"]) as c:
        made = c.get(f"/api/v1/customers/{by_row[1]['customer_id']}").json()
        assert made["tags"] == ["a", "b"] and made["phones"] == ["+8613911112222"]
        assert made["owner_id"] == people["manager"]["id"]
    with platform.client(people["rep"]["token"]) as c:
        denied = c.post("/api/v1/customers/import",
                        files={"file": ("c.csv", _csv(rows[:1]), "text/csv")})
        assert denied.status_code == 403


def test_import_rejects_a_file_without_header(platform: Platform,
                                              people: dict[str, Any]) -> None:
    with platform.client(people["manager"]["token"]) as c:
        r = c.post("/api/v1/customers/import",
                   files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")})
        assert r.status_code in (400, 422) and r.headers["content-type"].startswith(
            "application/problem+json")


def test_export_needs_the_permission_and_is_audited(platform: Platform,
                                                    people: dict[str, Any]) -> None:
    with platform.client(people["rep"]["token"]) as c:
        denied = c.get("/api/v1/customers/export")
        assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    with platform.client(people["manager"]["token"]) as c:
        r = c.get("/api/v1/customers/export", params={"sort": "name"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows and {row["owner_name"] for row in rows} <= {"钱经理", "孙销售"}
    with platform.admin() as admin:
        def entries() -> list[dict[str, Any]]:
            items = admin.get("/api/v1/audit-log", params={"action": "export_customers"}
                              ).json()["items"]
            return [e for e in items if e["actor_id"] in (people["rep"]["id"],
                                                          people["manager"]["id"])]
        audited = wait_until(lambda: len(entries()) >= 2 and entries(), 10, "export audit")
        outcomes = {(e["actor_id"], e["outcome"]) for e in audited}
        assert (people["rep"]["id"], "denied") in outcomes
        assert (people["manager"]["id"], "success") in outcomes


def test_merge_moves_everything_to_the_survivor(platform: Platform,
                                                people: dict[str, Any]) -> None:
    tag = uuid.uuid4().hex[:6]
    with platform.client(people["rep"]["token"]) as c:
        survivor = c.post("/api/v1/customers", json={"name": f"合并甲{tag}", "kind": "company",
                                                     "phone": "13722223333"}).json()
        merged = c.post("/api/v1/customers", json={"name": f"合并乙{tag}", "kind": "company",
                                                   "email": f"m{tag}@example.com"}).json()
        c.post(f"/api/v1/customers/{merged['id']}/contacts", json={"name": "冯联系"})
        c.post(f"/api/v1/customers/{merged['id']}/follow-ups",
               json={"method": "email", "content": "发资料"})
        assert c.post("/api/v1/customers/merge", json={
            "survivor_id": survivor["id"], "merged_id": merged["id"]}).status_code == 403
    with platform.client(people["manager"]["token"]) as c:
        r = c.post("/api/v1/customers/merge", json={"survivor_id": survivor["id"],
                                                     "merged_id": merged["id"]})
        assert r.status_code == 200, r.text
        assert r.json()["moved"]["contacts"] == 1 and r.json()["moved"]["followups"] == 1
        contacts = c.get(f"/api/v1/customers/{survivor['id']}/contacts").json()["items"]
        assert [x["name"] for x in contacts] == ["冯联系"]
        gone = c.get(f"/api/v1/customers/{merged['id']}").json()
        assert gone["status"] == "merged" and gone["merged_into_id"] == survivor["id"]
        # the merged record's identity now leads to the survivor
        dup = c.post("/api/v1/customers", json={"name": "别名", "kind": "person",
                                                "email": f"M{tag}@example.com"})
        assert dup.status_code == 409 and dup.json()["existing_customer_id"] == survivor["id"]
        again = c.post("/api/v1/customers/merge", json={"survivor_id": survivor["id"],
                                                         "merged_id": merged["id"]})
        assert again.status_code == 409 and again.json()["code"] == "already_merged"
        assert again.json()["survivor_id"] == survivor["id"]


def test_a_large_import_is_stored_searchable_and_announced_row_by_row(
        platform: Platform, people: dict[str, Any]) -> None:
    """Enough rows for the bulk write path: every created row is a complete, searchable
    customer with its guard keys, and each gets its own customer.created event."""
    tag = uuid.uuid4().hex[:6]
    base = int(tag, 16) % 10_000
    rows = [{"name": f"批量{tag}{i:03d}科技有限公司", "kind": "company",
             "phones": f"137 {base:04d} {i:04d}", "emails": f"b{i}.{tag}@example.com",
             "province": "湖北", "tags": "重点;展会" if i % 2 else ""} for i in range(120)]
    rows.append({"name": f"重复{tag}", "kind": "person", "phones": f"+86 137{base:04d}0005"})
    rows.append({"name": f"无效{tag}", "kind": "person", "phones": "12"})
    conn = Connection(platform.amqp_uri)
    queue = Queue(f"test-import-{tag}", Exchange("customer.events", type="topic", durable=True),
                  routing_key="customer.created", auto_delete=True)
    queue(conn.channel()).declare()
    try:
        with platform.client(people["manager"]["token"]) as c:
            r = c.post("/api/v1/customers/import",
                       files={"file": ("big.csv", _csv(rows), "text/csv")})
            assert r.status_code == 200, r.text
            result = r.json()
            assert (result["created"], result["duplicates"], result["invalid"]) == (120, 1, 1)
            assert "row 6" in result["rows"][120]["errors"][0]
            created = {x["customer_id"] for x in result["rows"] if x["status"] == "created"}
            made = c.get(f"/api/v1/customers/{result['rows'][7]['customer_id']}").json()
            assert made["name"] == f"批量{tag}007科技有限公司"
            assert made["phones"] == [f"+86137{base:04d}0007"]
            assert made["emails"] == [f"b7.{tag}@example.com"] and made["tags"] == ["重点", "展会"]
            assert made["region"]["province"] == "湖北" and made["owner_id"] == people[
                "manager"]["id"]
            for q in (f"批量{tag}007", f"137{base:04d}0007", made["code"]):
                found = c.get("/api/v1/customers", params={"q": q}).json()["items"]
                assert made["id"] in {x["id"] for x in found}, q
            again = c.post("/api/v1/customers", json={"name": "别的", "kind": "person",
                                                      "phone": f"137{base:04d}0007"})
            assert again.status_code == 409 and again.json()["code"] == "duplicate_customer"
        announced: dict[str, int] = {}

        def all_announced() -> bool:
            bound = queue(conn.channel())
            while (message := bound.get(no_ack=True)) is not None:
                body = json.loads(message.body)
                if body["data"]["id"] in created:
                    announced[body["data"]["id"]] = announced.get(body["data"]["id"], 0) + 1
                    assert body["data"]["owner_id"] == people["manager"]["id"]
            return set(announced) == created
        wait_until(all_announced, 30, "customer.created for every imported row")
    finally:
        conn.release()
