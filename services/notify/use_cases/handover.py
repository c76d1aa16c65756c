"""What a user hands over in the notification service when deactivated
(``user.deactivated``): every table naming the user who holds its rows is declared here,
moved while the work is open or kept for the reason given."""

from __future__ import annotations

from crm_platform.handover import Handover, Owned
from crm_platform.uow import UnitOfWork

from gateway.events import UserDeactivated
from services.notify.db.models import InboundSource

HANDOVER = Handover(
    moves=(
        # an enabled lead source keeps sending leads: they go to the successor from now on
        Owned(InboundSource, open_when=lambda _today: InboundSource.enabled.is_(True),
              holder="owner_id", team=None, touch=()),
    ),
    stays={
        "customers.owner_id": "a copy of the customer service's owner: it follows "
                              "customer.owner_changed, which that service's handover sends",
    },
)


def hand_over(uow: UnitOfWork, deactivated: UserDeactivated) -> None:
    HANDOVER.hand_over(uow, deactivated.id, deactivated.successor_id, None)
