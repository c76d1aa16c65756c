"""Which customers a caller sees, and pages of them: the visibility rule (CUS-08), a
customer read with its owner's name, and lists by filters, segments and search terms.

A search term (``domain.search``) is found by the customer's recorded phone number, by
its windows in the GIN-indexed window arrays (migration 0009), or, for a term with no
window, by testing the search text of the customers in order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import execute_prepared, is_postgres
from crm_platform.errors import NotFound
from crm_platform.pagination import clamp_limit, decode_cursor, encode_cursor
from sqlalchemy import (
    Float,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.customer.db.models import (
    AccountTeamMember,
    Customer,
    CustomerKey,
    SegmentRow,
    Staff,
)
from services.customer.domain.list_fields import OWNER_NAME_COLUMN, SUMMARY
from services.customer.domain.search import normalize_query, term_lookup, whole_phone_number
from services.customer.domain.segments import column_of, field_kind, path_of
from services.customer.domain.segments import number as segment_number

_customers = Customer.__table__
_staff = Staff.__table__
_account_team = AccountTeamMember.__table__


# -- the visibility rule -----------------------------------------------------------------
@dataclass(frozen=True)
class Visibility:
    """The customers a caller sees, by where the right comes from: owned by someone in
    the caller's scope, in the public pool, or on an account team with the caller."""

    in_scope: Any
    in_pool: Any
    on_team: Any

    @property
    def rule(self) -> Any:
        return or_(self.in_scope, self.in_pool, self.on_team)


def visibility(*, owners_array: bool = False) -> Visibility:
    """The visibility rule (CUS-08) of the caller the statement is run for, whose values
    go in as the parameters ``owners`` (the owners in their scope) and ``user_id``.
    ``owners_array``: ``owners`` is one PostgreSQL array (``= ANY``), as a prepared
    statement needs, instead of an expanding ``IN`` list."""
    c = _customers.c
    owners = (bindparam("owners", type_=ARRAY(String)) if owners_array
              else bindparam("owners", expanding=True))
    on_team = select(_account_team.c.customer_id).where(
        _account_team.c.user_id == bindparam("user_id"))
    return Visibility(in_scope=c.owner_id == any_(owners) if owners_array
                      else c.owner_id.in_(owners),
                      in_pool=c.owner_id.is_(None), on_team=c.id.in_(on_team))


def visibility_params(caller: Caller) -> dict[str, Any] | None:
    """The values of ``visibility``'s parameters for ``caller``; None when the caller
    sees every customer."""
    owners = caller.visible_owner_ids()
    return None if owners is None else {"owners": sorted(owners), "user_id": caller.user_id}


def visible(query: Select[Any], caller: Caller) -> Select[Any]:
    """``query`` narrowed to the customers ``caller`` sees."""
    params = visibility_params(caller)
    return query if params is None else query.where(visibility().rule).params(params)


# -- a customer as lists show it ------------------------------------------------------------
# The hot read path uses prebuilt Core statements: building a 60-column select per call
# and computing its cache key was a quarter of the service's CPU per read.
# What a customer read needs: every column shown (not the search document and its windows,
# the longest ones, only ever matched in SQL, nor the pool rule's last activity), plus the
# owner's name from the staff copy in the same statement.
_SHOWN = [c for c in _customers.columns
          if not c.key.startswith("search_") and c.key != "last_activity_at"]


def _with_owner(columns: Sequence[Any]) -> Select[Any]:
    return (select(*columns, _staff.c.display_name.label(OWNER_NAME_COLUMN))
            .select_from(_customers.outerjoin(_staff, _staff.c.id == _customers.c.owner_id)))


