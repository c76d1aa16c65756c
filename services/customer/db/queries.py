"""SQL of the customer service: lookups, scoped lists, sequences, the duplicate guard."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from crm_platform.auth import Caller
from crm_platform.db import (
    any_of,
    execute_prepared,
    is_postgres,
    locked_setting,
    next_in_sequence,
    read_setting,
    write_setting,
)
from crm_platform.errors import NotFound
from crm_platform.pagination import clamp_limit, decode_cursor, encode_cursor
from sqlalchemy import (
    Row,
    Select,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from services.customer.db.models import (
    AccountTeamMember,
    CodeSequence,
    Customer,
    CustomerKey,
    Setting,
    Staff,
)
from services.customer.domain.list_fields import OWNER_NAME_COLUMN, SUMMARY
from services.customer.domain.search import (
    TermLookup,
    normalize_query,
    term_lookup,
    whole_phone_number,
)
from services.customer.domain.segments import column_of, field_kind, path_of
from services.customer.domain.segments import number as segment_number


def visible(query: Select[Any], caller: Caller) -> Select[Any]:
    """Records the caller may see: their scope's owners, the public pool, and customers
    whose account team they are on (CUS-08)."""
    owners = caller.visible_owner_ids()
    if owners is None:
        return query
    on_team = select(AccountTeamMember.customer_id).where(
        AccountTeamMember.user_id == caller.user_id)
    return query.where(or_(Customer.owner_id.in_(owners), Customer.owner_id.is_(None),
                           Customer.id.in_(on_team)))


def get_visible(s: Session, caller: Caller, customer_id: str, *, lock: bool = False,
                include_archived: bool = True) -> Customer:
    query = visible(select(Customer).where(Customer.id == customer_id), caller)
    if lock:
        query = query.with_for_update()
    customer = s.scalar(query)
    if customer is None or (not include_archived and customer.status != "active"):
        raise NotFound("customer not found", code="customer_not_found")
    return customer


# the window arrays a term is looked up in (domain.search.term_lookup), by column name
_WINDOW_ARRAYS = {name: sql_column(name, ARRAY(Text)) for name in (
    "search_bigrams", "search_digit_grams", "search_letter_grams")}

# The hot read path uses prebuilt Core statements: building a 60-column select per call
# and computing its cache key was a quarter of the service's CPU per read.
_customers = Customer.__table__
_staff = Staff.__table__
_account_team = AccountTeamMember.__table__
# What a customer read needs: every column shown (not the search document and its windows,
# the longest ones, only ever matched in SQL, nor the pool rule's last activity), plus the
# owner's name from the staff copy in the same statement.
_SHOWN = [c for c in _customers.columns
          if not c.key.startswith("search_") and c.key != "last_activity_at"]


def _with_owner(columns: Sequence[Any]) -> Select[Any]:
    return (select(*columns, _staff.c.display_name.label(OWNER_NAME_COLUMN))
            .select_from(_customers.outerjoin(_staff, _staff.c.id == _customers.c.owner_id)))


_WITH_OWNER = _with_owner(_SHOWN)
_READ = _WITH_OWNER.where(_customers.c.id == bindparam("customer_id"))
# A page whose fields are all among a list's summary reads only those columns (and the
# sort keys): every column of every row is parsed by psycopg2 and sent on (summaries
# cost a 50-row page about a seventh less CPU than whole records). Two widths only,
# whatever fields are asked for, so that the statements (each prepared on every
# connection) stay few.
_NARROW_COLUMNS = frozenset({*SUMMARY.columns, "id", "name", "created_at", "updated_at"})
_NARROW_WITH_OWNER = _with_owner([c for c in _SHOWN if c.key in _NARROW_COLUMNS])
# Visibility for prebuilt statements, with parameters ``owners`` and ``user_id`` (what
# ``visible`` writes with the caller's values): the owners in scope, the public pool,
# and customers whose account team has the caller.
_ON_ACCOUNT_TEAM = select(_account_team.c.customer_id).where(
    _account_team.c.user_id == bindparam("user_id"))
_VISIBLE = or_(_customers.c.owner_id.in_(bindparam("owners", expanding=True)),
               _customers.c.owner_id.is_(None), _customers.c.id.in_(_ON_ACCOUNT_TEAM))
# the same on PostgreSQL, where the owners go in as one array (a prepared statement
# cannot take an expanding IN list)
_OWNERS_ARRAY = bindparam("owners", type_=ARRAY(String))
_VISIBLE_ARRAY = or_(_customers.c.owner_id == any_(_OWNERS_ARRAY),
                     _customers.c.owner_id.is_(None), _customers.c.id.in_(_ON_ACCOUNT_TEAM))
_READ_SCOPED = _READ.where(_VISIBLE)
_READ_SCOPED_ARRAY = _READ.where(_VISIBLE_ARRAY)


def get_visible_with_owner_name(s: Session, caller: Caller, customer_id: str
                                ) -> tuple[Any, str | None]:
    """The customer row and its owner's name in one round trip (a Core row)."""
    owners = caller.visible_owner_ids()
    connection = s.connection()
    # a lookup by key: the same plan for every id, so prepared (planning was a third of
    # PostgreSQL's time for this read)
    if owners is None:
        row = execute_prepared(connection, _READ, {"customer_id": customer_id}).first()
    else:
        params = {"customer_id": customer_id, "owners": sorted(owners),
                  "user_id": caller.user_id}
        row = (execute_prepared(connection, _READ_SCOPED_ARRAY, params) if is_postgres(s)
               else connection.execute(_READ_SCOPED, params)).first()
    if row is None:
        raise NotFound("customer not found", code="customer_not_found")
    return row, row.owner_display_name


