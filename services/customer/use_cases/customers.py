"""Use cases of the customer service: open the unit of work, load, apply the domain rule,
write history and events, commit. One function per operation, named like the RPC."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_platform.pagination import keyset_page
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork
from sqlalchemy import Row, select

from services.customer import events, schemas
from services.customer.db import queries, search
from services.customer.db.models import (
    Customer,
    CustomerHistory,
)
from services.customer.db.repositories import customer_work
from services.customer.domain import customers as rules
from services.customer.domain import ownership
from services.customer.domain.identity_keys import identity_keys
from services.customer.domain.list_fields import (
    OWNER_NAME_COLUMN,
    REGION_COLUMNS,
    REGION_FIELDS,
    WHOLE,
    Selection,
    selection,
)
from services.customer.domain.search import search_columns
from services.customer.repositories import CustomerWork
from services.customer.use_cases.handover import HANDOVER

POOL_DEFAULTS = {"days_without_followup": 30, "claim_limit": 200}


# -- shaping -----------------------------------------------------------------------------
def customer_out(c: Any, owner_name: str | None) -> dict[str, Any]:
    """API shape of a whole customer (an ORM object or a Core row with the same names),
    made by the same shaper as a page's items."""
    m = c._mapping if isinstance(c, Row) else _Attributes(c)
    return _WHOLE_SHAPE(tuple(owner_name if name == OWNER_NAME_COLUMN else m[name]
                              for name in _WHOLE_COLUMNS))


def customers_out(rows: Sequence[Row[Any]], fields: Selection = WHOLE
                  ) -> list[dict[str, Any]]:
    """A page of Core rows carrying ``owner_display_name``, each item with the ``fields``
    of the API shape; the values are taken by position (by name, through each row's
    mapping, was a fifth of the service's CPU on a 50-row page)."""
    if not rows:
        return []
    shape = _page_shape(fields, tuple(rows[0]._fields))
    return [shape(r) for r in rows]


def _positions(index: dict[str, int], names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter of these columns of a row, as a tuple whatever their number."""
    if len(names) == 1:
        at = index[names[0]]
        return lambda row: (row[at],)
    if not names:
        return lambda row: ()
    return itemgetter(*(index[name] for name in names))


@lru_cache(maxsize=256)
def _page_shape(fields: Selection, columns: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    """The shaper of rows with these ``columns`` into items with these ``fields`` of
    ``schemas.Customer``, from trusted stored values, datetimes and decimals as they are:
    the RPC reply writes them (:mod:`crm_platform.wire`). Not validated per call:
    validating 50-row pages was most of a search's CPU in the service; a unit test holds
    this shape, as written on the wire, equal to the model's own JSON dump."""
    index = {name: i for i, name in enumerate(columns)}
    plain_names, plain = fields.plain, _positions(index, fields.plain)
    region = _positions(index, REGION_COLUMNS) if fields.region else None
    at_owner = index["owner_id"] if fields.owner or fields.in_pool else -1
    at_name = index[OWNER_NAME_COLUMN] if fields.owner else -1
    parts, classification = fields.classification, _positions(index, fields.classification)

    def shape(row: Any) -> dict[str, Any]:
        shown = dict(zip(plain_names, plain(row), strict=True))
        if region is not None:
            values = region(row)
            shown["region"] = (dict(zip(REGION_FIELDS, values, strict=True)) if any(values)
                               else None)
        if at_name >= 0:
            owner_id = row[at_owner]
            shown["owner"] = ({"id": owner_id, "display_name": row[at_name] or owner_id}
                              if owner_id else None)
        if fields.in_pool:
            shown["in_pool"] = row[at_owner] is None
        if parts:
            shown["classification"] = dict(zip(parts, classification(row), strict=True))
        return shown
    return shape


_WHOLE_COLUMNS = tuple(sorted(WHOLE.columns))
_WHOLE_SHAPE = _page_shape(WHOLE, _WHOLE_COLUMNS)


class _Attributes:
    """An object's attributes as a mapping (a Row's ``_mapping`` is the fast path: named
    attribute access on a Row costs ten times a key lookup)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __getitem__(self, name: str) -> Any:
        return getattr(self.obj, name)


def snapshot(c: Customer) -> dict[str, Any]:
    """The customer as every ``customer.*`` event carries it (copies are kept from it)."""
    return events.CustomerSnapshot.model_validate(c, from_attributes=True).model_dump()


def _history(uow: CustomerWork, customer_id: str, kind: str, changes: dict[str, Any],
             reason: str | None = None) -> None:
    uow.repos.history.add(customer_id, uow.actor, kind, changes, reason)


def refresh_search(uow: CustomerWork, c: Customer, contact_names: list[str] | None = None
                   ) -> None:
    """``contact_names``: the customer's contacts' names if known (none, for a customer
    being created); else read."""
    names = uow.repos.contacts.names_of(c.id) if contact_names is None else contact_names
    columns = search_columns([c.name, *names], [c.code, *c.phones, *c.emails, c.tax_id or ""])
    for name, value in columns.items():
        setattr(c, name, value)


def writable(uow: CustomerWork, caller: Caller, customer_id: str) -> Customer:
    """A live customer the caller may change: owned within their scope (a pool customer
    must be claimed first; account team members may add to it)."""
    c = uow.repos.customers.visible(caller, customer_id, lock=True, include_archived=False)
    if caller.scope == "all" or (c.owner_id is not None and caller.can_see_owner(c.owner_id)):
        return c
    if c.owner_id is None:
        raise Forbidden("claim this customer from the pool before changing it",
                        code="claim_first")
    if not uow.repos.customers.on_account_team(c.id, caller.user_id):
        raise NotFound("customer not found", code="customer_not_found")
    return c


def _check_categories(uow: CustomerWork, wanted: list[str], current: list[str]) -> None:
    """Newly assigned categories must exist and not be retired."""
    new = set(wanted) - set(current)
    if not new:
        return
    missing = sorted(new - uow.repos.categories.active(new))
    if missing:
        raise ValidationFailed(f"unknown or retired categories: {missing}",
                               code="invalid_category", extra={"errors": [
                                   {"field": "category_ids", "message": f"{missing}"}]})


# -- duplicate guard ---------------------------------------------------------------------
def _duplicate_error(uow: CustomerWork, found: dict[str, str]) -> Conflict:
    customer_id = next(iter(found.values()))
    existing = uow.repos.customers.get(customer_id)
    owner_id = existing.owner_id if existing else None
    owner = None
    if owner_id:
        owner = {"id": owner_id,
                 "display_name": uow.repos.people.name(owner_id) or owner_id}
    who = owner["display_name"] if owner else "nobody (it is in the public pool)"
    return Conflict(
        f"this customer exists already and belongs to {who}", code="duplicate_customer",
        extra={"existing_customer_id": customer_id, "owner": owner,
               "matched_on": sorted(k.split(":", 1)[0] for k in found)})


def _claim_keys(uow: CustomerWork, customer_id: str, keys: set[str]) -> None:
    """Insert the customer's identity keys; a key another customer holds (or is claiming
    in a transaction that then commits: the insert waits for it) is refused as a
    duplicate, and the caller's transaction is rolled back with everything it wrote."""
    if not keys:
        return
    claimed = uow.repos.keys.claim(customer_id, keys)
    if len(claimed) < len(keys):
        taken = keys - claimed
        found = uow.repos.keys.holders(taken, exclude_customer=customer_id)
        raise _duplicate_error(uow, found or {sorted(taken)[0]: customer_id})


