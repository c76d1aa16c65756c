"""The caller's identity and record scope, as the gateway passes it to services.

It travels in the nameko context header ``nameko.caller`` (JSON), so it also follows a
service's own RPC calls to another service. Services enforce the scope again.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from crm_platform.errors import Forbidden
from crm_platform.permissions import ROLES, Scope, scope_for

__all__ = ["ROLES", "Caller", "Scope"]




class Caller(BaseModel):
    user_id: str
    username: str = ""
    display_name: str = ""
    roles: list[str] = Field(default_factory=list)
    # an API key may narrow its user's permissions to these (empty: no narrowing)
    key_scopes: list[str] = Field(default_factory=list)
    scope: Scope = "own"
    team_ids: list[str] = Field(default_factory=list)  # own teams and their sub-teams
    member_ids: list[str] = Field(default_factory=list)  # users in those teams
    api_key_id: str | None = None
    # a customer's contact signed in to the portal: the one customer (and contact) they
    # act for; services serve them only their portal operations, for that customer
    portal_customer_id: str | None = None
    portal_contact_id: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Caller:
        return cls(user_id=name, username=name, roles=["admin"], scope="all")

    @classmethod
    def from_context(cls, raw: Any) -> Caller | None:
        if raw is None:
            return None
        if isinstance(raw, (str, bytes)):
            raw = json.loads(raw)
        return cls.model_validate(raw)

    def to_header(self) -> str:
        return self.model_dump_json()

    def has(self, permission: str) -> bool:
        """Whether the caller's roles (and API key, if any) grant ``permission``."""
        if scope_for(self.roles, permission) is None:
            return False
        if self.key_scopes:
            resource = permission.split(":", 1)[0]
            return bool({permission, f"{resource}:*", "*"} & set(self.key_scopes))
        return True

    def require(self, permission: str) -> None:
        if not self.has(permission):
            raise Forbidden(f"missing permission {permission}", extra={"permission": permission})

    def visible_owner_ids(self) -> set[str] | None:
        """Owners whose records the caller may see; None means all."""
        if self.scope == "all":
            return None
        if self.scope == "team":
            return {self.user_id, *self.member_ids}
        return {self.user_id}

    def can_see_owner(self, owner_id: str | None) -> bool:
        visible = self.visible_owner_ids()
        return visible is None or (owner_id is not None and owner_id in visible)