def next_sequence(s: Session, name: str, start: int = 1, count: int = 1) -> int:
    return next_in_sequence(s, CodeSequence, name, start, count=count)


def existing_keys(s: Session, keys: Iterable[str], exclude_customer: str | None = None
                  ) -> dict[str, str]:
    """{key: customer id} of those ``keys`` some customer (other than
    ``exclude_customer``) holds. Any number of keys: an import asks for 30,000 at once."""
    wanted = list(keys)
    found: dict[str, str] = {}
    # PostgreSQL takes them all as one array; SQLite a few hundred variables at a time
    step = len(wanted) if is_postgres(s) else 500
    for start in range(0, len(wanted), max(step, 1)):
        query = select(CustomerKey.key, CustomerKey.customer_id).where(
            any_of(s, CustomerKey.key, wanted[start:start + step]))
        if exclude_customer:
            query = query.where(CustomerKey.customer_id != exclude_customer)
        found.update(s.execute(query).tuples().all())
    return found


def staff_name(s: Session, user_id: str | None) -> str | None:
    if user_id is None:
        return None
    return s.scalar(select(Staff.display_name).where(Staff.id == user_id))


def staff_names(s: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(s.execute(select(Staff.id, Staff.display_name).where(Staff.id.in_(wanted)))
                .tuples().all())


def owned_count(s: Session, user_id: str) -> int:
    return int(s.scalar(select(func.count()).select_from(Customer).where(
        Customer.owner_id == user_id, Customer.status == "active")) or 0)


def setting(s: Session, name: str, default: dict[str, Any]) -> dict[str, Any]:
    return read_setting(s, Setting, name, default)


def put_setting(s: Session, name: str, value: dict[str, Any]) -> dict[str, Any]:
    write_setting(s, Setting, name, value)
    return value


SORTS = {
    "name": (Customer.name, False), "-name": (Customer.name, True),
    "created_at": (Customer.created_at, False), "-created_at": (Customer.created_at, True),
    "updated_at": (Customer.updated_at, False), "-updated_at": (Customer.updated_at, True),
}


_EQUAL_FILTERS = {"owner_id": "owner_id", "team_id": "owner_team_id", "kind": "kind",
                  "province": "province", "city": "city", "industry": "industry",
                  "tier": "tier", "lifecycle": "lifecycle", "stage": "stage"}
_ARRAYS = {"tag": "tags", "category_id": "category_ids"}


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
        from services.customer.db.models import SegmentRow

        segment = s.get(SegmentRow, q["segment_id"])
        if segment is None:
            raise NotFound("segment not found", code="segment_not_found")
        extra.append(segment_clause(s, segment.conditions))
    search: str | None = None
    pattern: str | None = None
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
            lookup = search_lookup(s, term) if postgres else None
            if lookup is not None:
                # looked up in the window arrays (0003, 0006-0008), tested after
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
    owners = caller.visible_owner_ids()
    owner_branches: int | None = None
    if owners is not None:
        params["owners"], params["user_id"] = sorted(owners), caller.user_id
    walk = (common and column.key == "created_at"
            and customers_estimate(s) >= WALK_WORTH_AVOIDING)
    if walk and owners is not None:
        search = "contains"
        owner_branches = len(owners) if len(owners) <= OWN_BRANCHES_MAX else 0
        for i, owner in enumerate(params["owners"] if owner_branches else ()):
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
        sort=sort, after=bool(after), scoped=owners is not None,
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
        conditions.append(_VISIBLE_ARRAY if shape.postgres else _VISIBLE)
    if shape.rare:
        return _page_of_matches(rows, conditions, column, descending, limit)
    order = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id)
    return rows.where(*conditions).order_by(*order).limit(limit)