_WITH_OWNER = _with_owner(_SHOWN)
# A page whose fields are all among a list's summary reads only those columns (and the
# sort keys): every column of every row is parsed by psycopg2 and sent on (summaries
# cost a 50-row page about a seventh less CPU than whole records). Two widths only,
# whatever fields are asked for, so that the statements (each prepared on every
# connection) stay few.
_NARROW_COLUMNS = frozenset({*SUMMARY.columns, "id", "name", "created_at", "updated_at"})
_NARROW_WITH_OWNER = _with_owner([c for c in _SHOWN if c.key in _NARROW_COLUMNS])
_READ = _WITH_OWNER.where(_customers.c.id == bindparam("customer_id"))
_READ_SCOPED = _READ.where(visibility().rule)
_READ_SCOPED_ARRAY = _READ.where(visibility(owners_array=True).rule)


def get_visible_with_owner_name(s: Session, caller: Caller, customer_id: str
                                ) -> tuple[Any, str | None]:
    """The customer row and its owner's name in one round trip (a Core row)."""
    params = visibility_params(caller)
    connection = s.connection()
    # a lookup by key: the same plan for every id, so prepared (planning was a third of
    # PostgreSQL's time for this read)
    if params is None:
        row = execute_prepared(connection, _READ, {"customer_id": customer_id}).first()
    else:
        params["customer_id"] = customer_id
        row = (execute_prepared(connection, _READ_SCOPED_ARRAY, params) if is_postgres(s)
               else connection.execute(_READ_SCOPED, params)).first()
    if row is None:
        raise NotFound("customer not found", code="customer_not_found")
    return row, row.owner_display_name


# -- lists ------------------------------------------------------------------------------------
SORTS = {
    "name": (Customer.name, False), "-name": (Customer.name, True),
    "created_at": (Customer.created_at, False), "-created_at": (Customer.created_at, True),
    "updated_at": (Customer.updated_at, False), "-updated_at": (Customer.updated_at, True),
}
_EQUAL_FILTERS = {"owner_id": "owner_id", "team_id": "owner_team_id", "kind": "kind",
                  "province": "province", "city": "city", "industry": "industry",
                  "tier": "tier", "lifecycle": "lifecycle", "stage": "stage"}
_ARRAYS = {"tag": "tags", "category_id": "category_ids"}
# the window arrays a term is looked up in (domain.search.term_lookup), by column name
_WINDOW_ARRAYS = {name: sql_column(name, ARRAY(Text)) for name in (
    "search_bigrams", "search_digit_grams", "search_letter_grams")}


@dataclass(frozen=True)
class _ListShape:
    """What a list statement looks like apart from its values: statements are built once
    per shape, values go in as parameters. Building the statement and computing its
    cache key on every call was most of the service's CPU per search."""

    postgres: bool
    active_only: bool
    filters: tuple[str, ...]
    in_pool: bool | None
    tag: bool
    category: bool
    search: str | None  # phone | windows | like | contains
    # windows: the arrays looked up, as (column, "contains" | "overlaps") pairs
    windows: tuple[tuple[str, str], ...]
    rare: bool  # a term PostgreSQL estimates in few customers: matches sorted after
    sort: str
    after: bool
    scoped: bool
    owner_branches: int | None  # per source: owners walked one by one (0: one IN branch)
    narrow: bool  # the summary's columns only (``_NARROW_WITH_OWNER``)

    @property
    def prepared(self) -> bool:
        """Planned once per connection (``execute_prepared``): a rare term is looked up
        in an index and its matches sorted, the same plan for every such term; so is a
        lookup by phone and the walk of the newest customers for a common term (per
        source of visibility, or everyone's). What else depends on the values (a common
        term with filters, filters alone) is planned per call."""
        return self.postgres and (self.rare or self.search in ("phone", "contains"))


_LIST_STATEMENTS: dict[_ListShape, Select[Any]] = {}


