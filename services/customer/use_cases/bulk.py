"""Bulk import and export (CUS-13, CUS-15) and merging duplicates (CUS-14)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from crm_platform import wire
from crm_platform.auth import Caller
from crm_platform.bulk_insert import insert_rows
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, Forbidden, ValidationFailed
from crm_platform.memory import collector_paused
from crm_platform.pagination import MAX_LIMIT, clamp_limit, decode_cursor, encode_cursor
from crm_platform.spreadsheet import SafeWriter
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork
from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.customer import events, schemas
from services.customer.db import duplicates, queries, search
from services.customer.db.models import (
    AccountTeamMember,
    Contact,
    Customer,
    CustomerHistory,
    CustomerKey,
    FollowUp,
    PaidOrder,
    Staff,
    VisitPlan,
)
from services.customer.db.repositories import customer_work
from services.customer.domain import customers as rules
from services.customer.domain.identity_keys import identity_keys
from services.customer.domain.list_fields import SUMMARY
from services.customer.domain.search import search_columns
from services.customer.use_cases.customers import (
    customer_out,
    customers_out,
    refresh_search,
    snapshot,
    writable,
)
from services.customer.use_cases.membership import move_card

MAX_IMPORT_ROWS = 10_000
MAX_EXPORT_ROWS = 100_000
CSV_COLUMNS = ("code", "name", "kind", "phones", "emails", "tax_id", "industry", "province",
               "city", "district", "address", "source", "tags", "owner_id", "owner_name",
               "tier", "lifecycle", "stage", "created_at")
LIST_SEPARATOR = ";"


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(LIST_SEPARATOR) if v.strip()]


def _parse_row(raw: dict[str, str | None]) -> schemas.CustomerCreate:
    fields: dict[str, Any] = {
        "name": (raw.get("name") or "").strip(),
        "kind": (raw.get("kind") or "company").strip() or "company",
        "phones": _split(raw.get("phones") or raw.get("phone")),
        "emails": _split(raw.get("emails") or raw.get("email")),
        "tags": _split(raw.get("tags")),
    }
    for name in ("tax_id", "industry", "address", "source", "website"):
        if (raw.get(name) or "").strip():
            fields[name] = (raw.get(name) or "").strip()
    region = {k: (raw.get(k) or "").strip() for k in ("province", "city", "district")}
    if any(region.values()):
        fields["region"] = {k: v or None for k, v in region.items()}
    return schemas.CustomerCreate.model_validate(fields)


def import_customers(uow: UnitOfWork, caller: Caller, data: schemas.CsvFile
                     ) -> dict[str, Any]:
    """Validate every row, then create all valid non-duplicate rows in one transaction
    (the valid rows are kept when others are left out; a crash or a refused commit
    leaves nothing half-imported). Rows duplicating an existing customer or an earlier
    row of the same file, and invalid rows, are reported, not created."""
    with collector_paused():  # full collections over the whole process, again and again
        return _import_customers(uow, caller, data)


def _import_customers(uow: UnitOfWork, caller: Caller, data: schemas.CsvFile
                      ) -> dict[str, Any]:
    if not caller.has("customer:import"):
        raise Forbidden("importing needs customer:import", code="permission_denied")
    # newline="": a line may end in CR alone (old Mac files); the csv module reads every
    # ending itself, and a lone CR otherwise raised csv.Error (a 502, found by S5)
    reader = csv.DictReader(io.StringIO(data.content, newline=""))
    try:
        fieldnames = reader.fieldnames
        rows = list(reader)
    except csv.Error as exc:
        raise ValidationFailed(f"the file is not CSV: {exc}", code="invalid_csv",
                               extra={"columns": list(schemas.IMPORT_COLUMNS)}) from None
    if not fieldnames or "name" not in fieldnames:
        raise ValidationFailed("the CSV needs a header row with at least a `name` column",
                               code="invalid_csv", extra={"columns": list(
                                   schemas.IMPORT_COLUMNS)})
    ignored = [name for name in fieldnames
               if name not in schemas.IMPORT_COLUMNS and name not in schemas.IMPORT_ALIASES]
    s = uow.session
    results: list[dict[str, Any]] = []
    staged: list[tuple[int, Any, set[str]]] = []  # (row, SimpleNamespace row, keys)
    claimed: dict[str, int] = {}  # key -> row that claimed it in this file
    now = utcnow()
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(f"at most {MAX_IMPORT_ROWS} rows per import",
                               code="too_many_rows")
    parsed: list[tuple[int, schemas.CustomerCreate, set[str]]] = []
    for number, raw in enumerate(rows, start=1):
        try:
            record = _parse_row(raw)
            keys = identity_keys(record.kind, record.name, record.tax_id, record.phones,
                                 record.emails)
        except ValidationError as exc:
            results.append({"row": number, "status": "invalid", "errors": [
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]})
            continue
        except ValidationFailed as exc:
            results.append({"row": number, "status": "invalid", "errors": [exc.detail]})
            continue
        parsed.append((number, record, keys))
    existing = queries.existing_keys(s, sorted({k for _, _, keys in parsed for k in keys}))
    owners = dict(s.execute(select(Customer.id, Customer.owner_id).where(
        Customer.id.in_(set(existing.values())))).tuples().all()) if existing else {}
    names = queries.staff_names(s, [*owners.values(), caller.user_id])
    team_id = s.scalar(select(Staff.team_id).where(Staff.id == caller.user_id))
    year = now.year
    for number, record, keys in parsed:
        hit = next((existing[k] for k in sorted(keys) if k in existing), None)
        if hit is not None:
            owner_id = owners.get(hit)
            results.append({"row": number, "status": "duplicate", "duplicate_of": hit,
                            "owner": {"id": owner_id, "display_name": names.get(
                                owner_id or "", owner_id)} if owner_id else None})
            continue
        earlier = next((claimed[k] for k in sorted(keys) if k in claimed), None)
        if earlier is not None:
            results.append({"row": number, "status": "duplicate",
                            "errors": [f"duplicates row {earlier} of this file"]})
            continue
        fields = rules.flatten_fields(record.model_dump(exclude_unset=True))
        # a plain row, not an ORM object: 10,000 instrumented 60-column objects were a
        # large share of an import's time
        customer = SimpleNamespace(**{
            **_import_defaults(),
            **{k: v for k, v in fields.items() if k in COLUMNS and k not in ("phones", "emails")},
            "id": str(uuid.uuid4()), "code": "", "status": "active",
            "created_by": caller.user_id, "created_at": now, "updated_at": now,
            "last_activity_at": now, "version": 1, "owner_id": caller.user_id,
            "owner_team_id": team_id,
            "phones": [k.split(":", 1)[1] for k in sorted(keys) if k.startswith("phone:")],
            "emails": list(fields.pop("emails", []) or [])})
        for key in keys:
            claimed[key] = number
        staged.append((number, customer, keys))
        results.append({"row": number, "status": "created", "customer_id": customer.id})
    if staged:
        # codes for the whole file in one statement, in row order, taken last so that
        # other writers of the series wait as briefly as possible
        first = queries.next_sequence(s, f"customer-{year}", count=len(staged))
        for offset, (_, cu, _) in enumerate(staged):
            cu.code = rules.customer_code(year, first + offset)
            vars(cu).update(search_columns([cu.name], [
                cu.code, *cu.phones, *cu.emails, cu.tax_id or ""]))
        try:
            insert_rows(s, Customer.__table__, [vars(cu) for _, cu, _ in staged])
            insert_rows(s, CustomerKey.__table__, [
                {"key": k, "customer_id": cu.id} for _, cu, keys in staged for k in sorted(keys)])
        except IntegrityError:
            raise Conflict("another user created some of these customers meanwhile; "
                           "nothing was imported, run the import again",
                           code="import_conflict") from None
        insert_rows(s, CustomerHistory.__table__, [
            {"customer_id": cu.id, "actor_id": caller.user_id, "kind": "created",
             "changes": {"owner_id": caller.user_id}, "reason": "import",
             "occurred_at": now} for _, cu, _ in staged])
        for _, cu, _ in staged:  # the importer owns them: customer.created says so
            uow.publish(events.CustomerCreated(**snapshot(cu)))
    uow.commit()
    results.sort(key=lambda r: r["row"])
    counts = {status: sum(r["status"] == status for r in results)
              for status in ("created", "duplicate", "invalid")}
    outcome, summary = rules.import_outcome(counts["created"], counts["duplicate"],
                                            counts["invalid"])
    return {"created": counts["created"], "duplicates": counts["duplicate"],
            "invalid": counts["invalid"], "outcome": outcome, "summary": summary,
            "ignored_columns": ignored, "rows": results}


COLUMNS = frozenset(c.key for c in Customer.__table__.columns)


def _defaults() -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    static: dict[str, Any] = {}
    made: list[tuple[str, Any]] = []  # (column, factory): fresh lists, dicts, times per row
    for column in Customer.__table__.columns:
        arg = column.default.arg if column.default is not None else None  # type: ignore[attr-defined]
        if callable(arg):
            made.append((column.key, arg))
        else:
            static[column.key] = arg
    return static, made


_STATIC_DEFAULTS, _MADE_DEFAULTS = _defaults()


def _row_defaults() -> dict[str, Any]:
    """Every column with the model's default: a Core insert skips the ORM's defaults."""
    return {**_STATIC_DEFAULTS, **{key: make(None) for key, make in _MADE_DEFAULTS}}


# columns an import always sets itself: no default made for them (three clock readings
# per row were most of the defaults' cost)
_IMPORT_SETS = frozenset({"id", "code", "status", "created_by", "created_at", "updated_at",
                          "last_activity_at", "version", "owner_id", "owner_team_id",
                          "phones", "emails"})


def _fresh_containers() -> list[tuple[str, type[list[Any]] | type[dict[str, Any]]]]:
    """The remaining made defaults are fresh empty lists and dicts (tags, categories,
    attributes): made by the builtins rather than through SQLAlchemy's wrappers."""
    made = []
    for key, make in _MADE_DEFAULTS:
        if key in _IMPORT_SETS:
            continue
        value = make(None)
        if value not in ([], {}):
            raise RuntimeError(f"an import does not know how to default {key}")
        made.append((key, list if isinstance(value, list) else dict))
    return made


