"""Duplicate candidates among existing customers (CUS-14) on PostgreSQL and SQLite:
shared numbers and addresses across customers and contacts, people of one name in one
place; scoped, and paged by what they share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from crm_platform.auth import Caller
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from services.customer.db import duplicates
from services.customer.db.models import Contact, Customer
from tests.support.infra import engine_fixture

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 1, tzinfo=UTC)
ADMIN = Caller(user_id="admin", scope="all")
REP = Caller(user_id="rep", scope="own")


def _customer(cid: str, name: str, kind: str = "company", owner: str | None = "rep",
              **extra: Any) -> dict[str, Any]:
    return {"id": cid, "code": cid.upper(), "name": name, "kind": kind, "owner_id": owner,
            "status": "active", "phones": [], "emails": [], "category_ids": [], "tags": [],
            "attributes": {}, "lifecycle": "new", "stage": "prospect",
            "volume_class": "occasional", "paid_revenue": 0, "paid_orders": 0,
            "last_activity_at": NOW, "search_text": "", "search_bigrams": [],
            "search_digit_grams": [], "search_letter_grams": [], "version": 1,
            "created_at": NOW, "updated_at": NOW, "province": None, "city": None, **extra}


def _population(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Customer), [
            _customer("a", "云帆科技", phones=["+8613800000001"]),
            _customer("b", "云帆(杭州)", emails=["Info@YunFan.cn"]),
            _customer("c", "王伟", "person", province="浙江", city="杭州"),
            _customer("d", " 王伟 ", "person", province="浙江", city="杭州", owner="other"),
            _customer("e", "王伟", "person", province="广东", city="广州"),
            _customer("f", "旧客户", status="merged", phones=["+8613800000001"]),
            _customer("g", "自己人", phones=["+8613900000009"]),
        ])
        conn.execute(insert(Contact), [
            {"id": f"k{i}", "customer_id": cid, "name": "联系人", "phones": phones,
             "emails": emails, "is_decision_maker": False, "marketing_opt_out": False,
             "version": 1, "created_at": NOW, "updated_at": NOW}
            for i, (cid, phones, emails) in enumerate([
                ("b", ["+8613800000001"], []),       # a's number on b's contact
                ("a", [], ["info@yunfan.cn"]),        # b's address on a's contact
                ("g", ["+8613900000009"], [])])])     # its own number: no candidate


engine = engine_fixture("customer", "crm_dups", _population)


def test_candidates_are_grouped_by_what_they_share(engine: Engine) -> None:
    with Session(engine) as s:
        found = duplicates.candidates(s, ADMIN, None, 10)
    assert found == [("email:info@yunfan.cn", ["a", "b"]),
                     ("person:王伟|浙江|杭州", ["c", "d"]),
                     ("phone:+8613800000001", ["a", "b"])]


def test_candidates_are_scoped_paged_and_per_customer(engine: Engine) -> None:
    with Session(engine) as s:
        # the rep does not see d: the same name in the same place is no candidate for them
        assert [k for k, _ in duplicates.candidates(s, REP, None, 10)] == [
            "email:info@yunfan.cn", "phone:+8613800000001"]
        first = duplicates.candidates(s, ADMIN, None, 1)
        rest = duplicates.candidates(s, ADMIN, first[-1][0], 10)
        assert [k for k, _ in first + rest] == [k for k, _ in
                                              duplicates.candidates(s, ADMIN, None, 10)]
        assert [k for k, _ in duplicates.candidates(s, ADMIN, None, 10, "c")] == [
            "person:王伟|浙江|杭州"]
