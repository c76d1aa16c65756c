"""What a sales user hands over when deactivated (``user.deactivated``): every table
naming the user who holds its rows is declared here, moved while the work is open or
kept with its author for the reason given. Closed business (won and lost deals,
converted leads, confirmed orders) stays with whoever closed it: revenue and win rates
are counted for them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from crm_platform.handover import Handover, Owned
from crm_platform.uow import UnitOfWork
from sqlalchemy import ColumnElement, or_

from services.sales.db import queries, rollups
from services.sales.db.models import Campaign, Lead, Opportunity, Order, Quote
from services.sales.use_cases.common import deactivate_staff


def _move_opportunity(uow: UnitOfWork, o: Any, move: Callable[[], None]) -> None:
    """The funnel and forecast rollups follow the opportunity to its new owner."""
    before = rollups.snapshot(o)
    move()
    rollups.move(uow.session, before, rollups.snapshot(o))


def _campaign_running(today: date) -> ColumnElement[bool]:
    return or_(Campaign.end_date.is_(None), Campaign.end_date >= today)


HANDOVER = Handover(
    moves=(
        Owned(Lead, states=frozenset({"new", "contacted", "qualified"})),
        Owned(Opportunity, states=frozenset({"open"}), reassign=_move_opportunity),
        Owned(Quote, states=frozenset({"draft", "pending_approval", "approved", "rejected"})),
        # until it is confirmed an order is its rep's work; a confirmed one is revenue
        Owned(Order, states=frozenset({"draft", "pending_approval"})),
        Owned(Campaign, open_when=_campaign_running, team=None, touch=()),
    ),
    stays={
        "customers.owner_id": "a copy of the customer service's owner: it follows "
                              "customer.owner_changed, which that service's handover sends",
        "work_logs.author_id": "a work log or plan is what its author did or meant to do",
        "open_pipeline_totals.owner_id": "derived from opportunities: moves with them",
        "closed_pipeline_totals.owner_id": "derived from won and lost opportunities, which "
                                           "stay with whoever closed them",
    },
)


def on_user_deactivated(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The leaver stops being offered as an owner; their open work goes to the successor."""
    deactivate_staff(uow, data)
    successor = data["successor_id"]
    HANDOVER.hand_over(uow, data["id"], successor, queries.team_of(uow.session, successor))
