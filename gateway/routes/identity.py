"""Identity operations owned by the gateway: login, me, users, teams, API keys, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from crm_platform.errors import Forbidden, Unauthorized
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import OAuth2PasswordRequestForm
from starlette.concurrency import run_in_threadpool

from gateway import schemas
from gateway.config import gateway_settings
from gateway.deps import current_principal, require, runtime
from gateway.etag import etag_json, parse_if_match
from gateway.idempotency import idempotent
from gateway.middleware import take_audit_changes
from gateway.principal import Principal
from gateway.runtime import Runtime
from gateway.security import decode_token, is_portal_token, issue_token

router = APIRouter(prefix="/api/v1")
IfMatch = Annotated[str | None, Header(description="the record's version (ETag)")]


def _tokens(user_id: str, token_version: int, portal: bool = False) -> dict[str, Any]:
    gw = gateway_settings()
    access = timedelta(minutes=gw.access_token_minutes)
    return {
        "access_token": issue_token(user_id, token_version, "access", access, portal),
        "token_type": "bearer",
        "expires_in": int(access.total_seconds()),
        "refresh_token": issue_token(user_id, token_version, "refresh",
                                     timedelta(days=gw.refresh_token_days), portal),
    }


@router.post("/auth/token", response_model=schemas.TokenResponse, tags=["auth"],
             operation_id="login")
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request,
                rt: Runtime = Depends(runtime)) -> dict[str, Any]:
    """OAuth2 password flow: a JWT access token and a refresh token. Customers' contacts
    sign in to the portal here too. Too many failed attempts for a username or from an
    address are a 429 `login_rate_limited` with `Retry-After`."""
    address = request.client.host if request.client else None
    rt.login_throttle.check(form.username, address)
    try:
        login = await run_in_threadpool(rt.identity.authenticate, form.username,
                                        form.password)
    except Unauthorized:
        rt.login_throttle.failed(form.username, address)
        raise
    rt.login_throttle.succeeded(form.username)
    return _tokens(login.subject, login.token_version, login.portal)


@router.post("/auth/refresh", response_model=schemas.TokenResponse, tags=["auth"],
             operation_id="refresh_token")
async def refresh(body: schemas.RefreshRequest, rt: Runtime = Depends(runtime)) -> dict[str, Any]:
    claims = decode_token(body.refresh_token, "refresh")
    portal = is_portal_token(claims)
    load = rt.portal.load_principal if portal else rt.identity.load_principal
    principal = await run_in_threadpool(load, str(claims["sub"]))
    if principal is None or not principal.is_active:
        raise Unauthorized("this account is deactivated", code="account_deactivated")
    if principal.token_version != claims["tv"]:
        raise Unauthorized("this token was revoked", code="token_revoked")
    return _tokens(principal.user_id, principal.token_version, portal)


@router.get("/me", response_model=schemas.Me, tags=["auth"], operation_id="get_me")
async def me(principal: Principal = Depends(current_principal),
             rt: Runtime = Depends(runtime)) -> Any:
    user = await run_in_threadpool(rt.identity.get_user, principal.user_id)
    return {**user, "permissions": principal.permissions(),
            "team_ids": list(principal.scope_team_ids)}


# -- teams ---------------------------------------------------------------------------------
@router.post("/teams", response_model=schemas.Team, status_code=201, tags=["teams"],
             operation_id="create_team")
async def create_team(body: schemas.TeamCreate, request: Request,
                      principal: Principal = Depends(require("team:manage")),
                      rt: Runtime = Depends(runtime)) -> Any:
    return await idempotent(request, principal, 201, lambda: run_in_threadpool(
        rt.identity.create_team, principal, body))


@router.get("/teams", response_model=schemas.Page[schemas.Team], tags=["teams"],
            operation_id="list_teams")
async def list_teams(query: Annotated[schemas.TeamQuery, Query()],
                     _: Principal = Depends(require("team:read")),
                     rt: Runtime = Depends(runtime)) -> Any:
    return await run_in_threadpool(rt.identity.list_teams, query)


@router.get("/teams/{team_id}", response_model=schemas.Team, tags=["teams"],
            operation_id="get_team")
async def get_team(team_id: str, _: Principal = Depends(require("team:read")),
                   rt: Runtime = Depends(runtime)) -> Any:
    return etag_json(await run_in_threadpool(rt.identity.get_team, team_id))


@router.patch("/teams/{team_id}", response_model=schemas.Team, tags=["teams"],
              operation_id="update_team")
async def update_team(team_id: str, body: schemas.TeamUpdate, request: Request,
                      if_match: IfMatch = None,
                      principal: Principal = Depends(require("team:manage")),
                      rt: Runtime = Depends(runtime)) -> Any:
    return etag_json(take_audit_changes(request, await run_in_threadpool(
        rt.identity.update_team, principal, team_id, body, parse_if_match(if_match))))


# -- users ---------------------------------------------------------------------------------
@router.post("/users", response_model=schemas.User, status_code=201, tags=["users"],
             operation_id="create_user")
async def create_user(body: schemas.UserCreate, request: Request,
                      principal: Principal = Depends(require("user:manage")),
                      rt: Runtime = Depends(runtime)) -> Any:
    return await idempotent(request, principal, 201, lambda: run_in_threadpool(
        rt.identity.create_user, principal, body))


@router.get("/users", response_model=schemas.Page[schemas.User], tags=["users"],
            operation_id="list_users")
async def list_users(query: Annotated[schemas.UserQuery, Query()],
                     _: Principal = Depends(require("user:read")),
                     rt: Runtime = Depends(runtime)) -> Any:
    return await run_in_threadpool(rt.identity.list_users, query)


@router.get("/users/{user_id}", response_model=schemas.User, tags=["users"],
            operation_id="get_user")
async def get_user(user_id: str, _: Principal = Depends(require("user:read")),
                   rt: Runtime = Depends(runtime)) -> Any:
    return etag_json(await run_in_threadpool(rt.identity.get_user, user_id))


@router.patch("/users/{user_id}", response_model=schemas.User, tags=["users"],
              operation_id="update_user")
async def update_user(user_id: str, body: schemas.UserUpdate, request: Request,
                      if_match: IfMatch = None,
                      principal: Principal = Depends(require("user:manage")),
                      rt: Runtime = Depends(runtime)) -> Any:
    return etag_json(take_audit_changes(request, await run_in_threadpool(
        rt.identity.update_user, principal, user_id, body, parse_if_match(if_match))))


@router.post("/users/{user_id}/deactivate", response_model=schemas.User, tags=["users"],
             operation_id="deactivate_user")
async def deactivate_user(user_id: str, body: schemas.UserDeactivate, request: Request,
                          principal: Principal = Depends(require("user:manage")),
                          rt: Runtime = Depends(runtime)) -> Any:
    """Deactivate at once (tokens and API keys stop working) and hand over to a successor:
    publishes ``user.deactivated`` so every service moves the user's records."""
    async def deactivate() -> Any:
        return take_audit_changes(request, await run_in_threadpool(
            rt.identity.deactivate_user, principal, user_id, body.successor_id))
    return await idempotent(request, principal, 200, deactivate)


