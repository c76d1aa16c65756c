"""Billing settings (invoicing lead days, default invoice type and currency, rating
thresholds) and the admin's "run a timer job now, as of this date" (testable clocks)."""

from __future__ import annotations

from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import Forbidden
from crm_platform.uow import UnitOfWork

from services.billing import schemas
from services.billing.db import queries
from services.billing.domain.credit import RatingThresholds
from services.billing.use_cases.common import BILLING, billing_settings


def get_billing_settings(uow: UnitOfWork) -> dict[str, Any]:
    current = billing_settings(uow.session)
    rating = RatingThresholds.from_settings(current.get("rating") or {}).to_settings()
    return schemas.BillingSettings.model_validate({**current, "rating": rating}
                                                  ).model_dump(mode="json")


def put_billing_settings(uow: UnitOfWork, caller: Caller, data: schemas.BillingSettings
                         ) -> dict[str, Any]:
    if caller.scope != "all":
        raise Forbidden("billing settings are company-wide", code="permission_denied")
    value = data.model_dump(mode="json")
    RatingThresholds.from_settings(value.get("rating") or {})  # validates
    queries.put_setting(uow.session, BILLING, value)
    uow.commit()
    return get_billing_settings(uow)