_IMPORT_MADE = _fresh_containers()


def _import_defaults() -> dict[str, Any]:
    """:func:`_row_defaults` but for the columns an import sets anyway."""
    return {**_STATIC_DEFAULTS, **{key: make() for key, make in _IMPORT_MADE}}


def export_customers(uow: UnitOfWork, caller: Caller, query: schemas.ExportQuery
                     ) -> dict[str, Any]:
    """Customers in the caller's scope matching the filters, as CSV (UTF-8 with BOM so
    spreadsheet programs read Chinese correctly). The gateway audits every export."""
    if not caller.has("customer:export"):
        raise Forbidden("exporting needs customer:export", code="permission_denied")
    out = io.StringIO()
    out.write("\ufeff")
    writer = SafeWriter(out)  # names, addresses, tags: no cell may run as a formula
    writer.writerow(CSV_COLUMNS)
    q = {**query.model_dump(), "limit": MAX_LIMIT}
    written = 0
    while True:
        rows, cursor = search.list_customers(uow.session, caller, q)
        names = queries.staff_names(uow.session, (r.owner_id for r in rows))
        for c in rows:
            writer.writerow(_csv_row(c, names))
        written += len(rows)
        if cursor is None or written >= MAX_EXPORT_ROWS:
            break
        q["cursor"] = cursor
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return {"filename": f"customers-{stamp}.csv", "content": out.getvalue(), "rows": written}


