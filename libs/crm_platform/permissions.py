"""Role → permission → record scope. The one table that says who may do what.

Shared by the gateway (which checks each operation's permission and passes the scope)
and the services (which check secondary permissions from the caller's roles).

A permission is ``<resource>:<action>``; a grant may use ``<resource>:*``. When several
roles grant a permission, the widest scope wins (own < team < all).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

Scope = Literal["own", "team", "all"]

SCOPE_RANK: dict[Scope, int] = {"own": 0, "team": 1, "all": 2}

# Every permission an operation may require (listed so roles can be checked and shown).
PERMISSIONS = (
    "user:read", "user:manage", "team:read", "team:manage", "apikey:manage", "audit:read",
    "customer:read", "customer:write", "customer:claim", "customer:transfer",
    "customer:handover", "customer:merge", "customer:import", "customer:export",
    "customer:configure", "customer:erase", "followup:read", "followup:write", "visit:read",
    "visit:write",
    "visit:review", "segment:read", "segment:write",
    "lead:read", "lead:write", "opportunity:read", "opportunity:write", "pipeline:configure",
    "campaign:read", "campaign:write", "product:read", "product:write", "quote:read",
    "quote:write", "quote:approve", "order:read", "order:write", "order:approve",
    "target:read", "target:write", "worklog:read", "worklog:write", "analytics:read",
    "invoice:read", "invoice:write", "payment:read", "payment:write", "receivable:read",
    "credit:read", "credit:write", "dunning:read", "dunning:configure", "expense:read",
    "expense:write", "expense:approve", "report:read",
    "ticket:read", "ticket:write", "work_order:read", "work_order:write",
    "work_order:dispatch", "sla:read", "sla:configure", "callback:read", "callback:write",
    "kb:read", "kb:write", "kb:publish", "service_report:read", "portal:invite",
    "portal:read", "portal:write",
    # the call centre (SVC-08): look a caller up, calls, call lists, telephony connectors
    "call:lookup", "call:read", "call:write", "call:assign", "call:configure",
    "document:read", "document:write", "document:manage", "document:configure",
    # notifications (NTF-01 … NTF-07)
    "inbox:read", "inbox:write", "notification:read", "notification:configure",
    "notification:send", "webhook:manage",
    # membership and stored value (CUS-17, BIL-09)
    "member:read", "member:write", "member:adjust", "member:configure",
    "stored_value:read", "stored_value:write", "stored_value:refund",
    "stored_value:configure",
)

_SALES_REP: dict[str, Scope] = {
    "user:read": "all", "team:read": "all", "apikey:manage": "own",
    "customer:read": "own", "customer:write": "own", "customer:claim": "own",
    "followup:*": "own", "visit:read": "own", "visit:write": "own", "segment:*": "own",
    "lead:*": "own", "opportunity:*": "own", "campaign:read": "all", "product:read": "all",
    "quote:read": "own", "quote:write": "own", "order:read": "own", "order:write": "own",
    "target:read": "own", "worklog:*": "own", "analytics:read": "own",
    "invoice:read": "own", "payment:read": "own", "receivable:read": "own",
    "credit:read": "own", "expense:read": "own", "expense:write": "own",
    "ticket:read": "own", "ticket:write": "own", "kb:read": "all",
    "document:read": "all", "document:write": "own",
    "member:read": "own", "member:write": "own", "stored_value:read": "own",
    "call:lookup": "own", "call:read": "own", "call:write": "own",
}

ROLE_GRANTS: dict[str, dict[str, Scope]] = {
    "admin": {"*": "all"},
    "sales_rep": _SALES_REP,
    "sales_manager": {
        **{perm: "team" for perm in _SALES_REP},
        "user:read": "all", "team:read": "all", "apikey:manage": "own",
        "customer:transfer": "team", "customer:handover": "team", "customer:merge": "team",
        "customer:import": "team", "customer:export": "team", "visit:review": "team",
        "segment:*": "team", "quote:approve": "team", "order:approve": "team",
        "target:write": "team", "expense:approve": "team", "report:read": "team",
        "campaign:read": "all", "product:read": "all",
        "document:read": "all", "document:write": "team",
    },
    "marketing": {
        "user:read": "all", "team:read": "all", "apikey:manage": "own",
        "customer:read": "all", "segment:*": "all", "lead:*": "all", "campaign:*": "all",
        "product:*": "all", "analytics:read": "all", "expense:read": "own",
        "expense:write": "own", "document:read": "all", "document:write": "own",
    },
    "service_manager": {
        "user:read": "all", "team:read": "all", "apikey:manage": "own",
        "customer:read": "all", "followup:read": "all", "product:read": "all",
        "ticket:*": "all", "work_order:*": "all", "sla:*": "all", "callback:*": "all",
        "kb:*": "all", "service_report:read": "all", "portal:invite": "all",
        "document:read": "all", "document:write": "team", "call:*": "all",
    },
    "service_agent": {
        "user:read": "all", "team:read": "all", "apikey:manage": "own",
        "customer:read": "all", "followup:read": "all", "product:read": "all",
        "ticket:*": "all", "work_order:read": "all", "work_order:write": "all",
        "work_order:dispatch": "all", "sla:read": "all", "callback:*": "all",
        "kb:read": "all", "kb:write": "all", "service_report:read": "own",
        "portal:invite": "all", "document:read": "all", "document:write": "own",
        # any caller may be anyone's customer; the calls and list entries are their own
        "call:lookup": "all", "call:read": "own", "call:write": "own",
    },
    "technician": {"user:read": "all", "team:read": "all", "customer:read": "all",
                   "ticket:read": "own", "work_order:read": "own", "work_order:write": "own",
                   "kb:read": "all", "document:read": "all", "document:write": "own"},
    "finance": {
        "user:read": "all", "team:read": "all", "apikey:manage": "own",
        "customer:read": "all", "order:read": "all", "invoice:*": "all", "payment:*": "all",
        "receivable:read": "all", "credit:*": "all", "dunning:*": "all", "expense:*": "all",
        "report:read": "all", "analytics:read": "all", "document:read": "all",
        "member:read": "all", "member:adjust": "all", "stored_value:*": "all",
    },
    # the archive manager: every document permission, confidential documents of anyone,
    # borrowings and destructions to decide (not secret documents they are not named on)
    "archivist": {"user:read": "all", "team:read": "all", "customer:read": "all",
                  "kb:read": "all", "document:*": "all"},
    "viewer": {"user:read": "all", "team:read": "all", "customer:read": "own",
               "document:read": "own"},
    # a customer's contact signed in to the self-service portal (SVC-07): the portal's
    # operations and nothing else, for their own customer only (the service enforces it)
    "portal_contact": {"portal:read": "own", "portal:write": "own"},
}

# everyone reads their own inbox; who runs notifications and who sends to customers
for _role, _grants in ROLE_GRANTS.items():
    if _role != "portal_contact":
        _grants.setdefault("inbox:*", "own")
ROLE_GRANTS["marketing"].update({"notification:read": "all", "notification:send": "all",
                                 "notification:configure": "all"})
ROLE_GRANTS["service_manager"].update({"notification:read": "all",
                                       "notification:send": "all"})

PORTAL_ROLE = "portal_contact"
# roles a staff user may hold (the portal role belongs to portal accounts only)
ROLES = tuple(r for r in ROLE_GRANTS if r != PORTAL_ROLE)


def _grant(role: str, permission: str) -> Scope | None:
    grants = ROLE_GRANTS.get(role, {})
    if permission in grants:
        return grants[permission]
    resource = permission.split(":", 1)[0]
    return grants.get(f"{resource}:*") or grants.get("*")


def scope_for(roles: list[str] | tuple[str, ...], permission: str) -> Scope | None:
    return _scope_for(tuple(sorted(roles)), permission)


@lru_cache(maxsize=4096)
def _scope_for(roles: tuple[str, ...], permission: str) -> Scope | None:
    """The widest scope any of ``roles`` grants for ``permission``; None if none does."""
    best: Scope | None = None
    for role in roles:
        scope = _grant(role, permission)
        if scope is not None and (best is None or SCOPE_RANK[scope] > SCOPE_RANK[best]):
            best = scope
    return best


def permissions_of(roles: list[str] | tuple[str, ...]) -> list[str]:
    return sorted(p for p in PERMISSIONS if scope_for(roles, p) is not None)