def _page_of_matches(rows: Select[Any], conditions: list[Any], column: Any,
                     descending: bool, limit: Any) -> Select[Any]:
    """A page of the customers matching a rare term: every match (id and sort key) is
    found first, the page is taken from them, and its ``rows`` are read last.

    Written so that the plan cannot depend on the term: the matches are a materialized
    CTE, which has no order to walk, so its only plan is the lookup in the search index.
    Left to itself, a plan made without the term (as a prepared statement's is) walked
    the newest customers and tested each one: 0.3–1 s for a rare term."""
    c = _customers.c
    matches = select(c.id, column.label("sort_key"), _tuple_id.label("tid")).where(
        *conditions).cte("matches").prefix_with("MATERIALIZED")
    direction = "desc" if descending else "asc"
    page = (select(matches.c.tid)
            .order_by(getattr(matches.c.sort_key, direction)(), getattr(matches.c.id, direction)())
            .limit(limit))
    order = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id)
    return rows.where(_at_tids(page)).order_by(*order)


# A page's rows are read last, where its candidates were found: by their tuple ids (one
# statement, one snapshot, so each is the version the candidates were taken from). Read
# by primary key instead, the 51 lookups (text keys, compared under the database's
# collation) were half of PostgreSQL's CPU for a page of a 350-match term (1.8 -> 0.9-1.2
# ms per statement, bench/customer.py's "haitong" at 500,000 customers). PostgreSQL only.
_tuple_id = literal_column("customers.ctid")


def _at_tids(page: Select[Any]) -> Any:
    """The customers whose tuple ids ``page`` selects: a TID scan, no index."""
    return _tuple_id == any_(func.array(page.scalar_subquery()))


# A scoped caller's search for a term this common (share of all customers) is answered
# per source of visibility; rarer terms are looked up in the window arrays in one statement.
FREQUENT_TERM_SHARE = 0.01
# below this many customers the single statement's walk is short whatever it skips
WALK_WORTH_AVOIDING = 20_000
OWN_BRANCHES_MAX = 4  # owners in scope walked one by one; more share one branch
_ESTIMATES: dict[str, tuple[Any, float]] = {}  # what -> (value, good until)


