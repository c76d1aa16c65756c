"""Events the gateway publishes on ``gateway.events`` (identity changes)."""

from __future__ import annotations

from crm_platform.events import EventData


class UserCreated(EventData):
    event_type = "user.created"
    id: str
    username: str
    display_name: str
    roles: list[str]
    team_id: str | None = None
    email: str | None = None
    phone: str | None = None
    is_new_staff: bool = False


class UserUpdated(EventData):
    event_type = "user.updated"
    id: str
    username: str
    display_name: str
    roles: list[str]
    team_id: str | None = None
    email: str | None = None
    phone: str | None = None
    is_new_staff: bool = False
    is_active: bool = True


class UserDeactivated(EventData):
    """The user can no longer sign in; every service moves the open records the user
    holds (customers, leads, opportunities, expenses awaiting approval…) to the
    successor."""

    event_type = "user.deactivated"
    id: str
    successor_id: str
    team_id: str | None = None


class TeamCreated(EventData):
    event_type = "team.created"
    id: str
    name: str
    parent_id: str | None = None
    manager_id: str | None = None


class TeamUpdated(EventData):
    event_type = "team.updated"
    id: str
    name: str
    parent_id: str | None = None
    manager_id: str | None = None


class ApiKeyRevoked(EventData):
    event_type = "api_key.revoked"
    id: str
    user_id: str