def list_customers(s: Session, caller: Caller, q: dict[str, Any],
                   columns: frozenset[str] | None = None) -> tuple[list[Any], str | None]:
    """A page of Core rows with at least ``columns`` (all shown ones when None) and
    ``owner_display_name``: building ORM objects for a 50-row page cost more than the
    search itself."""
    postgres = is_postgres(s)
    size = clamp_limit(q.get("limit"))
    params: dict[str, Any] = {"page_limit": size + 1}
    filters = tuple(name for name in _EQUAL_FILTERS if q.get(name) is not None)
    for name in filters:
        params[f"f_{name}"] = q[name]
    for name in ("tag", "category_id"):
        if q.get(name):
            # JSONB containment on PostgreSQL takes an array; SQLite compares elements
            params[name] = [q[name]] if postgres else q[name]
    extra: list[Any] = []
    if q.get("segment_id"):
        segment = s.get(SegmentRow, q["segment_id"])
        if segment is None:
            raise NotFound("segment not found", code="segment_not_found")
        extra.append(segment_clause(s, segment.conditions))
    search: str | None = None
    windowed: list[tuple[str, str]] = []
    common = False  # a term PostgreSQL estimates in FREQUENT_TERM_SHARE or more
    phone = whole_phone_number(q["q"]) if q.get("q") else None
    if phone is not None:  # by the recorded number: the duplicate guard's phone key
        search, params["phone_key"] = "phone", f"phone:{phone}"
    elif q.get("q"):
        term = normalize_query(q["q"]).replace(" ", "")
        if term:
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            params["pattern"], params["term"] = pattern, term
            common = postgres and term_share(s, pattern) >= FREQUENT_TERM_SHARE
            lookup = term_lookup(term) if postgres else None
            if lookup is not None:
                # looked up in the window arrays, tested after
                search = "windows"
                for kind, pairs in (("contains", lookup.contains),
                                    ("overlaps", lookup.overlaps)):
                    for column, windows in pairs:
                        windowed.append((column, kind))
                        params[f"{kind}_{column}"] = list(windows)
            else:
                # no window to look up (SQLite, or a term such as one Chinese character)
                search = "like"
    sort = q.get("sort") or "-created_at"
    column, _ = SORTS[sort]
    after = decode_cursor(q.get("cursor"), datetime if column.key in ("created_at", "updated_at")
                          else str, str)
    if after:
        params["after_value"], params["after_id"] = after
    scope = visibility_params(caller)
    owner_branches: int | None = None
    if scope is not None:
        params.update(scope)
    walk = (common and column.key == "created_at"
            and customers_estimate(s) >= WALK_WORTH_AVOIDING)
    if walk and scope is not None:
        search = "contains"
        owner_branches = len(scope["owners"]) if len(scope["owners"]) <= OWN_BRANCHES_MAX else 0
        for i, owner in enumerate(scope["owners"] if owner_branches else ()):
            params[f"owner_{i}"] = owner
    elif walk and not (filters or extra or q.get("tag") or q.get("category_id")
                       or q.get("in_pool") is not None):
        # everyone's newest customers, tested one by one: the walk's plan does not
        # depend on the term, so it is prepared (planning it per call with the term's
        # estimate was a quarter of the search's time in the database)
        search = "contains"
    rare = search == "windows" and not common
    shape = _ListShape(
        postgres=postgres, active_only=not q.get("include_archived"), filters=filters,
        in_pool=q.get("in_pool"), tag=bool(q.get("tag")), category=bool(q.get("category_id")),
        search=search, windows=tuple(windowed) if search == "windows" else (), rare=rare,
        sort=sort, after=bool(after), scoped=scope is not None,
        owner_branches=owner_branches,
        narrow=columns is not None and columns <= _NARROW_COLUMNS)
    if extra:  # a segment's conditions are values of their own: not kept
        statement = _list_statement(shape, extra)
    else:
        statement = _LIST_STATEMENTS.get(shape)
        if statement is None:
            if len(_LIST_STATEMENTS) > 1000:
                _LIST_STATEMENTS.clear()
            statement = _LIST_STATEMENTS[shape] = _list_statement(shape)
    # on the connection: the session would run ORM row loading even for plain columns
    if shape.prepared and not extra:
        rows = execute_prepared(s.connection(), statement, params).all()
    else:
        rows = s.connection().execute(statement, params).all()
    more = len(rows) > size
    rows = rows[:size]
    cursor = None
    if more and rows:
        last = rows[-1]
        raw = getattr(last, column.key)
        cursor = encode_cursor([raw.isoformat() if hasattr(raw, "isoformat") else raw, last.id])
    return rows, cursor


