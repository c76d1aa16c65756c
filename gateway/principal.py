"""Who is calling: the principal behind a token or API key, and its cache.

A principal is loaded from the identity tables once and cached in-process; every change
to users, teams or keys invalidates the cache at once in this replica, and other replicas
drop theirs when they see the change's event on ``gateway.events`` (see app.py), with a
short TTL as a backstop. That is what makes a deactivated user's tokens stop working at
once without a database read per request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from crm_platform.auth import Caller, Scope
from crm_platform.errors import Forbidden
from crm_platform.permissions import permissions_of, scope_for


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    display_name: str
    roles: tuple[str, ...]
    team_id: str | None
    token_version: int
    is_active: bool
    scope_team_ids: tuple[str, ...] = ()  # own team, managed teams, and their sub-teams
    scope_member_ids: tuple[str, ...] = ()
    api_key_id: str | None = None
    api_key_scopes: tuple[str, ...] = ()
    # a portal account (a customer's contact, SVC-07): the customer it acts for
    portal_customer_id: str | None = None
    portal_contact_id: str | None = None
    _scopes: dict[str, Scope | None] = field(default_factory=dict, compare=False, repr=False)
    _granted: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    _headers: dict[str | None, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        if self.portal_contact_id:
            return f"portal:{self.user_id}"
        return f"key:{self.api_key_id}" if self.api_key_id else f"user:{self.user_id}"

    @property
    def is_portal(self) -> bool:
        return self.portal_contact_id is not None

    def scope_for(self, permission: str) -> Scope | None:
        if permission not in self._scopes:
            scope = scope_for(list(self.roles), permission)
            if self.api_key_id and self.api_key_scopes and not _key_allows(
                self.api_key_scopes, permission
            ):
                scope = None
            self._scopes[permission] = scope
        return self._scopes[permission]

    def require(self, permission: str) -> Scope:
        scope = self.scope_for(permission)
        if scope is None:
            raise Forbidden(f"this operation needs the permission {permission}",
                            code="permission_denied", extra={"permission": permission})
        return scope

    def permissions(self) -> dict[str, str]:
        """permission → scope for everything this principal may do (memoised)."""
        if not self._granted:
            for perm in permissions_of(list(self.roles)):
                scope = self.scope_for(perm)
                if scope is not None:
                    self._granted[perm] = scope
        return self._granted

    def caller_header(self, permission: str | None = None) -> str:
        """The caller as the JSON context header, memoised per permission (hot path)."""
        header = self._headers.get(permission)
        if header is None:
            header = self._headers[permission] = self.caller(permission).to_header()
        return header

    def caller(self, permission: str | None = None) -> Caller:
        scope: Scope = self.require(permission) if permission else "own"
        return Caller(
            user_id=self.user_id,
            username=self.username,
            display_name=self.display_name,
            roles=list(self.roles),
            key_scopes=list(self.api_key_scopes),
            scope=scope,
            team_ids=list(self.scope_team_ids) if scope != "own" else [],
            member_ids=list(self.scope_member_ids) if scope == "team" else [],
            api_key_id=self.api_key_id,
            portal_customer_id=self.portal_customer_id,
            portal_contact_id=self.portal_contact_id,
        )


def _key_allows(scopes: tuple[str, ...], permission: str) -> bool:
    resource = permission.split(":", 1)[0]
    return permission in scopes or f"{resource}:*" in scopes or "*" in scopes


class PrincipalCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._users: dict[str, tuple[float, Principal]] = {}
        self._keys: dict[str, tuple[float, tuple[str, str, tuple[str, ...], bool]]] = {}
        self._lock = threading.Lock()

    def get_user(self, user_id: str) -> Principal | None:
        hit = self._users.get(user_id)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def put_user(self, principal: Principal, key: str | None = None) -> None:
        with self._lock:
            self._users[key or principal.user_id] = (time.monotonic(), principal)

    def get_key(self, key_id: str) -> tuple[str, str, tuple[str, ...], bool] | None:
        hit = self._keys.get(key_id)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def put_key(self, key_id: str, value: tuple[str, str, tuple[str, ...], bool]) -> None:
        with self._lock:
            self._keys[key_id] = (time.monotonic(), value)

    def invalidate(self) -> None:
        """Drop everything: team changes alter many principals' scopes at once."""
        with self._lock:
            self._users.clear()
            self._keys.clear()