def _remembered(what: str, measure: Any) -> Any:
    """``measure()``, kept ten minutes: a user paging or retyping asks again and again."""
    now = time.monotonic()
    known = _ESTIMATES.get(what)
    if known is None or known[1] <= now:
        if len(_ESTIMATES) > 10_000:
            _ESTIMATES.clear()
        known = _ESTIMATES[what] = (measure(), now + 600)
    return known[0]


def _estimate(what: str, measure: Any) -> float:
    return float(_remembered(what, measure))


def term_share(s: Session, pattern: str) -> float:
    """PostgreSQL's own estimate of the share of customers whose search text is LIKE
    ``pattern`` (planning only, no execution)."""
    def measure() -> float:
        plan = s.connection().exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM customers "
            "WHERE search_text LIKE %(p)s ESCAPE '\\'", {"p": pattern}).scalar_one()
        return float(plan[0]["Plan"]["Plan Rows"]) / customers_estimate(s)
    return _estimate(f"LIKE {pattern}", measure)


def _sample_share(s: Session) -> Any:
    """The share of search texts containing a text, counted in the sample PostgreSQL keeps
    for its estimates (the 1,000-value histogram, migration 0005); None before ANALYZE.
    Occurrences, not texts: an upper bound of the share, which is what a threshold of
    "too frequent to look up" wants; one search of the joined sample per text."""
    sample = _remembered("search sample", lambda: "\n".join(s.connection().exec_driver_sql(
        "SELECT histogram_bounds::text::text[] FROM pg_stats WHERE tablename = "
        "'customers' AND attname = 'search_text'").scalar() or []))
    if not sample:
        return None
    values = sample.count("\n") + 1
    return lambda text: sample.count(text) / values


def search_lookup(s: Session, term: str) -> TermLookup | None:
    """``term_lookup`` of ``term`` with the sample's shares (all equal before ANALYZE has
    made one)."""
    def choose() -> TermLookup | None:
        return term_lookup(term, _sample_share(s) or (lambda _: 0.0))
    lookup: TermLookup | None = _remembered(f"windows {term}", choose)
    return lookup


def customers_estimate(s: Session) -> float:
    """PostgreSQL's estimate of the number of customers (from its statistics)."""
    return _estimate("customers", lambda: s.connection().exec_driver_sql(
        "SELECT greatest(reltuples, 1) FROM pg_class WHERE relname = 'customers'"
    ).scalar_one())


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
    its own index (0009) are walked in order instead (1 ms). The branches carry keys
    only and the page's ``rows`` are read once at the end, by tuple id (``_at_tids``)."""
    direction = "desc" if descending else "asc"

    def order(cols: Any, by_owner: bool) -> list[Any]:
        keys = [cols["owner_id"]] if by_owner else []
        return [getattr(k, direction)() for k in (*keys, cols["created_at"], cols["id"])]

    c = _customers.c
    narrow = select(c.id, c.created_at, c.owner_id, _tuple_id.label("tid")).where(*conditions)
    in_scope = c.owner_id == any_(_OWNERS_ARRAY)  # PostgreSQL only, like the walk itself
    # owner_id leads an order where one owner is asked for, so that PostgreSQL sees the
    # index order it can walk; a few owners each get their own walk (every branch is
    # planned apart, which costs PostgreSQL more than the walk beyond a few)
    if owner_branches:
        branches = [narrow.where(c.owner_id == bindparam(f"owner_{i}")).order_by(
            *order(c, True)) for i in range(owner_branches)]
    else:
        branches = [narrow.where(in_scope).order_by(*order(c, False))]
    # the pool in its own index's order (0009): the merge takes from it only what the
    # page needs (ordered by owner_id as well, it was sorted whole first)
    branches.append(narrow.where(c.owner_id.is_(None)).order_by(*order(c, False)))
    # NOT = ANY also leaves out the pool (NULL): no customer comes twice
    branches.append(narrow.where(c.id.in_(_ON_ACCOUNT_TEAM), ~in_scope)
                    .order_by(*order(c, False)))
    merged = union_all(*[select(*b.limit(limit).subquery().c) for b in branches]).subquery()
    page = select(merged.c.tid).order_by(*order(merged.c, False)).limit(limit)
    return rows.where(_at_tids(page)).order_by(*order(c, False))