def _list_statement(shape: _ListShape, extra: Sequence[Any] = ()) -> Select[Any]:
    c = _customers.c
    conditions = list(extra)
    if shape.active_only:
        conditions.append(c.status == "active")
    conditions += [c[_EQUAL_FILTERS[name]] == bindparam(f"f_{name}") for name in shape.filters]
    if shape.in_pool is True:
        conditions.append(c.owner_id.is_(None))
    elif shape.in_pool is False:
        conditions.append(c.owner_id.is_not(None))
    for wanted, name in ((shape.tag, "tag"), (shape.category, "category_id")):
        if wanted:
            conditions.append(_json_contains(shape.postgres, c[_ARRAYS[name]], bindparam(
                name, type_=JSONB if shape.postgres else None)))
    if shape.search == "phone":
        conditions.append(c.id.in_(select(CustomerKey.customer_id).where(
            CustomerKey.key == bindparam("phone_key"))))
    elif shape.search == "windows":
        for column, kind in shape.windows:
            windows = bindparam(f"{kind}_{column}", type_=ARRAY(Text))
            array_column = _WINDOW_ARRAYS[column]
            conditions.append(array_column.contains(windows) if kind == "contains"
                              else array_column.overlap(windows))
        # the whole term on each candidate: by strpos in a statement planned once (the
        # matches are sorted after); else by the LIKE, which tells the planner how common
        # the term is, to weigh against the other conditions and the sort
        conditions.append(func.strpos(c.search_text, bindparam("term")) > 0 if shape.rare
                          else c.search_text.like(bindparam("pattern"), escape="\\"))
    elif shape.search == "like":
        conditions.append(c.search_text.like(bindparam("pattern"), escape="\\"))
    elif shape.search == "contains":
        # the same test as the LIKE, but opaque to the planner: estimating a LIKE against
        # search_text's statistics in every branch cost 1 ms of planning per search, and
        # the branches walk an index in order whatever the estimate
        conditions.append(func.strpos(c.search_text, bindparam("term")) > 0)
    column, descending = SORTS[shape.sort]
    if shape.after:
        value, last_id = bindparam("after_value", type_=column.type), bindparam("after_id")
        conditions.append(or_(column < value, and_(column == value, c.id < last_id))
                          if descending else
                          or_(column > value, and_(column == value, c.id > last_id)))
    limit = bindparam("page_limit")
    rows = _NARROW_WITH_OWNER if shape.narrow else _WITH_OWNER
    if shape.owner_branches is not None:
        return _page_by_source(rows, conditions, shape.owner_branches, descending, limit)
    if shape.scoped:
        conditions.append(visibility(owners_array=shape.postgres).rule)
    if shape.rare:
        return _page_of_matches(rows, conditions, column, descending, limit)
    order = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id)
    return rows.where(*conditions).order_by(*order).limit(limit)


