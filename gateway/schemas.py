"""Request and response models of the gateway's own (identity) operations.

Request bodies are :class:`~crm_platform.inputs.Strict` (unknown fields, NUL and lone
surrogates refused). An update's field whose column is NOT NULL is ``kept()``: left out
it keeps the stored value, ``null`` is a 422 (it was a 500 from the column or from the
``user.updated`` event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from crm_platform.auth import ROLES
from crm_platform.inputs import Phone, Ref, Strict, kept
from crm_platform.pagination import Page, PageQuery
from pydantic import BaseModel, Field, field_validator

__all__ = ["Page"]  # the one page type, for the identity operations' responses


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class RefreshRequest(Strict):
    refresh_token: str


def _check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown roles {unknown}; known: {list(ROLES)}")
    return sorted(set(roles))


TeamKind = Literal["department", "region"]


class TeamCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    parent_id: Ref | None = None
    manager_id: Ref | None = Field(None, description="a user")
    kind: TeamKind = "department"


class TeamQuery(PageQuery):
    pass


class TeamUpdate(Strict):
    # name and kind cannot be cleared; parent and manager can (null)
    name: str = kept(min_length=1, max_length=200)
    parent_id: Ref | None = None
    manager_id: Ref | None = Field(None, description="a user")
    kind: TeamKind = kept()


class Team(BaseModel):
    id: str
    name: str
    parent_id: str | None
    manager_id: str | None
    kind: str
    version: int
    created_at: datetime
    updated_at: datetime


# the languages the platform writes messages in (notifications' templates, NTF-04)
Locale = Literal["zh-CN", "en"]


class UserCreate(Strict):
    username: str = Field(min_length=2, max_length=150, pattern=r"^[\w.@+-]+$")
    password: str = Field(min_length=8, max_length=200)
    display_name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1)
    team_id: Ref | None = None
    email: str | None = Field(None, max_length=320)
    phone: Phone | None = None
    locale: Locale = "zh-CN"
    is_new_staff: bool = False

    _roles = field_validator("roles")(_check_roles)


class UserUpdate(Strict):
    # team, email and phone can be cleared (null); the rest only left out
    display_name: str = kept(min_length=1, max_length=200)
    roles: list[str] = kept()
    team_id: Ref | None = None
    email: str | None = Field(None, max_length=320)
    phone: Phone | None = None
    locale: Locale = kept()
    is_new_staff: bool = kept()
    password: str = kept(min_length=8, max_length=200)

    _roles = field_validator("roles")(_check_roles)


class UserQuery(PageQuery):
    team_id: str | None = None
    active: bool | None = None
    q: str | None = Field(None, max_length=100, description="part of a username or name")


class UserDeactivate(Strict):
    successor_id: Ref


class User(BaseModel):
    id: str
    username: str
    display_name: str
    email: str | None
    phone: str | None
    locale: str
    roles: list[str]
    team_id: str | None
    is_active: bool
    is_new_staff: bool
    successor_id: str | None
    deactivated_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class Me(User):
    permissions: dict[str, str] = Field(description="permission → record scope (own/team/all)")
    team_ids: list[str] = Field(description="teams in the caller's team scope")


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default_factory=list, description="permissions; empty = all")
    expires_at: datetime | None = None
    user_id: Ref | None = Field(None, description="admins may create keys for other users")


class ApiKeyQuery(PageQuery):
    user_id: str | None = Field(None, description="admins: another user's keys")


class ApiKey(BaseModel):
    id: str
    user_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="the secret; shown only once")


class AuditQuery(PageQuery):
    actor_id: str | None = None
    action: str | None = Field(None, description="the operation id, e.g. get_credit")
    resource_id: str | None = None


class AuditEntry(BaseModel):
    id: int
    occurred_at: datetime
    actor_id: str | None
    api_key_id: str | None
    action: str
    method: str
    path: str
    resource_id: str | None
    status: int
    outcome: str
    request_id: str | None
    client_ip: str | None
    detail: dict[str, Any] | None


# -- portal accounts (SVC-07) ----------------------------------------------------------------
class PortalInvite(Strict):
    username: str | None = Field(None, min_length=2, max_length=150, pattern=r"^[\w.@+-]+$",
                                 description="default: the contact's e-mail")


class PortalAccount(BaseModel):
    id: str
    username: str
    contact_id: str
    customer_id: str
    display_name: str
    email: str | None
    status: Literal["invited", "active", "revoked"]
    invite_expires_at: datetime | None
    activated_at: datetime | None
    revoked_at: datetime | None
    version: int
    created_at: datetime


class PortalInvitation(BaseModel):
    account: PortalAccount
    invite_token: str = Field(description="shown once; the contact sets a password with it "
                              "at POST /portal/accept")
    expires_at: datetime
    emailed: bool = Field(False, description="the invitation was handed to notifications "
                          "to be e-mailed to the contact")


class PortalAccept(Strict):
    invite_token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=200)
