"""What sales' write use cases (leads, opportunities, quotes, orders) need of storage, as
small protocols.

The SQL implementations are in :mod:`services.sales.db.repositories`; unit tests use
in-memory ones built on :mod:`crm_platform.fakes` (tests/unit/test_sales_use_cases.py).
Rows are the models of :mod:`services.sales.db.models`. ``visible`` answers a record
whose owner is in the caller's scope (404 ``<what>_not_found`` otherwise); ``lock``
means SELECT … FOR UPDATE in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from crm_platform.auth import Caller
from crm_platform.read_models import Fetch
from crm_platform.uow import Work

from services.sales.db.models import (
    CustomerCopy,
    Delivery,
    Lead,
    Opportunity,
    Order,
    PipelineStage,
    Product,
    Quote,
    Staff,
    StageChange,
)
from services.sales.db.rollups import Snapshot

M = TypeVar("M")
M_contra = TypeVar("M_contra", contravariant=True)


class Owned(Protocol[M]):
    """Records with an owner: leads, opportunities, quotes, orders."""

    def visible(self, caller: Caller, record_id: str, *, lock: bool = False) -> M: ...

    def add(self, record: M) -> None: ...


class Quotes(Owned[Quote], Protocol):
    def live(self, customer_id: str, opportunity_id: str | None) -> list[Quote]:
        """The customer's unfinished quotes for the opportunity (or for none), locked."""


class Customers(Protocol):
    def copy_of(self, customer_id: str, fetch: Fetch | None) -> CustomerCopy | None:
        """The local copy (a merged id resolves to its survivor; one not copied yet is
        asked of the customer service with ``fetch``)."""

    def get(self, customer_id: str) -> CustomerCopy | None: ...


class Products(Protocol):
    def many(self, ids: Iterable[str]) -> list[Product]: ...


class Stages(Protocol):
    def get(self, stage_id: str) -> PipelineStage | None: ...

    def first_active(self) -> PipelineStage | None: ...


class People(Protocol):
    def get(self, user_id: str) -> Staff | None: ...

    def team_of(self, user_id: str | None) -> str | None: ...

    def manager_of(self, user_id: str | None) -> str | None:
        """The manager of the user's team, or of the nearest team above that has one."""


class Added(Protocol[M_contra]):
    def add(self, record: M_contra) -> None: ...


class PipelineTotals(Protocol):
    def move(self, before: Snapshot | None, after: Snapshot | None) -> None:
        """Keep the analytics rollups in step with an opportunity that changed."""


class Settings(Protocol):
    def read(self, name: str, default: dict[str, Any]) -> dict[str, Any]: ...


class Sequences(Protocol):
    def next(self, name: str) -> int: ...


class SalesRepositories(Protocol):
    @property
    def customers(self) -> Customers: ...
    @property
    def leads(self) -> Owned[Lead]: ...
    @property
    def opportunities(self) -> Owned[Opportunity]: ...
    @property
    def quotes(self) -> Quotes: ...
    @property
    def orders(self) -> Owned[Order]: ...
    @property
    def deliveries(self) -> Added[Delivery]: ...
    @property
    def stage_changes(self) -> Added[StageChange]: ...
    @property
    def products(self) -> Products: ...
    @property
    def stages(self) -> Stages: ...
    @property
    def people(self) -> People: ...
    @property
    def totals(self) -> PipelineTotals: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def sequences(self) -> Sequences: ...


SalesWork = Work[SalesRepositories]