def _page_of_matches(rows: Select[Any], conditions: list[Any], column: Any,
                     descending: bool, limit: Any) -> Select[Any]:
    """A page of the customers matching a rare term: every match (id and sort key) is
    found first, the page is taken from them, and its ``rows`` are read last (by id).

    Written so that the plan cannot depend on the term: the matches are a materialized
    CTE, which has no order to walk, so its only plan is the lookup in the search index.
    Left to itself, a plan made without the term (as a prepared statement's is) walked
    the newest customers and tested each one: 0.3–1 s for a rare term."""
    c = _customers.c
    matches = select(c.id, column.label("sort_key")).where(
        *conditions).cte("matches").prefix_with("MATERIALIZED")
    direction = "desc" if descending else "asc"
    page = (select(matches.c.id)
            .order_by(getattr(matches.c.sort_key, direction)(), getattr(matches.c.id, direction)())
            .limit(limit))
    order = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id)
    return rows.where(_among(page)).order_by(*order)


def _among(page: Select[Any]) -> Any:
    """The customers whose ids ``page`` selects (PostgreSQL: one array of them)."""
    return _customers.c.id == any_(func.array(page.scalar_subquery()))


def _page_by_source(rows: Select[Any], conditions: list[Any], owner_branches: int,
                    descending: bool, limit: Any) -> Select[Any]:
    """The first ``limit`` rows by ``created_at`` of what a scoped caller sees, taken from
    each source of visibility apart — the owners in scope (parameters ``owner_0`` …, or
    all of ``owners`` in one branch when ``owner_branches`` is 0), the public pool,
    account teams — and merged.

    For a common term, the newest customers of the whole table fill a page at once,
    unless the caller cannot see them: behind a colleague's fresh 100,000-row import, one
    statement with the visibility as an OR walked ``ix_customers_created`` through all
    of them (90 ms for a rep). Per owner ``(owner_id, created_at)`` and for the pool
    its own index are walked in order instead (1 ms). The branches carry keys only and
    the page's ``rows`` are read once at the end, by id."""
    direction = "desc" if descending else "asc"

    def order(cols: Any, by_owner: bool) -> list[Any]:
        keys = [cols["owner_id"]] if by_owner else []
        return [getattr(k, direction)() for k in (*keys, cols["created_at"], cols["id"])]

    c = _customers.c
    sources = visibility(owners_array=True)  # PostgreSQL only, like the walk itself
    narrow = select(c.id, c.created_at, c.owner_id).where(*conditions)
    # owner_id leads an order where one owner is asked for, so that PostgreSQL sees the
    # index order it can walk; a few owners each get their own walk (every branch is
    # planned apart, which costs PostgreSQL more than the walk beyond a few)
    if owner_branches:
        branches = [narrow.where(c.owner_id == bindparam(f"owner_{i}")).order_by(
            *order(c, True)) for i in range(owner_branches)]
    else:
        branches = [narrow.where(sources.in_scope).order_by(*order(c, False))]
    # the pool in its own index's order: the merge takes from it only what the page
    # needs (ordered by owner_id as well, it was sorted whole first)
    branches.append(narrow.where(sources.in_pool).order_by(*order(c, False)))
    # NOT = ANY also leaves out the pool (NULL): no customer comes twice
    branches.append(narrow.where(sources.on_team, ~sources.in_scope)
                    .order_by(*order(c, False)))
    merged = union_all(*[select(*b.limit(limit).subquery().c) for b in branches]).subquery()
    page = select(merged.c.id).order_by(*order(merged.c, False)).limit(limit)
    return rows.where(_among(page)).order_by(*order(c, False))


# -- how common a term is ---------------------------------------------------------------------
# A scoped caller's search for a term this common (share of all customers) is answered
# per source of visibility; rarer terms are looked up in the window arrays in one statement.
FREQUENT_TERM_SHARE = 0.01
# below this many customers the single statement's walk is short whatever it skips
WALK_WORTH_AVOIDING = 20_000
OWN_BRANCHES_MAX = 4  # owners in scope walked one by one; more share one branch
_ESTIMATES: dict[str, tuple[float, float]] = {}  # what -> (value, good until)


