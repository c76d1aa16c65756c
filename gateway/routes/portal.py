"""Portal accounts (SVC-07): staff invite a customer's contact; the contact accepts the
invitation with a password and then signs in through ``/auth/token``."""

from __future__ import annotations

from enum import Enum
from typing import Any

from crm_platform.errors import DomainError
from crm_platform.rpc_client import RemoteError
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from gateway import schemas
from gateway.config import gateway_settings
from gateway.deps import require, runtime
from gateway.etag import etag_json
from gateway.idempotency import idempotent
from gateway.principal import Principal
from gateway.runtime import Runtime

router = APIRouter(prefix="/api/v1")
TAGS: list[str | Enum] = ["portal accounts"]
CONTACT = "/customers/{customer_id}/contacts/{contact_id}"


async def _contact(request: Request, rt: Runtime, principal: Principal, customer_id: str,
                   contact_id: str) -> dict[str, Any]:
    """The contact as the customer service shows it to the caller: a 404 when it is not
    the customer's or the customer is outside the caller's scope."""
    context = {"caller": principal.caller_header("customer:read"),
               "correlation_id": request.state.request_id}
    contact: dict[str, Any] = await rt.call(
        "customer", "get_contact", {"customer_id": customer_id, "contact_id": contact_id},
        context)
    return contact


@router.post(f"{CONTACT}/portal-invite", response_model=schemas.PortalInvitation,
             status_code=201, tags=TAGS, operation_id="invite_portal_contact",
             summary="Invite a customer's contact to the self-service portal (again: "
             "a password reset); the invite_token is shown once")
async def invite(customer_id: str, contact_id: str, body: schemas.PortalInvite,
                 request: Request, principal: Principal = Depends(require("portal:invite")),
                 rt: Runtime = Depends(runtime)) -> Any:
    async def call() -> Any:
        contact = await _contact(request, rt, principal, customer_id, contact_id)
        invitation: dict[str, Any] = await run_in_threadpool(
            rt.portal.invite, principal, contact["customer_id"], contact, body.username)
        invitation["emailed"] = await _mail(request, rt, principal, contact, invitation)
        return invitation
    return await idempotent(request, principal, 201, call)


async def _mail(request: Request, rt: Runtime, principal: Principal,
                contact: dict[str, Any], invitation: dict[str, Any]) -> bool:
    """Hand the invitation to the notification service, which e-mails it to the contact
    (the token goes by RPC to the one service that sends it, never on the event bus).
    The staff member has the token in the answer either way: a contact without an
    e-mail, or notify being down, does not undo the invitation."""
    account = invitation["account"]
    if not account.get("email"):
        return False
    context = {"caller": principal.caller_header("portal:invite"),
               "correlation_id": request.state.request_id}
    try:
        customer = await rt.call("customer", "get_customer",
                                 {"customer_id": account["customer_id"]},
                                 {**context, "caller": principal.caller_header("customer:read")})
        sent = await rt.call("notify", "send_portal_invite", {"data": {
            "contact_id": account["contact_id"], "customer_id": account["customer_id"],
            "customer_name": customer.get("name"), "name": account["display_name"],
            "email": account["email"], "locale": contact.get("locale") or "zh-CN",
            "username": account["username"], "invite_token": invitation["invite_token"],
            "expires_at": invitation["expires_at"].isoformat(),
            "accept_url": gateway_settings().portal_accept_url}}, context)
    except (DomainError, RemoteError):
        return False
    return bool(sent.get("queued"))


@router.post(f"{CONTACT}/portal-revoke", response_model=schemas.PortalAccount, tags=TAGS,
             operation_id="revoke_portal_contact",
             summary="End a contact's portal access at once")
async def revoke(customer_id: str, contact_id: str, request: Request,
                 principal: Principal = Depends(require("portal:invite")),
                 rt: Runtime = Depends(runtime)) -> Any:
    contact = await _contact(request, rt, principal, customer_id, contact_id)
    result = await run_in_threadpool(rt.portal.revoke, principal, contact["customer_id"],
                                     contact_id)
    return etag_json(result)


@router.get(f"{CONTACT}/portal-account", response_model=schemas.PortalAccount, tags=TAGS,
            operation_id="get_portal_account")
async def get_account(customer_id: str, contact_id: str, request: Request,
                      principal: Principal = Depends(require("portal:invite")),
                      rt: Runtime = Depends(runtime)) -> Any:
    contact = await _contact(request, rt, principal, customer_id, contact_id)
    return etag_json(await run_in_threadpool(rt.portal.get, contact["customer_id"],
                                             contact_id))


@router.post("/portal/accept", response_model=schemas.PortalAccount, tags=["portal"],
             operation_id="accept_portal_invite",
             summary="Accept an invitation: set the password (the invitation is used up); "
             "then sign in at /auth/token")
async def accept(body: schemas.PortalAccept, rt: Runtime = Depends(runtime)) -> Any:
    return etag_json(await run_in_threadpool(rt.portal.accept, body.invite_token,
                                             body.password))