def _keys_of(c: Customer) -> set[str]:
    return identity_keys(c.kind, c.name, c.tax_id, c.phones, c.emails)


# -- staff -------------------------------------------------------------------------------
def _staff_load(uow: CustomerWork, user_id: str) -> ownership.StaffLoad | None:
    staff = uow.repos.people.get(user_id)
    if staff is None:
        return None
    return ownership.StaffLoad(staff.id, staff.is_active, staff.is_new_staff,
                               uow.repos.customers.owned_count(staff.id),
                               staff.last_assigned_at)


def _choose_owner(uow: CustomerWork, caller: Caller, province: str | None) -> str | None:
    rules_ = uow.repos.rules.active()
    if not rules_:
        return caller.user_id
    staff = [ownership.StaffLoad(st.id, st.is_active, st.is_new_staff,
                                 uow.repos.customers.owned_count(st.id), st.last_assigned_at,
                                 st.team_id)
             for st in uow.repos.people.assignable()
             if "sales_rep" in st.roles or "sales_manager" in st.roles or st.id == caller.user_id]
    return ownership.choose_owner(caller.user_id, province, rules_, staff)


def _set_owner(uow: CustomerWork, c: Customer, owner_id: str | None, reason: str) -> None:
    previous = c.owner_id
    c.owner_id = owner_id
    c.owner_team_id = uow.repos.people.team_of(owner_id)
    c.last_activity_at = utcnow()
    bump(c)
    _history(uow, c.id, "owner_changed", {"from": previous, "to": owner_id}, reason)
    uow.publish(events.CustomerOwnerChanged(**snapshot(c), previous_owner_id=previous,
                                            reason=reason))