def _estimate(what: str, measure: Any) -> float:
    """``measure()``, kept ten minutes: a user paging or retyping asks again and again."""
    now = time.monotonic()
    known = _ESTIMATES.get(what)
    if known is None or known[1] <= now:
        if len(_ESTIMATES) > 10_000:
            _ESTIMATES.clear()
        known = _ESTIMATES[what] = (float(measure()), now + 600)
    return known[0]


def term_share(s: Session, pattern: str) -> float:
    """PostgreSQL's own estimate of the share of customers whose search text is LIKE
    ``pattern`` (planning only, no execution; from the thousand-text histogram of
    migration 0009).

    It chooses the statement, so that each can be prepared: a common term walks the
    newest customers, a rare one is looked up in the window arrays. A search planned
    per call cannot choose as well: PostgreSQL estimates the windows, not the term (a
    term of three letters looked up by 53 windows looks common, and was walked through
    the table), and no estimate tells that a scoped caller sees none of the newest
    customers."""
    def measure() -> float:
        plan = s.connection().exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM customers "
            "WHERE search_text LIKE %(p)s ESCAPE '\\'", {"p": pattern}).scalar_one()
        return float(plan[0]["Plan"]["Plan Rows"]) / customers_estimate(s)
    return _estimate(f"LIKE {pattern}", measure)


def customers_estimate(s: Session) -> float:
    """PostgreSQL's estimate of the number of customers (from its statistics)."""
    return _estimate("customers", lambda: s.connection().exec_driver_sql(
        "SELECT greatest(reltuples, 1) FROM pg_class WHERE relname = 'customers'"
    ).scalar_one())


# -- segments and JSON arrays -------------------------------------------------------------
def _json_contains(postgres: bool, column: Any, value: Any) -> Any:
    """``value`` is an element of the JSON array ``column``; on PostgreSQL ``value`` is
    a one-element array (JSONB containment), on SQLite the element."""
    if postgres:
        return cast(column, JSONB).contains(value)
    each = func.json_each(column).table_valued("value")
    return select(each.c.value).where(each.c.value == value).exists()


def segment_clause(s: Session, conditions: list[dict[str, Any]]) -> Any:
    """The SQL condition of a segment (validated by domain.segments beforehand)."""
    clauses = []
    now = datetime.now(UTC)
    for cond in conditions:
        name, op, value = path_of(cond["field"]), cond["op"], cond.get("value")
        if name.startswith("attributes."):
            element = Customer.attributes[name.split(".", 1)[1]]
            is_number = op in ("gte", "lte") or isinstance(value, (int, float))
            column: Any = element.as_float() if is_number else element.as_string()
        else:
            column = getattr(Customer, column_of(name))
            if field_kind(name)[0] == "number":
                # "1000.5" compared with an integer column is an error as text
                value = segment_number(value)
        if op == "eq":
            clauses.append(column == value)
        elif op == "ne":
            clauses.append(or_(column != value, column.is_(None)))
        elif op == "in":
            clauses.append(column.in_(list(value)))
        elif op == "gte":
            clauses.append(cast(column, Float) >= float(value))
        elif op == "lte":
            clauses.append(cast(column, Float) <= float(value))
        elif op == "contains":
            postgres = is_postgres(s)
            clauses.append(_json_contains(postgres, column,
                                          [str(value)] if postgres else str(value)))
        elif op == "within_days":
            clauses.append(column >= now - timedelta(days=int(value)))
        elif op == "older_than_days":
            clauses.append(or_(column < now - timedelta(days=int(value)), column.is_(None)))
        elif op == "is_empty":
            clauses.append(column.is_(None))
        elif op == "not_empty":
            clauses.append(column.is_not(None))
    return and_(true(), *clauses)


def summaries(s: Session, customer_ids: Sequence[str]) -> list[Row[Any]]:
    """The rows a list's summary of these customers is made of (with the owner's name)."""
    if not customer_ids:
        return []
    return list(s.execute(_NARROW_WITH_OWNER.where(_customers.c.id.in_(list(customer_ids)))))
