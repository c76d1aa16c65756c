"""What follows billing's customer copy (hooks of ``crm_platform.service.copies``):
a merged customer's records move to the survivor."""

from __future__ import annotations

from crm_platform.db import utcnow
from crm_platform.uow import UnitOfWork
from sqlalchemy import select, update

from services.billing.db.models import (
    CreditProfile,
    Invoice,
    Payment,
    PaymentPlan,
    StoredValueAccount,
)
from services.customer.events import CustomerMerged


def move_to_survivor(uow: UnitOfWork, merged: CustomerMerged) -> None:
    """Every billing record of the merged customer now belongs to the survivor; a credit
    profile moves over unless the survivor has one, and so does a stored-value account
    in a currency the survivor has none in (else it stays, with its balance, by id)."""
    s = uow.session
    survivor_id, merged_id = merged.survivor_id, merged.merged_id
    for model in (Invoice, Payment, PaymentPlan):
        s.execute(update(model).where(model.customer_id == merged_id)
                  .values(customer_id=survivor_id)
                  .execution_options(synchronize_session=False))
    held = set(s.scalars(select(StoredValueAccount.currency)
                         .where(StoredValueAccount.customer_id == survivor_id)))
    s.execute(update(StoredValueAccount)
              .where(StoredValueAccount.customer_id == merged_id,
                     StoredValueAccount.currency.not_in(sorted(held) or [""]))
              .values(customer_id=survivor_id)
              .execution_options(synchronize_session=False))
    profile = s.get(CreditProfile, merged_id, with_for_update=True)
    if profile is not None and s.get(CreditProfile, survivor_id) is None:
        s.add(CreditProfile(customer_id=survivor_id, credit_limit=profile.credit_limit,
                            currency=profile.currency, hold=profile.hold,
                            hold_reason=profile.hold_reason, version=1,
                            updated_at=utcnow()))
