"""Customer list filters, sorts and cursors on PostgreSQL and SQLite, against the same
selection made in Python. List statements are built once per shape and reused with new
values, so every case runs twice with different values of the same shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from crm_platform.auth import Caller
from crm_platform.db import make_engine
from crm_platform.errors import NotFound
from sqlalchemy import Engine, Table, event, insert
from sqlalchemy.orm import Session

from services.customer.db import search
from services.customer.db.models import AccountTeamMember, Customer, CustomerKey
from services.customer.domain.search import search_windows
from tests.support.infra import migrated_engine

pytestmark = pytest.mark.integration

CUSTOMERS = cast(Table, Customer.__table__)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
OWNERS = ["u-a", "u-b", "u-c", None]
TEAMS = {"u-a": "t-1", "u-b": "t-1", "u-c": "t-2", None: None}
TIERS = ["A", "B", "C", None]


def _row(i: int) -> dict[str, Any]:
    owner = OWNERS[i % 4]
    text = f"kehu{i} {'华信 huaxin' if i % 4 else '其他 qita'} 1380013{i:04d}"
    return dict(
        id=f"c-{i:03d}", code=f"C{i:05d}", name=f"客户{(i * 7) % 60:02d}",
        kind="company" if i % 3 else "person", owner_id=owner, owner_team_id=TEAMS[owner],
        status="archived" if i % 13 == 0 else "active", tier=TIERS[i % 3],
        province="浙江" if i % 2 else "江苏", tags=["vip"] if i % 5 == 0 else ["new"],
        category_ids=[f"cat-{i % 2}"], created_at=T0 + timedelta(hours=i // 2),
        updated_at=T0 + timedelta(hours=60 - i // 3),
        search_text=text, **search_windows(text))


ROWS = [_row(i) for i in range(60)]


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    url = None if request.param == "postgresql" else \
        f"sqlite:///{tmp_path_factory.mktemp('list') / 'customer.db'}"
    with migrated_engine("customer", "crm_list_filters", url) as engine:
        with engine.begin() as conn:
            conn.execute(insert(CUSTOMERS), ROWS)
            conn.execute(insert(cast(Table, CustomerKey.__table__)),
                         [{"key": "phone:+8613800130007", "customer_id": "c-007"}])
            conn.execute(insert(cast(Table, AccountTeamMember.__table__)),
                         [{"customer_id": "c-002", "user_id": "u-a"}])
        yield engine


ADMIN = Caller.system("admin")
REP_A = Caller(user_id="u-a", roles=["sales_rep"], scope="own")


def _all_pages(engine: Engine, caller: Caller, query: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    cursor = None
    with Session(engine) as s:
        while True:
            rows, cursor = search.list_customers(
                s, caller, {**query, "limit": 4, **({"cursor": cursor} if cursor else {})})
            seen += [r.id for r in rows]
            if cursor is None:
                return seen


def _expected(keep: Callable[[dict[str, Any]], bool], sort: str = "-created_at",
              archived: bool = False) -> list[str]:
    key = sort.lstrip("-")
    chosen = [r for r in ROWS if (archived or r["status"] == "active") and keep(r)]
    chosen.sort(key=lambda r: (r[key], r["id"]), reverse=sort.startswith("-"))
    return [r["id"] for r in chosen]


CASES: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool], dict[str, Any],
                  Callable[[dict[str, Any]], bool]]] = [
    ("owner", {"owner_id": "u-a"}, lambda r: r["owner_id"] == "u-a",
     {"owner_id": "u-c"}, lambda r: r["owner_id"] == "u-c"),
    ("team", {"team_id": "t-1"}, lambda r: r["owner_team_id"] == "t-1",
     {"team_id": "t-2"}, lambda r: r["owner_team_id"] == "t-2"),
    ("tier and kind", {"tier": "A", "kind": "company"},
     lambda r: r["tier"] == "A" and r["kind"] == "company",
     {"tier": "B", "kind": "person"}, lambda r: r["tier"] == "B" and r["kind"] == "person"),
    ("tag", {"tag": "vip"}, lambda r: "vip" in r["tags"],
     {"tag": "new"}, lambda r: "new" in r["tags"]),
    ("category and province", {"category_id": "cat-0", "province": "江苏"},
     lambda r: r["category_ids"] == ["cat-0"] and r["province"] == "江苏",
     {"category_id": "cat-1", "province": "浙江"},
     lambda r: r["category_ids"] == ["cat-1"] and r["province"] == "浙江"),
    ("pool", {"in_pool": True}, lambda r: r["owner_id"] is None,
     {"in_pool": False}, lambda r: r["owner_id"] is not None),
    ("term", {"q": "huaxin"}, lambda r: "huaxin" in r["search_text"],
     {"q": "qita"}, lambda r: "qita" in r["search_text"]),
    ("term with digits", {"q": "kehu1"}, lambda r: "kehu1" in r["search_text"],
     {"q": "hu2"}, lambda r: "hu2" in r["search_text"]),
    ("term and tag", {"q": "huaxin", "tag": "vip"},
     lambda r: "huaxin" in r["search_text"] and "vip" in r["tags"],
     {"q": "qita", "tag": "new"}, lambda r: "qita" in r["search_text"] and "new" in r["tags"]),
    ("two chinese characters", {"q": "华信"}, lambda r: "华信" in r["search_text"],
     {"q": "其他"}, lambda r: "其他" in r["search_text"]),
    ("part of a number", {"q": "00130007"}, lambda r: "00130007" in r["search_text"],
     {"q": "0130"}, lambda r: "0130" in r["search_text"]),
    ("phone", {"q": "138-0013-0007"}, lambda r: r["id"] == "c-007",
     {"q": "13800139999"}, lambda r: False),
]


@pytest.fixture(params=["rare", "common"])
def terms(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Whether PostgreSQL's estimate makes every term rare (matches sorted after, in a
    prepared statement) or common (one statement planned per call; for a scoped
    caller, the walk per source of visibility)."""
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE",
                        float("inf") if request.param == "rare" else 0.0)
    monkeypatch.setattr(search, "WALK_WORTH_AVOIDING", 0)
    search._ESTIMATES.clear()
    return str(request.param)