# -- customers ---------------------------------------------------------------------------
def create_customer(uow: CustomerWork, caller: Caller, data: schemas.CustomerCreate
                    ) -> dict[str, Any]:
    fields = rules.flatten_fields(data.model_dump(exclude_unset=True))
    requested_owner = fields.pop("owner_id", None)
    repos = uow.repos
    _check_categories(uow, fields.get("category_ids") or [], [])
    if requested_owner and requested_owner != caller.user_id:
        if caller.scope == "own" or not caller.can_see_owner(requested_owner):
            raise Forbidden("you may only create customers for yourself",
                            code="owner_out_of_scope")
        owner_id: str | None = requested_owner
        reason = "assignment"
    else:
        owner_id = requested_owner or _choose_owner(uow, caller, fields.get("province"))
        reason = "created" if owner_id == caller.user_id else "assignment"
    now = utcnow()
    owner = repos.people.team_and_name(owner_id) if owner_id else None
    customer = Customer(
        id=str(uuid.uuid4()),
        code=rules.customer_code(now.year, repos.sequences.next(f"customer-{now.year}")),
        status="active", created_by=caller.user_id, created_at=now, updated_at=now,
        last_activity_at=now, version=1, owner_id=owner_id,
        owner_team_id=owner[0] if owner else None,
        **{k: v for k, v in fields.items() if hasattr(Customer, k)},
    )
    customer.phones = customer.phones or []
    customer.emails = customer.emails or []
    keys = _keys_of(customer)  # validates phones / emails / tax id first
    customer.phones = [k.split(":", 1)[1] for k in sorted(keys) if k.startswith("phone:")] \
        if customer.phones else []
    refresh_search(uow, customer, contact_names=[])
    repos.customers.insert(customer)
    _claim_keys(uow, customer.id, keys)
    _history(uow, customer.id, "created", {"owner_id": owner_id}, reason)
    if owner is not None and owner_id is not None and owner_id != caller.user_id:
        repos.people.mark_assigned(owner_id, now)
    uow.publish(events.CustomerCreated(**snapshot(customer)))
    if owner_id and reason == "assignment":  # customer.created names the collector already
        uow.publish(events.CustomerOwnerChanged(**snapshot(customer), previous_owner_id=None,
                                                reason=reason))
    owner_name = owner[1] if owner else None
    uow.commit()
    return customer_out(customer, owner_name)


