"""Operations the gateway composes from several services.

``GET /customers/{id}/360`` (CUS-16): the customer service answers for the profile,
contacts, owner, classification and activities (and decides visibility: out of scope is
404); each other service contributes its section in parallel. A section whose service is
not running or too slow is marked unavailable; the rest still answers.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from crm_platform.errors import DomainError
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from gateway.deps import current_principal
from gateway.etag import etag_json
from gateway.principal import Principal
from services.customer import schemas as customer_schemas

router = APIRouter(prefix="/api/v1")
SECTION_TIMEOUT = 3.0

# section -> (service, RPC method, permission); each service implements its method as it
# lands (sales: opportunities and orders; billing: receivables; service desk: open
# tickets and satisfaction; docs: documents)
SECTIONS: dict[str, tuple[str, str, str]] = {
    "sales": ("sales", "customer_sales_summary", "opportunity:read"),
    "billing": ("billing", "customer_billing_summary", "receivable:read"),
    "service": ("service_desk", "customer_service_summary", "customer:read"),
    "documents": ("docs", "customer_documents_summary", "customer:read"),
}


class Section(BaseModel):
    status: Literal["ok", "unavailable", "forbidden"]
    reason: str | None = None
    data: dict[str, Any] | None = None


class Customer360(customer_schemas.Customer360Core):
    sections: dict[str, Section] = Field(
        description="other services' sections: sales, billing, service, documents")


async def _section(request: Request, principal: Principal, customer_id: str,
                   service: str, method: str, permission: str) -> dict[str, Any]:
    if principal.scope_for(permission) is None:
        return {"status": "forbidden", "reason": f"needs {permission}"}
    rt = request.app.state.runtime
    context = {"caller": principal.caller_header(permission),
               "correlation_id": request.state.request_id}
    try:
        data = await rt.call(service, method, {"customer_id": customer_id}, context,
                             SECTION_TIMEOUT)
    except DomainError as exc:
        return {"status": "unavailable", "reason": f"{exc.code}: {exc.detail}"}
    except Exception as exc:  # a broken section must not break the view
        return {"status": "unavailable", "reason": f"{type(exc).__name__}"}
    return {"status": "ok", "data": data}


@router.get("/customers/{customer_id}/360", response_model=Customer360, tags=["customers"],
            operation_id="get_customer_360", openapi_extra={"x-confidential": True},
            summary="Customer 360: profile, contacts, owner, classification, activities, "
            "and the other services' sections")
async def customer_360(customer_id: str, request: Request,
                       principal: Principal = Depends(current_principal)) -> Any:
    request.state.confidential = True
    rt = request.app.state.runtime
    context = {"caller": principal.caller_header("customer:read"),
               "correlation_id": request.state.request_id}
    core = await rt.call("customer", "get_customer_360", {"customer_id": customer_id},
                         context)
    results = await asyncio.gather(*[
        _section(request, principal, customer_id, service, method, permission)
        for service, method, permission in SECTIONS.values()])
    request.state.resource_id = customer_id
    return etag_json({**core, "sections": dict(zip(SECTIONS, results, strict=True))})