@pytest.mark.parametrize("sort", ["-created_at", "name", "-updated_at"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_filters_sorts_and_cursors_as_selected_in_python(engine: Engine, case: Any,
                                                         sort: str, terms: str) -> None:
    _, first, keep_first, second, keep_second = case
    assert _all_pages(engine, ADMIN, {**first, "sort": sort}) == _expected(keep_first, sort)
    # same shape, other values: the kept statement must take the new ones
    assert _all_pages(engine, ADMIN, {**second, "sort": sort}) == _expected(keep_second, sort)


def test_archived_included_on_request(engine: Engine) -> None:
    assert _all_pages(engine, ADMIN, {"include_archived": True, "tier": "C"}) == \
        _expected(lambda r: r["tier"] == "C", archived=True)


def test_a_rep_sees_own_pool_and_account_team(engine: Engine, terms: str) -> None:
    rep_b = Caller(user_id="u-b", roles=["sales_rep"], scope="own")
    assert _all_pages(engine, REP_A, {"q": "huaxin"}) == _expected(
        lambda r: "huaxin" in r["search_text"] and (r["owner_id"] in ("u-a", None)
                                                    or r["id"] == "c-002"))
    assert _all_pages(engine, rep_b, {"q": "huaxin"}) == _expected(
        lambda r: "huaxin" in r["search_text"] and r["owner_id"] in ("u-b", None))


def test_statements_are_kept_per_shape(engine: Engine) -> None:
    search._LIST_STATEMENTS.clear()
    _all_pages(engine, ADMIN, {"tier": "A"})
    _all_pages(engine, ADMIN, {"tier": "B"})
    # first pages and cursor pages: two shapes for any number of values and pages
    assert len(search._LIST_STATEMENTS) == 2


def test_searches_are_prepared_on_postgresql(engine: Engine, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    """The cases above ran these shapes; here they must have been the prepared ones
    (planned once per connection) on PostgreSQL, and plain statements on SQLite."""
    prepared: list[Any] = []
    execute = search.execute_prepared
    monkeypatch.setattr(search, "execute_prepared",
                        lambda conn, stmt, params: prepared.append(stmt) or execute(
                            conn, stmt, params))
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", float("inf"))  # all rare
    search._LIST_STATEMENTS.clear()
    for caller, q in ((ADMIN, "huaxin"), (ADMIN, "华信"), (REP_A, "huaxin"),
                      (ADMIN, "13800130007"), (ADMIN, "1380013"), (ADMIN, "kehu1"),
                      (REP_A, "kehu1")):
        _all_pages(engine, caller, {"q": q})
    shapes = {(shape.search, shape.rare, shape.scoped, shape.prepared)
              for shape in search._LIST_STATEMENTS}
    if engine.dialect.name == "postgresql":
        # huaxin, kehu1: letter windows; 华信: two-character ones; 1380013: digit ones
        assert shapes == {("windows", True, False, True), ("windows", True, True, True),
                          ("phone", False, False, True)}
        assert prepared
    else:
        assert not prepared and not any(shape[3] for shape in shapes)


def test_prepared_statements_can_be_turned_off(engine: Engine,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a pooler in transaction mode a connection does not keep what was prepared
    on it: ``CRM_DB_PREPARED_STATEMENTS=false`` runs the same statements plainly."""
    if engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", float("inf"))  # all rare
    plain = make_engine(engine.url, pool_size=1, prepared_statements=False)
    sent: list[str] = []
    event.listen(plain, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: sent.append(statement))
    try:
        assert _all_pages(plain, ADMIN, {"q": "huaxin"}) == \
            _expected(lambda r: "huaxin" in r["search_text"])
        assert sent and not any(s.startswith(("PREPARE", "EXECUTE")) for s in sent)
    finally:
        plain.dispose()


def test_only_connections_that_prepare_statements_plan_them_generically(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines keep PostgreSQL's default plan_cache_mode (the other services prepare
    nothing); a connection that prepares the customer service's statements runs them on
    their generic plan, also after a transaction that set it was rolled back."""
    if engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    monkeypatch.setattr(search, "FREQUENT_TERM_SHARE", float("inf"))  # all rare: prepared
    fresh = make_engine(engine.url, pool_size=1)

    def mode(s: Session) -> str:
        return str(s.connection().exec_driver_sql("SHOW plan_cache_mode").scalar_one())

    try:
        with Session(fresh) as s:  # a transaction, rolled back at the end
            assert mode(s) == "auto"
            search.list_customers(s, ADMIN, {"q": "huaxin"})
            assert mode(s) == "force_generic_plan"
        with Session(fresh) as s:  # the same connection: set again on its next use
            assert mode(s) == "auto"
            search.list_customers(s, ADMIN, {"q": "huaxin"})  # prepared already
            assert mode(s) == "force_generic_plan"
    finally:
        fresh.dispose()


def test_a_customer_is_read_by_id_within_the_callers_scope(engine: Engine) -> None:
    # (prepared on PostgreSQL, the owners as one array; a plain statement on SQLite)
    with Session(engine) as s:
        for _ in range(2):  # the second time on a connection that has it prepared
            row, owner_name = search.get_visible_with_owner_name(s, ADMIN, "c-005")
            assert (row.id, row.owner_id, owner_name) == ("c-005", "u-b", None)
            assert search.get_visible_with_owner_name(s, REP_A, "c-004")[0].id == "c-004"
            assert search.get_visible_with_owner_name(s, REP_A, "c-003")[0].id == "c-003"
            assert search.get_visible_with_owner_name(s, REP_A, "c-002")[0].id == "c-002"
            with pytest.raises(NotFound):
                search.get_visible_with_owner_name(s, REP_A, "c-005")  # u-b's
