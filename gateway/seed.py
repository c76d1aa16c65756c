"""First-start seeding: the admin from CRM_ADMIN_USERNAME / CRM_ADMIN_PASSWORD and, in
development, a small demo organisation. Does nothing once any user exists."""

from __future__ import annotations

import logging
from typing import Any

from crm_platform.settings import get_settings

from gateway import schemas
from gateway.config import check_production_secrets, gateway_settings
from gateway.runtime import Runtime

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-pass-123"


def seed(rt: Runtime, demo: bool) -> dict[str, Any] | None:
    identity = rt.identity
    if identity.user_count() > 0:
        return None
    gw = gateway_settings()
    # model_construct: the development default password is shorter than users may choose
    admin = identity.create_user(None, schemas.UserCreate.model_construct(
        username=gw.admin_username, password=gw.admin_password, display_name="Administrator",
        roles=["admin"], team_id=None, email=None, phone=None, is_new_staff=False))
    result: dict[str, Any] = {"admin": admin["username"], "demo_users": []}
    if not demo:
        return result
    principal = identity.load_principal(admin["id"])
    assert principal is not None
    sales = identity.create_team(principal, schemas.TeamCreate(name="销售部"))
    east = identity.create_team(principal, schemas.TeamCreate(
        name="华东区", parent_id=sales["id"], kind="region"))
    north = identity.create_team(principal, schemas.TeamCreate(
        name="华北区", parent_id=sales["id"], kind="region"))
    people = [
        ("zhangwei", "张伟", ["sales_manager"], sales["id"]),
        ("lina", "李娜", ["sales_rep"], east["id"]),
        ("wangfang", "王芳", ["sales_rep"], north["id"]),
        ("zhaolei", "赵磊", ["finance"], None),
        ("chenjing", "陈静", ["service_agent"], None),
    ]
    for username, name, roles, team in people:
        user = identity.create_user(principal, schemas.UserCreate(
            username=username, password=DEMO_PASSWORD, display_name=name, roles=roles,
            team_id=team))
        result["demo_users"].append(username)
        if username == "zhangwei":
            identity.update_team(principal, sales["id"],
                                 schemas.TeamUpdate(manager_id=user["id"]), None)
    return result


def main() -> None:
    check_production_secrets()
    rt = Runtime()
    try:
        result = seed(rt, demo=gateway_settings().seed_demo and not get_settings().is_production)
        # publish what seeding wrote (user.created …) before exiting
        rt.relay.grace = rt.relay.grace * 0  # publish everything now
        try:
            rt.relay.sweep()
        except Exception as exc:  # broker down: the gateway's sweep publishes them later
            print(f"(events left in the outbox for later: {exc})")
    finally:
        rt.publisher.close()
        rt.engine.dispose()
    gw = gateway_settings()
    if result is None:
        print("seed: users exist already; nothing to do")
        return
    print(f"seed: created admin '{gw.admin_username}'"
          + (" with the development password 'admin'" if gw.admin_password == "admin" else ""))
    if result["demo_users"]:
        print(f"seed: demo users {', '.join(result['demo_users'])} (password {DEMO_PASSWORD})")


if __name__ == "__main__":
    main()