def _json_contains(postgres: bool, column: Any, value: Any) -> Any:
    """``value`` is an element of the JSON array ``column``; on PostgreSQL ``value`` is
    a one-element array (JSONB containment), on SQLite the element."""
    if postgres:
        from sqlalchemy import cast

        return cast(column, JSONB).contains(value)
    each = func.json_each(column).table_valued("value")
    return select(each.c.value).where(each.c.value == value).exists()


def bump(s: Session, customer: Customer) -> None:
    customer.version += 1
    from crm_platform.db import utcnow

    customer.updated_at = utcnow()


def segment_clause(s: Session, conditions: list[dict[str, Any]]) -> Any:
    """The SQL condition of a segment (validated by domain.segments beforehand)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import Float, cast, true

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


# -- the nightly classification (CUS-11) -------------------------------------------------
# It reads the population in narrow Core rows, never as ORM objects: at a million customers
# loading them all took 5.6 GB and a minute of CPU.
CLASS_FIELDS = ("tier", "rfm_recency", "rfm_frequency", "rfm_monetary", "lifecycle", "stage",
                "volume_class")
FACT_FIELDS = ("created_at", "paid_revenue", "paid_orders", "last_purchase_at",
               "last_visit_at")
_ACTIVE = _customers.c.status == "active"
_CLASS_PAGE = (select(_customers.c.id, *(_customers.c[n] for n in FACT_FIELDS + CLASS_FIELDS))
               .where(_ACTIVE, _customers.c.id > bindparam("after"))
               .order_by(_customers.c.id))


def lock_setting(s: Session, name: str) -> Setting:
    """The setting row, created empty if missing, locked until the transaction ends."""
    row: Setting = locked_setting(s, Setting, name)
    return row


def classification_population(s: Session) -> tuple[int, int]:
    """(payers, buyers): active customers with paid revenue, and with a purchase."""
    c = _customers.c
    row = s.execute(select(func.count(case((c.paid_revenue > 0, 1))),
                           func.count(c.last_purchase_at)).where(_ACTIVE)).one()
    return int(row[0]), int(row[1])


def _ranked(s: Session, value: Any, among: Any, ranks: Sequence[int], *, descending: bool
            ) -> list[Any]:
    """``value`` at the 0-based ``ranks`` of the active customers matching ``among``, in
    ``value`` order: one sort in the database instead of the population in memory."""
    if not ranks:
        return []
    order = value.desc() if descending else value.asc()
    ranked = (select(value.label("v"), func.row_number().over(order_by=order).label("rn"))
              .where(_ACTIVE, among).subquery())
    positions = sorted({r + 1 for r in ranks})
    wanted = select(ranked.c.rn, ranked.c.v).where(ranked.c.rn.in_(positions))
    found = {rn: v for rn, v in s.execute(wanted)}
    return [found[r + 1] for r in ranks]


def payers_revenue_at(s: Session, ranks: Sequence[int]) -> list[Decimal]:
    """Paid revenue of the paying customers at ``ranks``, highest first."""
    c = _customers.c
    return _ranked(s, c.paid_revenue, c.paid_revenue > 0, ranks, descending=True)


def buyers_at(s: Session, ranks: Sequence[int]
              ) -> tuple[list[datetime], list[int], list[Decimal]]:
    """At ``ranks`` among customers with a purchase: the last purchase (latest first), the
    paid orders and the paid revenue (both lowest first)."""
    c = _customers.c
    bought = c.last_purchase_at.is_not(None)
    return (_ranked(s, c.last_purchase_at, bought, ranks, descending=True),
            _ranked(s, c.paid_orders, bought, ranks, descending=False),
            _ranked(s, c.paid_revenue, bought, ranks, descending=False))


def classification_page(s: Session, after_id: str, size: int) -> list[Row[Any]]:
    """Up to ``size`` active customers with ids after ``after_id`` ("" for the first page),
    by id: their id, ``FACT_FIELDS`` and current ``CLASS_FIELDS``."""
    return list(s.execute(_CLASS_PAGE.limit(size), {"after": after_id}))


# Classes are written only while the facts they were computed from still hold: an order or
# payment event that changed a customer since the page was read reclassified it with newer
# facts, and a stale nightly result must not overwrite that.
_STORE_CLASSES_PG = text("""
UPDATE customers AS c
   SET tier = v.tier, rfm_recency = v.rfm_recency, rfm_frequency = v.rfm_frequency,
       rfm_monetary = v.rfm_monetary, lifecycle = v.lifecycle, stage = v.stage,
       volume_class = v.volume_class
  FROM unnest(CAST(:id AS varchar[]), CAST(:tier AS varchar[]),
              CAST(:rfm_recency AS integer[]), CAST(:rfm_frequency AS integer[]),
              CAST(:rfm_monetary AS integer[]), CAST(:lifecycle AS varchar[]),
              CAST(:stage AS varchar[]), CAST(:volume_class AS varchar[]),
              CAST(:paid_revenue AS numeric[]), CAST(:paid_orders AS integer[]),
              CAST(:last_purchase_at AS timestamptz[]), CAST(:last_visit_at AS timestamptz[]))
       AS v(id, tier, rfm_recency, rfm_frequency, rfm_monetary, lifecycle, stage,
            volume_class, paid_revenue, paid_orders, last_purchase_at, last_visit_at)
 WHERE c.id = v.id AND c.status = 'active'
   AND c.paid_revenue = v.paid_revenue AND c.paid_orders = v.paid_orders
   AND c.last_purchase_at IS NOT DISTINCT FROM v.last_purchase_at
   AND c.last_visit_at IS NOT DISTINCT FROM v.last_visit_at
