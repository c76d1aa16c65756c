"""Saved segments (CUS-12): rules over attributes and computed metrics, evaluated when
read, so members and counts always reflect the customers as they are now."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.errors import Forbidden, NotFound
from crm_platform.pagination import PageQuery, keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import func, select

from services.customer import schemas
from services.customer.db import queries
from services.customer.db.models import Customer, SegmentRow
from services.customer.domain import customers as rules
from services.customer.domain.segments import check_conditions, with_paths
from services.customer.use_cases.customers import list_customers


def _count(uow: UnitOfWork, caller: Caller, segment: SegmentRow) -> int:
    query = queries.visible(select(func.count()).select_from(Customer), caller).where(
        Customer.status == "active", queries.segment_clause(uow.session, segment.conditions))
    return int(uow.session.scalar(query) or 0)


def segment_out(uow: UnitOfWork, caller: Caller, segment: SegmentRow,
                with_count: bool = True) -> dict[str, Any]:
    return schemas.Segment.model_validate({
        "id": segment.id, "name": segment.name, "description": segment.description,
        "conditions": with_paths(segment.conditions), "owner_id": segment.owner_id,
        "member_count": _count(uow, caller, segment) if with_count else None,
        "version": segment.version, "created_at": segment.created_at,
        "updated_at": segment.updated_at}).model_dump(mode="json")


def create_segment(uow: UnitOfWork, caller: Caller, data: schemas.SegmentIn) -> dict[str, Any]:
    conditions = with_paths([c.model_dump() for c in data.conditions])
    check_conditions(conditions)
    now = utcnow()
    segment = SegmentRow(id=str(uuid.uuid4()), name=data.name, description=data.description,
                         conditions=conditions, owner_id=caller.user_id, version=1,
                         created_at=now, updated_at=now)
    uow.session.add(segment)
    uow.commit()
    return segment_out(uow, caller, segment)


def _segment(uow: UnitOfWork, segment_id: str, lock: bool = False) -> SegmentRow:
    segment = uow.session.get(SegmentRow, segment_id, with_for_update=lock)
    if segment is None:
        raise NotFound("segment not found", code="segment_not_found")
    return segment


def get_segment(uow: UnitOfWork, caller: Caller, segment_id: str) -> dict[str, Any]:
    return segment_out(uow, caller, _segment(uow, segment_id))


def list_segments(uow: UnitOfWork, caller: Caller, page: PageQuery) -> dict[str, Any]:
    rows, cursor = keyset_page(uow.session, select(SegmentRow), page.limit, page.cursor,
                               (SegmentRow.name, SegmentRow.id))
    return {"items": [segment_out(uow, caller, r, with_count=False) for r in rows],
            "next_cursor": cursor}


def update_segment(uow: UnitOfWork, caller: Caller, segment_id: str,
                   data: schemas.SegmentUpdate, expected_version: int | None
                   ) -> dict[str, Any]:
    segment = _segment(uow, segment_id, lock=True)
    if segment.owner_id != caller.user_id and caller.scope != "all":
        raise Forbidden("only the segment's author or an admin changes it")
    rules.check_version(segment.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    if "conditions" in changes:
        changes["conditions"] = with_paths(changes["conditions"])
        check_conditions(changes["conditions"])
    for name, value in changes.items():
        setattr(segment, name, value)
    segment.version += 1
    segment.updated_at = utcnow()
    uow.commit()
    return segment_out(uow, caller, segment)


def delete_segment(uow: UnitOfWork, caller: Caller, segment_id: str) -> dict[str, Any]:
    segment = _segment(uow, segment_id, lock=True)
    if segment.owner_id != caller.user_id and caller.scope != "all":
        raise Forbidden("only the segment's author or an admin deletes it")
    out = segment_out(uow, caller, segment, with_count=False)
    uow.session.delete(segment)
    uow.commit()
    return out


def segment_members(uow: UnitOfWork, caller: Caller, segment_id: str,
                    query: schemas.SegmentMembersQuery) -> dict[str, Any]:
    _segment(uow, segment_id)
    return list_customers(uow, caller, schemas.CustomerQuery(
        segment_id=segment_id, limit=query.limit, cursor=query.cursor, sort="name",
        fields=query.fields))
