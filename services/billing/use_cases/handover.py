"""What a billing user hands over when deactivated (``user.deactivated``): every table
naming the user who holds its rows is declared here, moved while the work is open or
kept with its author for the reason given."""

from __future__ import annotations

from typing import Any

from crm_platform.handover import Handover, Owned
from crm_platform.uow import UnitOfWork

from services.billing.db import queries
from services.billing.db.models import Expense
from services.billing.use_cases.copies import deactivate_staff

HANDOVER = Handover(
    moves=(
        # awaiting approval, the expense needs someone to answer its approver's questions;
        # a draft or a rejected one is its author's own unfinished claim
        Owned(Expense, states=frozenset({"submitted"}), holder="submitter_id",
              team="submitter_team_id"),
    ),
    stays={
        "customers.owner_id": "a copy of the customer service's owner: it follows "
                              "customer.owner_changed, which that service's handover sends",
        "payment_plans.owner_id": "the order's owner when it was confirmed (sales keeps "
                                  "confirmed orders with their rep)",
        "dunning_log.owner_id": "whom a reminder was sent to, as it happened",
        "payments.handler_id": "who recorded the money received: a fact of the payment",
    },
)


def on_user_deactivated(uow: UnitOfWork, data: dict[str, Any]) -> None:
    deactivate_staff(uow, data)
    successor = data["successor_id"]
    HANDOVER.hand_over(uow, data["id"], successor, queries.team_of(uow.session, successor))