RETURNING c.id""")
_GUARDED = ("paid_revenue", "paid_orders", "last_purchase_at", "last_visit_at")
_STORE_CLASS_ONE = (
    update(cast(Table, _customers))
    .where(_customers.c.id == bindparam("b_id"), _ACTIVE,
           *(_customers.c[n].is_not_distinct_from(bindparam(f"b_{n}")) for n in _GUARDED))
    .values({n: bindparam(f"b_{n}") for n in CLASS_FIELDS}))


def store_classes(s: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Write new classes: each of ``rows`` has ``id``, ``CLASS_FIELDS`` and the facts it
    was classified from (all of ``FACT_FIELDS`` but ``created_at``, which never changes).
    The ids written: a customer whose facts changed meanwhile, or that is no longer
    active, is left alone."""
    if not rows:
        return set()
    if is_postgres(s):  # one statement per page, not one round trip per customer
        names = ("id", *CLASS_FIELDS, *_GUARDED)
        return set(s.execute(_STORE_CLASSES_PG, {n: [r[n] for r in rows] for n in names})
                   .scalars())
    # SQLite (the laptop default): local, one writer, a statement per row is cheap
    written = set()
    for r in rows:
        params = {f"b_{n}": r[n] for n in ("id", *CLASS_FIELDS, *_GUARDED)}
        if s.execute(_STORE_CLASS_ONE, params).rowcount == 1:  # type: ignore[attr-defined]
            written.add(str(r["id"]))
    return written


def summaries(s: Session, customer_ids: Sequence[str]) -> list[Row[Any]]:
    """The rows a list's summary of these customers is made of (with the owner's name)."""
    if not customer_ids:
        return []
    return list(s.execute(_NARROW_WITH_OWNER.where(_customers.c.id.in_(list(customer_ids)))))