# -- API keys ------------------------------------------------------------------------------
@router.post("/api-keys", response_model=schemas.ApiKeyCreated, status_code=201,
             tags=["api-keys"], operation_id="create_api_key")
async def create_api_key(body: schemas.ApiKeyCreate, request: Request,
                         principal: Principal = Depends(require("apikey:manage")),
                         rt: Runtime = Depends(runtime)) -> Any:
    owner = body.user_id or principal.user_id
    if owner != principal.user_id and principal.scope_for("user:manage") != "all":
        raise Forbidden("only admins create keys for other users", code="permission_denied")
    unknown = [s for s in body.scopes if s != "*" and not s.endswith(":*")
               and s not in principal.permissions()]
    if unknown and owner == principal.user_id:
        raise Forbidden(f"a key cannot hold permissions you lack: {unknown}",
                        code="permission_denied")
    return await idempotent(request, principal, 201, lambda: run_in_threadpool(
        rt.identity.create_api_key, principal, owner, body))


@router.get("/api-keys", response_model=schemas.Page[schemas.ApiKey], tags=["api-keys"],
            operation_id="list_api_keys")
async def list_api_keys(query: Annotated[schemas.ApiKeyQuery, Query()],
                        principal: Principal = Depends(require("apikey:manage")),
                        rt: Runtime = Depends(runtime)) -> Any:
    admin = principal.scope_for("user:manage") == "all"
    owner = query.user_id if admin else principal.user_id
    return await run_in_threadpool(rt.identity.list_api_keys, owner, query)


@router.post("/api-keys/{key_id}/revoke", response_model=schemas.ApiKey, tags=["api-keys"],
             operation_id="revoke_api_key")
async def revoke_api_key(key_id: str, principal: Principal = Depends(require("apikey:manage")),
                         rt: Runtime = Depends(runtime)) -> Any:
    admin = principal.scope_for("user:manage") == "all"
    result = await run_in_threadpool(rt.identity.revoke_api_key, principal, key_id,
                                     None if admin else principal.user_id)
    rt.cache.invalidate()
    return result


# -- audit ---------------------------------------------------------------------------------
@router.get("/audit-log", response_model=schemas.Page[schemas.AuditEntry], tags=["audit"],
            operation_id="list_audit_log")
async def list_audit_log(query: Annotated[schemas.AuditQuery, Query()],
                         principal: Principal = Depends(current_principal),
                         rt: Runtime = Depends(runtime)) -> Any:
    if "admin" not in principal.roles or principal.scope_for("audit:read") != "all":
        raise Forbidden("the audit log is for admins", code="permission_denied")
    return await run_in_threadpool(rt.identity.list_audit, query)
