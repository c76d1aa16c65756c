"""A scoped caller's search for a common term is answered per source of visibility (each
owner in scope, the pool, account teams) instead of one statement with an OR; both
statements must give the same pages, in the same order, with the same cursors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from crm_platform.auth import Caller
from crm_platform.db import make_engine
from sqlalchemy import Engine, Table, event, insert
from sqlalchemy.orm import Session

from services.customer.db import search
from services.customer.db.models import AccountTeamMember, Customer
from services.customer.domain import search as terms
from services.customer.domain.list_fields import SUMMARY
from services.customer.domain.search import search_windows
from tests.support.infra import migrated_engine

pytestmark = pytest.mark.integration

CUSTOMERS = cast(Table, Customer.__table__)
TEAM = cast(Table, AccountTeamMember.__table__)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
REP, PEER, MANAGER, OTHER = "u-rep", "u-peer", "u-manager", "u-other"


def _searchable(text: str) -> dict[str, Any]:
    return {"search_text": text, **search_windows(text)}


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with migrated_engine("customer", "crm_search_plans") as engine:
        owners = [REP, PEER, MANAGER, OTHER, None]
        with engine.begin() as conn:
            rows = []
            for i in range(90):
                rows.append(dict(
                    id=f"c-{i:03d}", code=f"C{i:05d}", name=f"客户{i}", kind="company",
                    owner_id=owners[i % 5], status="archived" if i % 17 == 0 else "active",
                    # ties on created_at: the id decides, in both statements alike
                    created_at=T0 + timedelta(hours=i // 3),
                    **_searchable(f"kehu{i} {'tongyong' if i % 4 else 'qita'}")))
            conn.execute(insert(CUSTOMERS), rows)
            # the rep is on the account team of two of another owner's customers
            conn.execute(insert(TEAM), [{"customer_id": "c-003", "user_id": REP},
                                        {"customer_id": "c-008", "user_id": REP}])
        yield engine


CALLERS = {
    "rep": Caller(user_id=REP, roles=["sales_rep"], scope="own"),
    "manager": Caller(user_id=MANAGER, roles=["sales_manager"], scope="team",
                      member_ids=[REP, PEER]),
}


def _pages(engine: Engine, caller: Caller, query: dict[str, Any],
           columns: frozenset[str] | None = None) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    with Session(engine) as s:
        while True:
            rows, cursor = search.list_customers(
                s, caller, {**query, "limit": 7, **({"cursor": cursor} if cursor else {})},
                columns)
            if rows and columns is not None:  # the summary's width: its columns only
                assert columns <= set(rows[0]._fields) and "tax_id" not in rows[0]._fields
            pages.append([r.id for r in rows])
            if cursor is None:
                return pages


@pytest.mark.parametrize("who", sorted(CALLERS))
@pytest.mark.parametrize("sort", ["-created_at", "created_at"])
@pytest.mark.parametrize("columns", [None, SUMMARY.columns], ids=["whole", "summary"])
def test_per_source_pages_equal_the_single_statement(
        engine: Engine, who: str, sort: str, columns: frozenset[str] | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caller = CALLERS[who]
    query = {"q": "tongyong", "sort": sort}
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", 2.0)  # never: one statement
    single = _pages(engine, caller, query, columns)
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", 0.0)  # always: per source
    monkeypatch.setattr(search, "WALK_WORTH_AVOIDING", 0)
    taken = []
    by_source = search._page_by_source
    monkeypatch.setattr(search, "_page_by_source",
                        lambda *a: taken.append(1) or by_source(*a))
    per_source = _pages(engine, caller, query, columns)
    assert taken and per_source == single

    seen = [cid for page in single for cid in page]
    visible = set(caller.visible_owner_ids() or ())
    expected = [f"c-{i:03d}" for i in range(90) if i % 4 and i % 17
                and ([REP, PEER, MANAGER, OTHER, None][i % 5] in visible | {None}
                     or (who == "rep" and i in (3, 8)))]
    key = {f"c-{i:03d}": (T0 + timedelta(hours=i // 3), f"c-{i:03d}") for i in range(90)}
    assert seen == sorted(expected, key=key.__getitem__, reverse=sort.startswith("-"))


def test_the_estimate_tells_common_from_rare_terms(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE customers")
    search._ESTIMATES.clear()
    with Session(engine) as s:
        common = search.term_share(s, "%tongyong%")
        rare = search.term_share(s, "%kehu42%")
    # (90 rows: one row is already 1.1 %, so "rare" is relative here)
    assert common > search.FREQUENT_TERM_SHARE and rare < common / 10


@pytest.mark.parametrize("rare", [True, False], ids=["rare term", "common term"])
def test_a_term_of_three_letters_is_looked_up_by_the_windows_that_hold_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, rare: bool) -> None:
    # "zsm" is a run of its own ("zsm", kept whole), or the start or end of a longer
    # run's four-letter window ("zsmx", "azsm"); "zs m" and "zsx" are not matches
    rows = {"h-1": "zhangsanmu zsm", "h-2": "azsmb", "h-3": "zs m", "h-4": "qzsm8",
            "h-5": "zsx zszs", "h-6": "c1zsmq2"}
    with _customers(engine, rows):
        # a rare term's matches are sorted in a statement planned once; a common one's not
        monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", float("inf") if rare else 0.0)
        search._LIST_STATEMENTS.clear()
        pages = _pages(engine, Caller.system("admin"), {"q": "ZSM"})
        assert [cid for page in pages for cid in page] == ["h-6", "h-4", "h-2", "h-1"]
        assert [(shape.search, shape.windows, shape.rare, shape.prepared)
                for shape in search._LIST_STATEMENTS] == [
            ("windows", (("search_letter_grams", "overlaps"),), rare, rare)]


def test_a_chinese_term_is_looked_up_by_its_two_character_windows(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {"h-1": "南通海同科技", "h-2": "南通 海同", "h-3": "海同南通", "h-4": "xx南通海同"}
    with _customers(engine, rows):
        monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", float("inf"))  # rare
        search._LIST_STATEMENTS.clear()
        pages = _pages(engine, Caller.system("admin"), {"q": "南通海同"})
        assert [cid for page in pages for cid in page] == ["h-4", "h-1"]
        assert [(shape.search, shape.windows) for shape in search._LIST_STATEMENTS] == [
            ("windows", (("search_bigrams", "contains"),))]


def test_a_term_without_windows_is_tested_on_every_customer(engine: Engine) -> None:
    rows = {"h-1": "li@qq.com", "h-2": "li qq", "h-3": "wangli@qq.com"}
    with _customers(engine, rows):
        search._LIST_STATEMENTS.clear()
        pages = _pages(engine, Caller.system("admin"), {"q": "li@qq"})
        assert [cid for page in pages for cid in page] == ["h-3", "h-1"]
        assert [shape.search for shape in search._LIST_STATEMENTS] == ["like"]


@pytest.mark.parametrize("who", ["admin", "rep"])
def test_a_term_of_letters_is_looked_up_by_its_letter_windows(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    # the ends "hait" and "tong" are looked up and "haitong" tested on each candidate: a
    # match across words ("hai tong") or a near miss ("haitonx", "haitxtong") is not one
    rows = {"h-1": "gongsi haitong", "h-2": "zhaitong", "h-3": "haitonx", "h-4": "hai tong",
            "h-5": "haitong qita", "h-6": "haitxtong"}
    assert terms.term_lookup("haitong") == terms.TermLookup(
        (("search_letter_grams", ("hait", "tong")),), ())
    with _customers(engine, rows):
        monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", float("inf"))  # rare
        search._LIST_STATEMENTS.clear()
        pages = _pages(engine, CALLERS.get(who, Caller.system("admin")), {"q": "haitong"})
        assert [cid for page in pages for cid in page] == (
            ["h-5", "h-2", "h-1"] if who == "admin" else [])  # OTHER's, not the rep's
        assert [(shape.search, shape.windows, shape.rare, shape.prepared)
                for shape in search._LIST_STATEMENTS] == [
            ("windows", (("search_letter_grams", "contains"),), True, True)]


@contextmanager
def _customers(engine: Engine, rows: dict[str, str]) -> Iterator[None]:
    """Customers of OTHER with these search texts, for one test."""
    with engine.begin() as conn:
        conn.execute(insert(CUSTOMERS), [dict(
            id=cid, code=f"H{n}", name=f"海同{n}", kind="company", owner_id=OTHER,
            status="active", created_at=T0 + timedelta(days=10, hours=n), **_searchable(text))
            for n, (cid, text) in enumerate(rows.items())])
        conn.exec_driver_sql("ANALYZE customers")
    search._ESTIMATES.clear()
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(CUSTOMERS.delete().where(CUSTOMERS.c.id.in_(rows)))
        search._ESTIMATES.clear()


def test_a_common_term_for_everyone_walks_the_newest_customers_in_a_prepared_statement(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = Caller.system("admin")
    query = {"q": "tongyong"}
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", 2.0)  # never common
    expected = _pages(engine, admin, query)
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", 0.0)  # always common
    monkeypatch.setattr(search, "WALK_WORTH_AVOIDING", 0)
    search._LIST_STATEMENTS.clear()
    assert _pages(engine, admin, query) == expected
    assert [(shape.search, shape.scoped, shape.prepared)
            for shape in search._LIST_STATEMENTS] == [("contains", False, True)] * 2  # + cursor
    # with a filter the planner weighs the term against it: planned per call
    search._LIST_STATEMENTS.clear()
    _pages(engine, admin, {**query, "kind": "company"})
    assert {(shape.search, shape.prepared) for shape in search._LIST_STATEMENTS} == \
        {("windows", False)}


def _planned(engine: Engine, caller: Caller, query: dict[str, Any], settings: str
             ) -> tuple[list[str], dict[str, Any]]:
    """The ids of the first page of ``list_customers`` and the plan of the statement it
    ran, prepared on a connection of its own with ``settings``: a table this small is
    otherwise read whole, or in the order of any index (a page of 3 rows needs no sort),
    where a million customers are not."""
    fresh = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    ran: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any,
                _many: bool) -> None:
        ran.append((statement, parameters))

    search._LIST_STATEMENTS.clear()
    try:
        with fresh.connect() as conn, Session(bind=conn) as s:
            conn.exec_driver_sql(settings)
            event.listen(conn, "before_cursor_execute", capture)
            found, _ = search.list_customers(s, caller, query)
            event.remove(conn, "before_cursor_execute", capture)
            statement, parameters = ran[-1]
            assert statement.startswith("EXECUTE")  # the prepared statement's own plan
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}",
                                        parameters).scalar_one()
    finally:
        fresh.dispose()
    return [r.id for r in found], plan[0]["Plan"]


def _nodes(node: dict[str, Any], above: tuple[str, ...] = ()
           ) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
    """Each node of a plan with the node types above it."""
    yield node, above
    for child in node.get("Plans", ()):
        yield from _nodes(child, (*above, node["Node Type"]))


@pytest.mark.parametrize("sort", ["-created_at", "created_at"])
def test_the_pool_is_merged_in_its_own_order(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, sort: str) -> None:
    # a scoped search for a common term takes from the pool only what the page needs:
    # the pool's branch walks its index in the page's order, nothing sorts it whole
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", 0.0)
    monkeypatch.setattr(search, "WALK_WORTH_AVOIDING", 0)
    found, plan = _planned(engine, CALLERS["rep"], {"q": "tongyong", "sort": sort},
                           "SET enable_seqscan = off; SET enable_bitmapscan = off")
    pages = _pages(engine, CALLERS["rep"], {"q": "tongyong", "sort": sort})
    assert found == [cid for page in pages for cid in page][:50]
    pool = [above for node, above in _nodes(plan)
            if node.get("Index Name") == "ix_customers_pool_created"]
    assert len(pool) == 1, plan
    merged = pool[0][pool[0].index("Merge Append"):]
    assert not {"Sort", "Incremental Sort"} & set(merged), merged