def customer_snapshot(uow: UnitOfWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    """The customer as ``customer.*`` events carry it (for another service's copy)."""
    c = queries.get_visible(uow.session, caller, customer_id)
    return events.CustomerSnapshot(**snapshot(c)).model_dump(mode="json")


def get_customer(uow: UnitOfWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    c, owner_name = search.get_visible_with_owner_name(uow.session, caller, customer_id)
    return customer_out(c, owner_name)


def list_customers(uow: UnitOfWork, caller: Caller, query: schemas.CustomerQuery
                   ) -> dict[str, Any]:
    fields = selection(query.fields)
    rows, cursor = search.list_customers(uow.session, caller, query.model_dump(),
                                         fields.columns)
    return {"items": customers_out(rows, fields), "next_cursor": cursor}


def update_customer(uow: CustomerWork, caller: Caller, customer_id: str,
                    data: schemas.CustomerUpdate, expected_version: int | None) -> dict[str, Any]:
    people = uow.repos.people
    c = writable(uow, caller, customer_id)
    rules.check_version(c.version, expected_version)
    changes = rules.flatten_fields(data.model_dump(exclude_unset=True))
    if changes.get("category_ids") is not None:
        _check_categories(uow, changes["category_ids"], c.category_ids)
    current = {name: getattr(c, name) for name in rules.TRACKED_FIELDS}
    changed = rules.diff(current, changes)
    if not changed:
        return customer_out(c, people.name(c.owner_id))
    for name in changed:
        setattr(c, name, changes[name])
    keys = _keys_of(c)
    if {"name", "tax_id", "phones", "emails"} & set(changed):
        if "phones" in changed:
            c.phones = [k.split(":", 1)[1] for k in sorted(keys) if k.startswith("phone:")]
        uow.repos.keys.release(c.id)
        _claim_keys(uow, c.id, keys)
    refresh_search(uow, c)
    bump(c)
    _history(uow, c.id, "updated", changed)
    uow.publish(events.CustomerUpdated(**snapshot(c), changed=sorted(changed)))
    uow.commit()
    return customer_out(c, people.name(c.owner_id))


def archive_customer(uow: CustomerWork, caller: Caller, customer_id: str,
                     expected_version: int | None) -> dict[str, Any]:
    c = writable(uow, caller, customer_id)
    rules.check_version(c.version, expected_version)
    c.status = rules.CUSTOMER.next(c.status, "archive")
    # an archived record no longer blocks a new customer with the same name or phone
    uow.repos.keys.release(c.id)
    bump(c)
    _history(uow, c.id, "archived", {})
    uow.publish(events.CustomerArchived(**snapshot(c)))
    uow.commit()
    return customer_out(c, uow.repos.people.name(c.owner_id))


def customer_history(uow: UnitOfWork, caller: Caller, customer_id: str,
                     page: schemas.HistoryQuery) -> dict[str, Any]:
    queries.get_visible(uow.session, caller, customer_id)
    query = select(CustomerHistory).where(CustomerHistory.customer_id == customer_id)
    rows, cursor = keyset_page(uow.session, query, page.limit, page.cursor,
                               (CustomerHistory.id,), descending=True)
    items = [schemas.HistoryEntry.model_validate(r, from_attributes=True).model_dump(mode="json")
             for r in rows]
    return {"items": items, "next_cursor": cursor}


# -- ownership ---------------------------------------------------------------------------
def claim_customer(uow: CustomerWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    repos = uow.repos
    # one claim at a time per rep, so the per-rep limit holds under concurrency
    repos.people.get(caller.user_id, lock=True)
    # not scoped: a pool customer someone just claimed is "already owned" (409) for the
    # loser of the race, not "not found"
    c = repos.customers.get(customer_id, lock=True)
    if c is None or c.status != "active":
        raise NotFound("customer not found", code="customer_not_found")
    limit = int(repos.settings.read("pool", POOL_DEFAULTS)["claim_limit"])
    ownership.check_claim(c.owner_id, repos.customers.owned_count(caller.user_id), limit)
    _set_owner(uow, c, caller.user_id, "claim")
    uow.commit()
    return customer_out(c, repos.people.name(c.owner_id))


def release_customer(uow: CustomerWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    c = uow.repos.customers.visible(caller, customer_id, lock=True, include_archived=False)
    ownership.check_release(c.owner_id, caller)
    _set_owner(uow, c, None, "release")
    uow.commit()
    return customer_out(c, None)


def transfer_customer(uow: CustomerWork, caller: Caller, customer_id: str,
                      data: schemas.TransferRequest) -> dict[str, Any]:
    c = writable(uow, caller, customer_id)
    target = _staff_load(uow, data.to_user_id)
    ownership.check_transfer(c.owner_id, target)
    if not caller.can_see_owner(data.to_user_id):
        raise Forbidden("the new owner is outside your team", code="owner_out_of_scope")
    _set_owner(uow, c, data.to_user_id, "transfer")
    uow.commit()
    return customer_out(c, uow.repos.people.name(c.owner_id))


def handover(uow: UnitOfWork, from_user_id: str, to_user_id: str) -> dict[str, int]:
    """Move every open record of one user to another (CUS-07) in one transaction: the
    customer service's part of a handover (``use_cases.handover.HANDOVER``)."""
    work = customer_work(uow)
    ownership.check_handover(from_user_id, _staff_load(work, to_user_id))
    moved = HANDOVER.hand_over(uow, from_user_id, to_user_id,
                               work.repos.people.team_of(to_user_id))
    uow.commit()
    return {"moved": moved["customers"], "followups_moved": moved["followups"],
            "visit_plans_moved": moved["visit_plans"], "segments_moved": moved["segments"]}


def handover_customers(uow: UnitOfWork, caller: Caller, data: schemas.HandoverRequest
                       ) -> dict[str, int]:
    if caller.scope != "all" and not (caller.can_see_owner(data.from_user_id)
                                      and caller.can_see_owner(data.to_user_id)):
        raise Forbidden("both users must be in your team", code="owner_out_of_scope")
    return handover(uow, data.from_user_id, data.to_user_id)


def return_idle_to_pool(uow: UnitOfWork, now: datetime | None = None, batch: int = 500) -> int:
    """Customers nobody worked for N days go back to the pool (CUS-05). Rows are claimed
    with SKIP LOCKED, so replicas running this timer together never both move one."""
    s = uow.session
    days = int(queries.setting(s, "pool", POOL_DEFAULTS)["days_without_followup"])
    now = now or datetime.now(UTC)
    from datetime import timedelta

    cutoff = now - timedelta(days=days)
    query = select(Customer).where(
        Customer.owner_id.is_not(None), Customer.status == "active",
        Customer.last_activity_at < cutoff).limit(batch)
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(s.scalars(query))
    work = customer_work(uow)
    for c in rows:
        if ownership.pool_return_due(c.last_activity_at, now, days):
            _set_owner(work, c, None, "pool_return")
    uow.commit()
    return len(rows)


def get_pool_settings(uow: UnitOfWork) -> dict[str, Any]:
    return queries.setting(uow.session, "pool", POOL_DEFAULTS)


def put_pool_settings(uow: UnitOfWork, caller: Caller, data: schemas.PoolSettings
                      ) -> dict[str, Any]:
    if caller.scope != "all":
        raise Forbidden("only admins change pool settings", code="permission_denied")
    value = queries.put_setting(uow.session, "pool", data.model_dump())
    uow.commit()
    return value