def _csv_row(c: Customer, names: dict[str, str]) -> Iterable[Any]:
    return (c.code, c.name, c.kind, LIST_SEPARATOR.join(c.phones),
            LIST_SEPARATOR.join(c.emails), c.tax_id or "", c.industry or "",
            c.province or "", c.city or "", c.district or "", c.address or "",
            c.source or "", LIST_SEPARATOR.join(c.tags), c.owner_id or "",
            names.get(c.owner_id or "", ""), c.tier or "", c.lifecycle, c.stage,
            wire.timestamp(c.created_at))


def _not_merged(s: Session, customer: Customer) -> None:
    """A merged record is a tombstone: merging it again is a 409 naming the customer it
    lives on in (the end of its chain of merges)."""
    if customer.status != "merged":
        return
    survivor = customer
    while survivor.merged_into_id:
        nxt = s.get(Customer, survivor.merged_into_id)
        if nxt is None:
            break
        survivor = nxt
    raise Conflict(f"customer {customer.code} was merged already, into {survivor.code}",
                   code="already_merged",
                   extra={"customer_id": customer.id, "survivor_id": survivor.id})


_MATCHED_ON = {"phone": "phone", "email": "email", "person": "person_name"}


def list_duplicates(uow: UnitOfWork, caller: Caller, query: schemas.DuplicateQuery
                    ) -> dict[str, Any]:
    """Duplicate candidates among the customers in the caller's scope, to merge (CUS-14),
    paged by what they share."""
    s = uow.session
    size = clamp_limit(query.limit)
    after = decode_cursor(query.cursor, str)
    found = duplicates.candidates(s, caller, after[0] if after else None, size + 1,
                                  query.customer_id)
    page = found[:size]
    rows = {r.id: r for r in search.summaries(s, sorted({i for _, ids in page for i in ids}))}
    items = []
    for key, ids in page:
        kind, value = key.split(":", 1)
        items.append({"matched_on": _MATCHED_ON[kind], "value": value,
                      "customers": customers_out([rows[i] for i in ids if i in rows], SUMMARY)})
    more = len(found) > size
    return {"items": items, "next_cursor": encode_cursor([page[-1][0]]) if more else None}


