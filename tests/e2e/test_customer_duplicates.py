"""Duplicates among existing customers (issue #28): they can be listed — scoped and paged
like every list — and merging a record merged already says so, naming its survivor."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.sales_support import _ok
from tests.support.platform import Platform
from tests.support.problems import expect_problem


def _mobile() -> str:
    return f"+86137{uuid.uuid4().int % 10 ** 8:08d}"


def test_duplicate_candidates_are_listed_and_merged_once(platform: Platform,
                                                          org: dict[str, Any]) -> None:
    rep, other, manager = org["rep"], org["other"], org["manager"]
    phone, tag = _mobile(), uuid.uuid4().hex[:6]
    with platform.client(rep["token"]) as c:
        first = _ok(c.post("/api/v1/customers", json={
            "name": f"重复甲{tag}有限公司", "kind": "company", "phone": phone}), 201)
        second = _ok(c.post("/api/v1/customers", json={
            "name": f"重复乙{tag}有限公司", "kind": "company"}), 201)
        # the guard lets it in: the number is a contact's, not the customer's own
        _ok(c.post(f"/api/v1/customers/{second['id']}/contacts",
                   json={"name": "采购", "phones": [phone]}), 201)
        mine = _ok(c.get("/api/v1/customers/duplicates",
                         params={"customer_id": first["id"]}))
        assert [(d["matched_on"], d["value"], sorted(x["id"] for x in d["customers"]))
                for d in mine["items"]] == [("phone", phone,
                                             sorted([first["id"], second["id"]]))]
        assert {x["name"] for x in mine["items"][0]["customers"]} == {first["name"],
                                                                     second["name"]}
        # paged like every list: one at a time, each candidate once
        seen, cursor = [], None
        while True:
            page = _ok(c.get("/api/v1/customers/duplicates",
                             params={"limit": 1, **({"cursor": cursor} if cursor else {})}))
            assert len(page["items"]) <= 1
            seen += [(d["matched_on"], d["value"]) for d in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert ("phone", phone) in seen and len(seen) == len(set(seen))
        expect_problem(c.get("/api/v1/customers/duplicates", params={"limit": 0}), 422)
    with platform.client(other["token"]) as c:  # out of scope: nothing of the rep's
        theirs = _ok(c.get("/api/v1/customers/duplicates",
                           params={"customer_id": first["id"]}))
        assert theirs["items"] == []
    with platform.client(manager["token"]) as c:
        _ok(c.post("/api/v1/customers/merge",
                   json={"survivor_id": first["id"], "merged_id": second["id"]}))
        assert _ok(c.get("/api/v1/customers/duplicates",
                         params={"customer_id": first["id"]}))["items"] == []
        third = _ok(c.post("/api/v1/customers", json={
            "name": f"重复丙{tag}有限公司", "kind": "company"}), 201)
        for body in ({"survivor_id": first["id"], "merged_id": second["id"]},
                     {"survivor_id": second["id"], "merged_id": third["id"]}):
            problem = expect_problem(c.post("/api/v1/customers/merge", json=body), 409,
                                     "already_merged")
            assert problem["survivor_id"] == first["id"]
            assert problem["customer_id"] == second["id"]
