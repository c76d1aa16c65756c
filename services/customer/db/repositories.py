"""The SQL side of :mod:`services.customer.repositories`, over one unit of work's session.
The create path keeps its Core statements (an ORM flush of one wide row cost a create
more than the statement itself)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from crm_platform.auth import Caller
from crm_platform.db import SqlSequences, SqlSettings, insert_many, insert_new, utcnow
from crm_platform.uow import SqlWork, UnitOfWork
from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from services.customer.db import queries
from services.customer.db.models import (
    AccountTeamMember,
    AssignmentRuleRow,
    CodeSequence,
    Contact,
    Customer,
    CustomerCategory,
    CustomerHistory,
    CustomerKey,
    Setting,
    Staff,
)
from services.customer.domain.ownership import AssignmentRule
from services.customer.repositories import CustomerRepositories, CustomerWork

_HISTORY = cast(Table, CustomerHistory.__table__)
_KEYS = cast(Table, CustomerKey.__table__)
_STAFF = cast(Table, Staff.__table__).c
_RULES = cast(Table, AssignmentRuleRow.__table__).c


class SqlCustomers:
    def __init__(self, s: Session) -> None:
        self.s = s

    def visible(self, caller: Caller, customer_id: str, *, lock: bool = False,
                include_archived: bool = True) -> Customer:
        return queries.get_visible(self.s, caller, customer_id, lock=lock,
                                   include_archived=include_archived)

    def get(self, customer_id: str, *, lock: bool = False) -> Customer | None:
        return self.s.get(Customer, customer_id, with_for_update=lock)

    def insert(self, customer: Customer) -> None:
        insert_new(self.s, customer)

    def owned_count(self, user_id: str) -> int:
        return queries.owned_count(self.s, user_id)

    def on_account_team(self, customer_id: str, user_id: str) -> bool:
        return self.s.scalar(select(AccountTeamMember.id).where(
            AccountTeamMember.customer_id == customer_id,
            AccountTeamMember.user_id == user_id)) is not None


class SqlIdentityKeys:
    def __init__(self, s: Session) -> None:
        self.s = s

    def claim(self, customer_id: str, keys: set[str]) -> set[str]:
        # a key another transaction is claiming: the insert waits for it to end
        rows = [{"key": k, "customer_id": customer_id} for k in sorted(keys)]
        return set(self.s.scalars(*insert_many(
            _KEYS, rows, 'ON CONFLICT DO NOTHING RETURNING "key"')))

    def holders(self, keys: Iterable[str], exclude_customer: str | None = None
                ) -> dict[str, str]:
        return queries.existing_keys(self.s, keys, exclude_customer=exclude_customer)

    def release(self, customer_id: str) -> None:
        self.s.execute(delete(CustomerKey).where(CustomerKey.customer_id == customer_id))


class SqlHistory:
    def __init__(self, s: Session) -> None:
        self.s = s

    def add(self, customer_id: str, actor_id: str | None, kind: str,
            changes: dict[str, Any], reason: str | None) -> None:
        # a Core insert: the ORM's unit of work for a row nobody reads back cost more
        self.s.execute(_HISTORY.insert(), [{
            "customer_id": customer_id, "actor_id": actor_id, "kind": kind,
            "changes": changes, "reason": reason, "occurred_at": utcnow()}])


class SqlContacts:
    def __init__(self, s: Session) -> None:
        self.s = s

    def names_of(self, customer_id: str) -> list[str]:
        return list(self.s.scalars(select(Contact.name).where(
            Contact.customer_id == customer_id)))


class SqlCategories:
    def __init__(self, s: Session) -> None:
        self.s = s

    def active(self, ids: set[str]) -> set[str]:
        return set(self.s.scalars(select(CustomerCategory.id).where(
            CustomerCategory.id.in_(ids), CustomerCategory.retired_at.is_(None))))


class SqlPeople:
    def __init__(self, s: Session) -> None:
        self.s = s

    def get(self, user_id: str, *, lock: bool = False) -> Staff | None:
        return self.s.get(Staff, user_id, with_for_update=lock)

    def team_and_name(self, user_id: str) -> tuple[str | None, str | None] | None:
        row = self.s.execute(select(_STAFF.team_id, _STAFF.display_name).where(
            _STAFF.id == user_id)).first()
        return None if row is None else (row.team_id, row.display_name)

    def name(self, user_id: str | None) -> str | None:
        return queries.staff_name(self.s, user_id)

    def team_of(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        return self.s.scalar(select(Staff.team_id).where(Staff.id == user_id))

    def assignable(self) -> list[Staff]:
        return list(self.s.scalars(select(Staff).where(Staff.is_active.is_(True))))

    def mark_assigned(self, user_id: str, at: datetime) -> None:
        self.s.execute(update(Staff).where(Staff.id == user_id).values(last_assigned_at=at))


class SqlAssignmentRules:
    def __init__(self, s: Session) -> None:
        self.s = s

    def active(self) -> list[AssignmentRule]:
        rows = self.s.execute(select(_RULES.kind, _RULES.config, _RULES.priority).where(
            _RULES.active.is_(True))).all()
        return [AssignmentRule(r.kind, r.config, r.priority) for r in rows]


class SqlCustomerRepositories:
    def __init__(self, s: Session) -> None:
        self.customers = SqlCustomers(s)
        self.keys = SqlIdentityKeys(s)
        self.history = SqlHistory(s)
        self.contacts = SqlContacts(s)
        self.categories = SqlCategories(s)
        self.people = SqlPeople(s)
        self.rules = SqlAssignmentRules(s)
        self.settings = SqlSettings(s, Setting)
        self.sequences = SqlSequences(s, CodeSequence)


def customer_work(uow: UnitOfWork) -> CustomerWork:
    repos: CustomerRepositories = SqlCustomerRepositories(uow.session)
    return SqlWork(uow, repos)