def merge_customers(uow: UnitOfWork, caller: Caller, data: schemas.MergeRequest
                    ) -> dict[str, Any]:
    """The survivor keeps its own record and gains the merged one's contacts, follow-ups,
    visit plans, account team, history and identity keys; the merged record stays as a
    tombstone pointing at the survivor; ``customer.merged`` tells other services."""
    if data.survivor_id == data.merged_id:
        raise ValidationFailed("a customer cannot be merged into itself", code="same_customer")
    s = uow.session
    first, second = sorted([data.survivor_id, data.merged_id])  # lock in a fixed order
    for cid in (first, second):
        _not_merged(s, queries.get_visible(s, caller, cid, lock=True))
    locked = {cid: writable(customer_work(uow), caller, cid) for cid in (first, second)}
    survivor, merged = locked[data.survivor_id], locked[data.merged_id]
    moved = {}
    for model in (Contact, FollowUp, VisitPlan, PaidOrder):
        moved[model.__tablename__] = int(s.execute(
            update(model).where(model.customer_id == merged.id)
            .values(customer_id=survivor.id).execution_options(synchronize_session=False)
        ).rowcount or 0)  # type: ignore[attr-defined]
    members = set(s.scalars(select(AccountTeamMember.user_id).where(
        AccountTeamMember.customer_id == survivor.id)))
    s.execute(delete(AccountTeamMember).where(AccountTeamMember.customer_id == merged.id,
                                              AccountTeamMember.user_id.in_(members)))
    s.execute(update(AccountTeamMember).where(AccountTeamMember.customer_id == merged.id)
              .values(customer_id=survivor.id).execution_options(synchronize_session=False))
    moved["history"] = int(s.execute(
        update(CustomerHistory).where(CustomerHistory.customer_id == merged.id)
        .values(customer_id=survivor.id).execution_options(synchronize_session=False)
    ).rowcount or 0)  # type: ignore[attr-defined]
    move_card(uow, merged.id, survivor.id)
    # the survivor answers for the merged record's names, phones and emails from now on
    s.execute(update(CustomerKey).where(CustomerKey.customer_id == merged.id)
              .values(customer_id=survivor.id).execution_options(synchronize_session=False))
    survivor.phones = list(dict.fromkeys([*survivor.phones, *merged.phones]))
    survivor.emails = list(dict.fromkeys([*survivor.emails, *merged.emails]))
    survivor.tags = list(dict.fromkeys([*survivor.tags, *merged.tags]))
    survivor.paid_revenue += merged.paid_revenue
    survivor.paid_orders += merged.paid_orders
    for name in ("last_purchase_at", "last_visit_at", "last_followup_at"):
        values = [v for v in (getattr(survivor, name), getattr(merged, name)) if v]
        setattr(survivor, name, max(values) if values else None)
    merged.status = rules.CUSTOMER.next(merged.status, "merge")
    merged.merged_into_id = survivor.id
    bump(merged)
    bump(survivor)
    s.flush()
    refresh_search(customer_work(uow), survivor)
    s.add(CustomerHistory(customer_id=survivor.id, actor_id=caller.user_id, kind="merged",
                          changes={"merged_id": merged.id, "merged_code": merged.code},
                          occurred_at=utcnow()))
    uow.publish(events.CustomerMerged(**snapshot(merged), survivor_id=survivor.id,
                                      merged_id=merged.id))
    uow.publish(events.CustomerUpdated(**snapshot(survivor), changed=["phones", "emails",
                                                                      "tags"]))
    uow.commit()
    return {"survivor": customer_out(survivor, queries.staff_name(s, survivor.owner_id)),
            "merged_id": merged.id, "moved": moved}
