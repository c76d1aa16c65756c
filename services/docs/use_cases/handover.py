"""What a documents user hands over when deactivated (``user.deactivated``): every table
naming the user who holds its rows is declared here, moved or kept with its author for
the reason given."""

from __future__ import annotations

from crm_platform.handover import Handover, Owned
from crm_platform.uow import UnitOfWork

from services.docs.db.models import Document

HANDOVER = Handover(
    moves=(
        # a kept document needs an owner who answers for it: grants, borrowings,
        # versions; a destroyed one has only its destruction record
        Owned(Document, states=frozenset({"active"}), team=None),
    ),
    stays={
        "customers.owner_id": "a copy of the customer service's owner: it follows "
                              "customer.owner_changed, which that service's handover sends",
        "access_log.user_id": "who viewed or downloaded a document, as it happened",
    },
)


def hand_over(uow: UnitOfWork, from_user_id: str, to_user_id: str) -> None:
    HANDOVER.hand_over(uow, from_user_id, to_user_id, None)
