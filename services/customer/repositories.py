"""What the customer service's write use cases (create, update, archive, claim, release,
transfer) need of storage, as small protocols.

The SQL implementations are in :mod:`services.customer.db.repositories`; unit tests use
in-memory ones built on :mod:`crm_platform.fakes` (tests/unit/test_customer_use_cases.py).
Rows are the models of :mod:`services.customer.db.models`. Lists and searches read
through :mod:`services.customer.db.search` directly: they have no rule to test apart
from their SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from crm_platform.auth import Caller
from crm_platform.uow import Work

from services.customer.db.models import Customer, Staff
from services.customer.domain.ownership import AssignmentRule


class Customers(Protocol):
    def visible(self, caller: Caller, customer_id: str, *, lock: bool = False,
                include_archived: bool = True) -> Customer:
        """The customer if the caller sees it; 404 ``customer_not_found``."""

    def get(self, customer_id: str, *, lock: bool = False) -> Customer | None:
        """Whatever the caller's scope (a claim of a pool customer)."""

    def insert(self, customer: Customer) -> None: ...

    def owned_count(self, user_id: str) -> int:
        """How many active customers the user owns."""

    def on_account_team(self, customer_id: str, user_id: str) -> bool: ...


class IdentityKeys(Protocol):
    """The duplicate guard: each identity key (name, tax id, phone, email) is held by one
    customer at most."""

    def claim(self, customer_id: str, keys: set[str]) -> set[str]:
        """Take the keys nobody holds; returns those taken."""

    def holders(self, keys: Iterable[str], exclude_customer: str | None = None
                ) -> dict[str, str]:
        """{key: customer id} of those keys another customer holds."""

    def release(self, customer_id: str) -> None: ...


class History(Protocol):
    def add(self, customer_id: str, actor_id: str | None, kind: str,
            changes: dict[str, Any], reason: str | None) -> None: ...


class Contacts(Protocol):
    def names_of(self, customer_id: str) -> list[str]: ...


class Categories(Protocol):
    def active(self, ids: set[str]) -> set[str]:
        """Those of ``ids`` that exist and are not retired."""


class People(Protocol):
    def get(self, user_id: str, *, lock: bool = False) -> Staff | None: ...

    def team_and_name(self, user_id: str) -> tuple[str | None, str | None] | None:
        """The user's team and display name; None for an unknown user."""

    def name(self, user_id: str | None) -> str | None: ...

    def team_of(self, user_id: str | None) -> str | None: ...

    def assignable(self) -> list[Staff]:
        """Active staff (assignment rules pick among them)."""

    def mark_assigned(self, user_id: str, at: datetime) -> None: ...


class AssignmentRules(Protocol):
    def active(self) -> list[AssignmentRule]: ...


class Settings(Protocol):
    def read(self, name: str, default: dict[str, Any]) -> dict[str, Any]: ...


class Sequences(Protocol):
    def next(self, name: str) -> int: ...


class CustomerRepositories(Protocol):
    @property
    def customers(self) -> Customers: ...
    @property
    def keys(self) -> IdentityKeys: ...
    @property
    def history(self) -> History: ...
    @property
    def contacts(self) -> Contacts: ...
    @property
    def categories(self) -> Categories: ...
    @property
    def people(self) -> People: ...
    @property
    def rules(self) -> AssignmentRules: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def sequences(self) -> Sequences: ...


CustomerWork = Work[CustomerRepositories]
