"""The SQL side of :mod:`services.sales.repositories`, over one unit of work's session."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from crm_platform.auth import Caller
from crm_platform.db import SqlSequences, SqlSettings
from crm_platform.read_models import Fetch, copy_of
from crm_platform.uow import SqlWork, UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.sales.db import queries, rollups
from services.sales.db.models import (
    Base,
    CustomerCopy,
    Delivery,
    Lead,
    NumberSequence,
    Opportunity,
    Order,
    PipelineStage,
    Product,
    Quote,
    Setting,
    Staff,
    StageChange,
)
from services.sales.repositories import SalesRepositories, SalesWork

M = TypeVar("M", bound=Base)


class SqlAdded(Generic[M]):
    def __init__(self, s: Session) -> None:
        self.s = s

    def add(self, record: M) -> None:
        self.s.add(record)


class SqlOwned(SqlAdded[M]):
    def __init__(self, s: Session, model: type[M], what: str) -> None:
        super().__init__(s)
        self.model, self.what = model, what

    def visible(self, caller: Caller, record_id: str, *, lock: bool = False) -> M:
        return queries.get_visible(self.s, self.model, record_id, caller, self.what,
                                   lock=lock)


class SqlQuotes(SqlOwned[Quote]):
    def __init__(self, s: Session) -> None:
        super().__init__(s, Quote, "quote")

    def live(self, customer_id: str, opportunity_id: str | None) -> list[Quote]:
        return list(self.s.scalars(select(Quote).where(
            Quote.customer_id == customer_id, Quote.opportunity_id.is_(None)
            if opportunity_id is None else Quote.opportunity_id == opportunity_id,
            Quote.status.in_(("draft", "pending_approval", "approved", "rejected")))
            .with_for_update()))


class SqlCustomers:
    def __init__(self, s: Session) -> None:
        self.s = s

    def copy_of(self, customer_id: str, fetch: Fetch | None) -> CustomerCopy | None:
        found: CustomerCopy | None = copy_of(self.s, CustomerCopy, customer_id, fetch)
        return found

    def get(self, customer_id: str) -> CustomerCopy | None:
        return self.s.get(CustomerCopy, customer_id)


class SqlProducts:
    def __init__(self, s: Session) -> None:
        self.s = s

    def many(self, ids: Iterable[str]) -> list[Product]:
        return list(self.s.scalars(select(Product).where(Product.id.in_(set(ids)))))


class SqlStages:
    def __init__(self, s: Session) -> None:
        self.s = s

    def get(self, stage_id: str) -> PipelineStage | None:
        return self.s.get(PipelineStage, stage_id)

    def first_active(self) -> PipelineStage | None:
        return self.s.scalar(select(PipelineStage).where(PipelineStage.is_active.is_(True))
                             .order_by(PipelineStage.position).limit(1))


class SqlPeople:
    def __init__(self, s: Session) -> None:
        self.s = s

    def get(self, user_id: str) -> Staff | None:
        return self.s.get(Staff, user_id)

    def team_of(self, user_id: str | None) -> str | None:
        return queries.team_of(self.s, user_id)

    def manager_of(self, user_id: str | None) -> str | None:
        return queries.manager_of(self.s, user_id)


class SqlPipelineTotals:
    def __init__(self, s: Session) -> None:
        self.s = s

    def move(self, before: rollups.Snapshot | None, after: rollups.Snapshot | None) -> None:
        rollups.move(self.s, before, after)


class SqlSalesRepositories:
    def __init__(self, s: Session) -> None:
        self.customers = SqlCustomers(s)
        self.leads = SqlOwned(s, Lead, "lead")
        self.opportunities = SqlOwned(s, Opportunity, "opportunity")
        self.quotes = SqlQuotes(s)
        self.orders = SqlOwned(s, Order, "order")
        self.deliveries: SqlAdded[Delivery] = SqlAdded(s)
        self.stage_changes: SqlAdded[StageChange] = SqlAdded(s)
        self.products = SqlProducts(s)
        self.stages = SqlStages(s)
        self.people = SqlPeople(s)
        self.totals = SqlPipelineTotals(s)
        self.settings = SqlSettings(s, Setting)
        self.sequences = SqlSequences(s, NumberSequence)


def sales_work(uow: UnitOfWork) -> SalesWork:
    repos: SalesRepositories = SqlSalesRepositories(uow.session)
    return SqlWork(uow, repos)
