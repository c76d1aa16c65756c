"""FastAPI dependencies: the runtime, the authenticated principal, permission checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crm_platform.errors import Forbidden, Unauthorized
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from gateway.principal import Principal
from gateway.runtime import Runtime
from gateway.security import decode_token, is_portal_token, parse_api_key

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _principal_for_user(rt: Runtime, user_id: str) -> Principal | None:
    principal = rt.cache.get_user(user_id)
    if principal is None:
        principal = await run_in_threadpool(rt.identity.load_principal, user_id)
        if principal is not None:
            rt.cache.put_user(principal)
    return principal


async def _principal_for_portal(rt: Runtime, account_id: str) -> Principal | None:
    key = f"portal:{account_id}"  # never a user's id: those are cached by id alone
    principal = rt.cache.get_user(key)
    if principal is None:
        principal = await run_in_threadpool(rt.portal.load_principal, account_id)
        if principal is not None:
            rt.cache.put_user(principal, key)
    return principal


async def _principal_for_key(rt: Runtime, full_key: str) -> Principal:
    parsed = parse_api_key(full_key)
    if parsed is None:
        raise Unauthorized("malformed API key", code="invalid_api_key")
    key_id, secret = parsed
    record = rt.cache.get_key(key_id)
    if record is None:
        record = await run_in_threadpool(rt.identity.api_key_record, key_id)
        if record is None:
            raise Unauthorized("unknown API key", code="invalid_api_key")
        rt.cache.put_key(key_id, record)
    user_id, secret_hash, scopes, usable = record
    if not rt.identity.verify_api_secret(secret_hash, secret):
        raise Unauthorized("unknown API key", code="invalid_api_key")
    if not usable:
        raise Unauthorized("this API key is revoked or expired", code="api_key_revoked")
    principal = await _principal_for_user(rt, user_id)
    if principal is None or not principal.is_active:
        raise Unauthorized("the key's user is deactivated", code="account_deactivated")
    return Principal(
        user_id=principal.user_id, username=principal.username,
        display_name=principal.display_name, roles=principal.roles,
        team_id=principal.team_id, token_version=principal.token_version,
        is_active=True, scope_team_ids=principal.scope_team_ids,
        scope_member_ids=principal.scope_member_ids, api_key_id=key_id,
        api_key_scopes=scopes,
    )


# how the two security schemes above appear on an operation in OpenAPI
SECURITY: list[dict[str, list[str]]] = [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}]


def _bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``, as ``oauth2`` reads it."""
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(request: Request, portal: bool = False) -> Principal:
    """The principal behind the request's bearer token or ``X-API-Key`` (the headers the
    schemes above describe), rate-limited. The route table's endpoints call it directly:
    resolving it as a dependency tree (principal, token, key) was almost half of the
    gateway's own work per request. A portal account is refused (403) unless the
    operation is one of the portal's (``portal``)."""
    rt = runtime(request)
    token = _bearer_token(request.headers.get("authorization"))
    api_key = request.headers.get("x-api-key")
    if api_key or (token and token.startswith("crm_")):
        principal = await _principal_for_key(rt, api_key or token or "")
    elif token:
        claims = decode_token(token, "access")
        found = await (_principal_for_portal if is_portal_token(claims)
                       else _principal_for_user)(rt, str(claims["sub"]))
        if found is None or not found.is_active:
            raise Unauthorized("this account is deactivated", code="account_deactivated")
        if found.token_version != claims["tv"]:
            raise Unauthorized("this token was revoked", code="token_revoked")
        principal = found
    else:
        raise Unauthorized("authentication required", code="unauthorized")
    rt.rate_limiter.check(principal.key)
    request.state.principal = principal
    if principal.is_portal and not portal:
        raise Forbidden("portal accounts reach only the portal's operations",
                        code="portal_only")
    return principal


async def current_principal(
    request: Request,
    _token: str | None = Depends(oauth2),
    _api_key: str | None = Depends(api_key_header),
) -> Principal:
    """:func:`authenticate` as a dependency, for the hand-written operations (the two
    parameters put the security schemes on them in OpenAPI)."""
    return await authenticate(request)


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the principal, after checking it holds ``permission``."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        principal.require(permission)
        return principal

    return check
