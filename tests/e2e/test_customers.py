"""Customer archive and ownership through the gateway (CUS-01, CUS-04 … CUS-07, CUS-13)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support.infra import wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def _staff_known(platform: Platform, token: str, user_id: str) -> None:
    """Wait until the customer service has the user in its staff copy (via events)."""
    def known() -> bool:
        with platform.client(token) as c:
            r = c.post("/api/v1/customers", json={"name": f"probe-{uuid.uuid4().hex[:6]}",
                                                  "kind": "person"})
            return bool(r.status_code == 201 and r.json()["owner"]["display_name"] != user_id)
    wait_until(known, 20, "staff copy in the customer service")


@pytest.fixture(scope="module")
def sales_team(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        team = admin.post("/api/v1/teams", json={"name": f"East-{uuid.uuid4().hex[:4]}"}).json()
    manager = platform.new_user(["sales_manager"], team_id=team["id"], display_name="张经理")
    rep_a = platform.new_user(["sales_rep"], team_id=team["id"], display_name="李娜")
    rep_b = platform.new_user(["sales_rep"], team_id=team["id"], display_name="王芳")
    outsider = platform.new_user(["sales_rep"], display_name="赵外")
    for user in (manager, rep_a, rep_b, outsider):
        _staff_known(platform, user["token"], user["id"])
    return {"team": team, "manager": manager, "a": rep_a, "b": rep_b, "outsider": outsider}


def test_create_get_update_with_etag_and_history(platform: Platform,
                                                  sales_team: dict[str, Any]) -> None:
    rep = sales_team["a"]
    with platform.client(rep["token"]) as c:
        r = c.post("/api/v1/customers", json={
            "name": f"杭州云帆科技有限公司{uuid.uuid4().hex[:4]}", "kind": "company",
            "phone": _phone(), "industry": "软件", "tags": ["重点", "重点"],
            "region": {"province": "浙江", "city": "杭州", "band": "urban"},
            "registered_capital": "1000000.50"})
        assert r.status_code == 201, r.text
        customer = r.json()
        assert customer["owner_id"] == rep["id"] and customer["owner"]["display_name"] == "李娜"
        assert customer["tags"] == ["重点"] and customer["registered_capital"] == "1000000.50"
        assert customer["phones"][0].startswith("+86")
        got = c.get(f"/api/v1/customers/{customer['id']}")
        assert got.status_code == 200 and got.headers["etag"] == '"1"'
        updated = c.patch(f"/api/v1/customers/{customer['id']}", json={"industry": "制造"},
                          headers={"If-Match": '"1"'})
        assert updated.status_code == 200 and updated.json()["version"] == 2
        stale = c.patch(f"/api/v1/customers/{customer['id']}", json={"industry": "x"},
                        headers={"If-Match": '"1"'})
        assert stale.status_code == 412 and stale.json()["code"] == "stale_version"
        history = c.get(f"/api/v1/customers/{customer['id']}/history").json()["items"]
        assert [h["kind"] for h in history][:2] == ["updated", "created"]
        assert history[0]["changes"]["industry"] == {"from": "软件", "to": "制造"}
        assert history[0]["actor_id"] == rep["id"]


def test_racing_reps_create_one_company(platform: Platform, sales_team: dict[str, Any]) -> None:
    base = f"宁波海天{uuid.uuid4().hex[:4]}机械"
    phone = _phone()
    bodies = [
        (sales_team["a"]["token"], {"name": f"{base}有限公司", "kind": "company",
                                    "phone": phone}),
        (sales_team["b"]["token"], {"name": f" {base}  有限公司 ", "kind": "company",
                                    "phone": f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"}),
    ] * 4

    def create(item: tuple[str, dict[str, Any]]) -> httpx.Response:
        with platform.client(item[0]) as c:
            return c.post("/api/v1/customers", json=item[1])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, bodies))
    created = [r for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code == 409]
    assert len(created) == 1 and len(refused) == 7, [r.text for r in results]
    problem = refused[0].json()
    assert problem["code"] == "duplicate_customer"
    assert problem["owner"]["id"] == created[0].json()["owner_id"]
    assert problem["existing_customer_id"] == created[0].json()["id"]
    # a person may share a name with another person, but not a phone
    with platform.client(sales_team["a"]["token"]) as c:
        assert c.post("/api/v1/customers", json={"name": "张伟", "kind": "person"}
                      ).status_code == 201
        assert c.post("/api/v1/customers", json={"name": "张伟", "kind": "person"}
                      ).status_code == 201
        dup = c.post("/api/v1/customers", json={"name": "别人", "kind": "person", "phone": phone})
        assert dup.status_code == 409


def test_duplicate_names_the_owner_even_out_of_scope(platform: Platform,
                                                      sales_team: dict[str, Any]) -> None:
    name = f"深圳鹏程{uuid.uuid4().hex[:4]}电子有限公司"
    with platform.client(sales_team["a"]["token"]) as c:
        original = c.post("/api/v1/customers", json={"name": name, "kind": "company"}).json()
    with platform.client(sales_team["outsider"]["token"]) as c:
        r = c.post("/api/v1/customers", json={"name": name.replace("有限公司", " Co., Ltd."),
                                              "kind": "company"})
        assert r.status_code == 409
        assert r.json()["owner"] == {"id": sales_team["a"]["id"], "display_name": "李娜"}
        # but the customer itself stays invisible to the outsider
        assert c.get(f"/api/v1/customers/{original['id']}").status_code == 404
        assert c.patch(f"/api/v1/customers/{original['id']}", json={"industry": "x"}
                       ).status_code == 404


def test_scope_own_team_all(platform: Platform, sales_team: dict[str, Any]) -> None:
    with platform.client(sales_team["b"]["token"]) as c:
        mine = c.post("/api/v1/customers", json={"name": f"b-{uuid.uuid4().hex[:6]}",
                                                 "kind": "person"}).json()
    with platform.client(sales_team["a"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{mine['id']}").status_code == 404
        listed = c.get("/api/v1/customers", params={"limit": 500}).json()["items"]
        assert all((x["owner"] or {}).get("id") in (sales_team["a"]["id"], None)
                   for x in listed)
    with platform.client(sales_team["manager"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{mine['id']}").status_code == 200
        team_list = c.get("/api/v1/customers", params={
            "team_id": sales_team["team"]["id"], "limit": 500}).json()["items"]
        assert mine["id"] in {x["id"] for x in team_list}
    with platform.client(sales_team["outsider"]["token"]) as c:
        assert c.get(f"/api/v1/customers/{mine['id']}").status_code == 404
    with platform.admin() as c:
        assert c.get(f"/api/v1/customers/{mine['id']}").status_code == 200


def test_search_chinese_pinyin_initials_and_phone(platform: Platform,
                                                  sales_team: dict[str, Any]) -> None:
    phone = _phone()
    with platform.client(sales_team["a"]["token"]) as c:
        made = c.post("/api/v1/customers", json={"name": "张三木", "kind": "person",
                                                 "phone": phone}).json()
        for q in ("张三", "zhsm", "zhangsan", "zsm", phone[-8:], made["code"]):
            found = c.get("/api/v1/customers", params={"q": q}).json()["items"]
            assert made["id"] in {x["id"] for x in found}, q
        # a whole number finds the customer by its recorded phone, however it is typed
        for q in (phone, f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"+86 {phone}"):
            found = c.get("/api/v1/customers", params={"q": q}).json()["items"]
            assert [x["id"] for x in found] == [made["id"]], q


def test_search_pages_through_frequent_and_rare_terms(platform: Platform,
                                                      sales_team: dict[str, Any]) -> None:
    """Two-character Chinese terms (no trigram) and terms frequent enough that the newest
    rows fill a page page correctly, newest first, and miss nothing."""
    tag = uuid.uuid4().hex[:4]
    with platform.client(sales_team["a"]["token"]) as c:
        made = [c.post("/api/v1/customers", json={
            "name": f"翠湖{tag}{n}号", "kind": "person"}).json()["id"] for n in range(5)]
        c.post("/api/v1/customers", json={"name": f"别处{tag}", "kind": "person"})
        seen: list[str] = []
        cursor = None
        while True:
            params = {"q": f"翠湖{tag}", "limit": "2", **({"cursor": cursor} if cursor else {})}
            page = c.get("/api/v1/customers", params=params).json()
            seen += [x["id"] for x in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == made[::-1]
        two = [x["id"] for x in c.get("/api/v1/customers", params={"q": "翠湖", "limit": "500"})
               .json()["items"]]
        assert set(made) <= set(two)


def test_list_items_carry_the_summary_or_the_fields_asked_for(
        platform: Platform, sales_team: dict[str, Any]) -> None:
    """A page carries each customer's summary unless ``fields`` names what to show;
    ``*`` shows whole records, equal to a read of each; paging works whatever is shown."""
    tag = uuid.uuid4().hex[:6]
    with platform.client(sales_team["a"]["token"]) as c:
        made = [c.post("/api/v1/customers", json={
            "name": f"字段{tag}{n}有限公司", "kind": "company", "phone": _phone(),
            "tax_id": f"91{tag}{n}", "address": "环城路 1 号", "attributes": {"fleet": n},
            "region": {"province": "浙江", "city": "杭州"}}).json() for n in range(3)]
        search = {"q": f"字段{tag}"}
        summary = c.get("/api/v1/customers", params=search).json()["items"]
        assert [x["id"] for x in summary] == [m["id"] for m in made[::-1]]
        item, whole = summary[0], made[-1]
        assert set(item) == {"id", "code", "name", "kind", "phones", "emails", "industry",
                             "region", "owner", "in_pool", "status", "tags", "classification",
                             "version", "created_at", "updated_at"}
        assert set(item["classification"]) == {"tier", "lifecycle", "stage",
                                               "last_followup_at"}
        assert item["owner"] == whole["owner"] and item["region"] == whole["region"]
        assert item["version"] == whole["version"] and item["phones"] == whole["phones"]

        records = c.get("/api/v1/customers", params={**search, "fields": "*"}).json()["items"]
        for record in records:
            assert record == c.get(f"/api/v1/customers/{record['id']}").json()

        chosen = c.get("/api/v1/customers", params={
            **search, "fields": "name, tax_id,attributes,classification.tier"}).json()["items"]
        assert chosen[0] == {"id": whole["id"], "name": whole["name"],
                             "tax_id": whole["tax_id"], "attributes": {"fleet": 2},
                             "classification": {"tier": None}}

        # sorted by a field not shown: the cursor still carries its key
        seen, cursor = [], None
        while True:
            page = c.get("/api/v1/customers", params={
                **search, "sort": "name", "limit": "1", "fields": "code",
                **({"cursor": cursor} if cursor else {})}).json()
            assert all(set(x) == {"id", "code"} for x in page["items"])
            seen += [x["code"] for x in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == [m["code"] for m in made]

        r = c.get("/api/v1/customers", params={**search, "fields": "classification.score"})
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "classification.score" in r.text


def test_an_edited_cursor_is_a_bad_request(platform: Platform,
                                          sales_team: dict[str, Any]) -> None:
    """Cursors are opaque but travel through clients: one edited or taken from another
    list is a 400 problem, not a failure in the service."""
    from crm_platform.pagination import encode_cursor

    edited = [(["2026-01-01T00:00:00", "c-1"], "-created_at"),  # the offset dropped
              (["2026-01-01T00:00:00+00:00"], "-created_at"),   # a part missing
              (["2026-01-01T00:00:00+00:00"], "name"),
              ([17, "c-1"], "name")]                             # another list's key
    with platform.client(sales_team["a"]["token"]) as c:
        for key, sort in edited:
            r = c.get("/api/v1/customers", params={"cursor": encode_cursor(key), "sort": sort})
            assert r.status_code == 400, (key, sort, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "invalid_cursor"


def test_a_bad_query_parameter_is_a_validation_problem(platform: Platform,
                                                        sales_team: dict[str, Any]) -> None:
    """The gateway validates a list's query string itself (not through FastAPI's query
    models): the same 422 problem naming the parameter, and OpenAPI still lists them."""
    with platform.client(sales_team["a"]["token"]) as c:
        for params, field, kind in (({"limit": "many"}, "limit", "int_parsing"),
                                    ({"sort": "-owner"}, "sort", "literal_error"),
                                    ({"tier": "Z"}, "tier", "literal_error"),
                                    ({"color": "red"}, "color", "extra_forbidden"),
                                    ({"fields": "name;drop"}, "fields", "string_pattern_mismatch")):
            r = c.get("/api/v1/customers", params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            errors = r.json()["errors"]
            assert [(e["field"], e["location"], e["type"]) for e in errors] == \
                [(field, "query", kind)], params
        # a well-formed list naming no field: refused by the service, which knows the fields
        r = c.get("/api/v1/customers", params={"fields": "name,nmae"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_fields" and "nmae" in r.text
        assert c.get("/api/v1/customers", params={"limit": "2", "tier": "A"}).status_code == 200
        spec = c.get("/openapi.json").json()
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/customers"]["get"]["parameters"]}
    assert {"q", "sort", "limit", "cursor", "tier", "owner_id", "in_pool"} <= set(parameters)
    assert all(p["in"] == "query" and not p["required"] for p in parameters.values())
    assert "-created_at" in str(parameters["sort"]["schema"])


def test_pool_claim_race_has_one_winner(platform: Platform, sales_team: dict[str, Any]) -> None:
    with platform.client(sales_team["a"]["token"]) as c:
        customer = c.post("/api/v1/customers", json={"name": f"pool-{uuid.uuid4().hex[:6]}",
                                                     "kind": "person"}).json()
        released = c.post(f"/api/v1/customers/{customer['id']}/release")
        assert released.status_code == 200 and released.json()["in_pool"] is True
    claimants = [platform.new_user(["sales_rep"]) for _ in range(4)]

    def claim(i: int) -> httpx.Response:
        with platform.client(claimants[i % 4]["token"]) as c:
            return c.post(f"/api/v1/customers/{customer['id']}/claim")

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(claim, range(20)))
    winners = [r for r in results if r.status_code == 200]
    assert len(winners) == 1, [r.status_code for r in results]
    assert all(r.status_code == 409 for r in results if r.status_code != 200)
    with platform.admin() as c:
        final = c.get(f"/api/v1/customers/{customer['id']}").json()
        assert final["owner_id"] == winners[0].json()["owner_id"]
        owner_changes = [h for h in c.get(f"/api/v1/customers/{customer['id']}/history")
                         .json()["items"] if h["kind"] == "owner_changed"]
        assert [h["reason"] for h in owner_changes][:2] == ["claim", "release"]


def test_handover_moves_a_thousand_customers(platform: Platform) -> None:
    leaver = platform.new_user(["sales_rep"], display_name="离职者")
    successor = platform.new_user(["sales_rep"], display_name="接手人")
    _staff_known(platform, leaver["token"], leaver["id"])
    _staff_known(platform, successor["token"], successor["id"])

    def create(i: int) -> int:
        with platform.client(leaver["token"]) as c:
            return c.post("/api/v1/customers", json={
                "name": f"交接{i}-{uuid.uuid4().hex[:6]}", "kind": "person"}).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(create, range(1000))) == {201}
    with platform.admin() as c:
        r = c.post("/api/v1/customers/handover", json={"from_user_id": leaver["id"],
                                                        "to_user_id": successor["id"]})
        assert r.status_code == 200, r.text
        assert r.json()["moved"] >= 1000
        left = c.get("/api/v1/customers", params={"owner_id": leaver["id"]}).json()["items"]
        assert left == []
        page = c.get("/api/v1/customers", params={"owner_id": successor["id"], "limit": 500})
        assert len(page.json()["items"]) == 500 and page.json()["next_cursor"]


def test_deactivating_a_user_hands_their_customers_over(platform: Platform) -> None:
    leaver = platform.new_user(["sales_rep"])
    successor = platform.new_user(["sales_rep"])
    _staff_known(platform, leaver["token"], leaver["id"])
    _staff_known(platform, successor["token"], successor["id"])
    with platform.client(leaver["token"]) as c:
        made = c.post("/api/v1/customers", json={"name": f"离-{uuid.uuid4().hex[:6]}",
                                                 "kind": "person"}).json()
    with platform.admin() as c:
        assert c.post(f"/api/v1/users/{leaver['id']}/deactivate",
                      json={"successor_id": successor["id"]}).status_code == 200

        def moved() -> bool:
            return bool(c.get(f"/api/v1/customers/{made['id']}").json()["owner_id"]
                        == successor["id"])
        wait_until(moved, 20, "handover after user.deactivated")
