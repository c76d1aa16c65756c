"""Events the gateway publishes on ``gateway.events`` (identity changes)."""

from __future__ import annotations

from crm_platform.events import EventData


class UserSnapshot(EventData):
    """A user as the gateway has it; ``version`` orders snapshots of one user (services
    keep a copy, :mod:`crm_platform.read_models`)."""

    id: str
    username: str
    display_name: str
    roles: list[str]
    team_id: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str = "zh-CN"
    is_new_staff: bool = False
    is_active: bool = True
    version: int


class UserCreated(UserSnapshot):
    event_type = "user.created"


class UserUpdated(UserSnapshot):
    event_type = "user.updated"


class UserDeactivated(EventData):
    """The user can no longer sign in; every service moves the open records the user
    holds (customers, leads, opportunities, expenses awaiting approval…) to the
    successor."""

    event_type = "user.deactivated"
    id: str
    successor_id: str
    team_id: str | None = None


class TeamSnapshot(EventData):
    id: str
    name: str
    parent_id: str | None = None
    manager_id: str | None = None
    version: int


class TeamCreated(TeamSnapshot):
    event_type = "team.created"


class TeamUpdated(TeamSnapshot):
    event_type = "team.updated"


class ApiKeyRevoked(EventData):
    event_type = "api_key.revoked"
    id: str
    user_id: str


class PortalAccountEvent(EventData):
    """A customer's contact's portal sign-in (SVC-07) changed; gateways drop what they
    cached of it."""

    id: str
    contact_id: str
    customer_id: str
    username: str


class PortalAccountActivated(PortalAccountEvent):
    """The contact accepted an invitation and set a password (earlier sessions end)."""

    event_type = "portal_account.activated"


class PortalAccountRevoked(PortalAccountEvent):
    event_type = "portal_account.revoked"
