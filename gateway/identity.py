"""Identity use cases: users, teams, API keys, login. SQL stays in this module.

Rules kept here (plain functions at the top, no I/O):
- a team may not become its own ancestor;
- a user is deactivated with an active successor other than themself; deactivation
  bumps the token version (every token dies) and revokes every API key, in the same
  transaction that writes ``user.deactivated`` to the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from crm_platform.erasure import erasable, escape_like, mentioning
from crm_platform.errors import Conflict, NotFound, StaleVersion, Unauthorized, ValidationFailed
from crm_platform.inputs import unstorable
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork, with_audit_changes
from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from gateway import events, schemas
from gateway.db.models import ApiKey, AuditEntry, IdempotencyRecord, PortalAccount, Team, User
from gateway.portal_accounts import username_taken
from gateway.principal import Principal
from gateway.security import (
    DUMMY_HASH,
    hash_api_secret,
    hash_password,
    new_api_key,
    verify_password,
)

UowFactory = Callable[[Principal | None], UnitOfWork]
AUDIT_TABLE = cast(Table, AuditEntry.__table__)
# operations that erase a person's data on request (#26 S8), each with the suffix its
# path adds to the erased record's path: the earlier entries of that record keep who
# did what and when, but their details (the old and new values of a write) are dropped
ERASURES = {"erase_contact": "/erase", "erase_customer": "/erase"}
ERASED_DETAIL = {"erased": True}  # Core insert: no ORM bulk bookkeeping
# an erasure's audit entry carries the values it erased under this key (taken off before
# the insert): every audit entry and stored answer that mentions one is scrubbed
ERASED_VALUES = "erased_values"
IDEMPOTENCY_TABLE = cast(Table, IdempotencyRecord.__table__)


def descendants(parent_of: dict[str, str | None], roots: Iterable[str]) -> set[str]:
    """Teams under ``roots`` (inclusive), given each team's parent."""
    children: dict[str, list[str]] = {}
    for team, parent in parent_of.items():
        if parent:
            children.setdefault(parent, []).append(team)
    seen: set[str] = set()
    stack = [r for r in roots if r]
    while stack:
        team = stack.pop()
        if team in seen:
            continue
        seen.add(team)
        stack.extend(children.get(team, []))
    return seen


def would_cycle(parent_of: dict[str, str | None], team_id: str, new_parent: str | None) -> bool:
    current = new_parent
    while current is not None:
        if current == team_id:
            return True
        current = parent_of.get(current)
    return False


def check_deactivation(user: User, successor: User | None) -> None:
    if not user.is_active:
        raise Conflict("user is already deactivated", code="already_deactivated")
    if successor is None:
        raise ValidationFailed(
            "successor not found", code="invalid_successor",
            extra={"errors": [{"field": "successor_id", "message": "not found"}]})
    if successor.id == user.id:
        raise ValidationFailed("a user cannot succeed themself", code="invalid_successor")
    if not successor.is_active:
        raise ValidationFailed("the successor is deactivated", code="invalid_successor")


def bad_reference(field: str, detail: str, code: str, why: str = "not found"
                  ) -> ValidationFailed:
    """A reference in the body that names no usable record: a 422 naming the field, like
    the schema's own errors (a missing one was a foreign key violation, a 500)."""
    return ValidationFailed(detail, code=code,
                            extra={"errors": [{"field": field, "message": why}]})


def check_manager(manager: User | None) -> None:
    """A team's manager is a user who can still act: a deactivated one would approve
    nothing and see the team's records for no one."""
    if manager is None:
        raise bad_reference("manager_id", "manager not found", "invalid_manager")
    if not manager.is_active:
        raise bad_reference("manager_id", "the manager is deactivated", "invalid_manager",
                            "deactivated")


def user_out(user: User) -> dict[str, Any]:
    return schemas.User.model_validate(user, from_attributes=True).model_dump(mode="json")


def team_out(team: Team) -> dict[str, Any]:
    return schemas.Team.model_validate(team, from_attributes=True).model_dump(mode="json")


def key_out(key: ApiKey) -> dict[str, Any]:
    return schemas.ApiKey.model_validate(key, from_attributes=True).model_dump(mode="json")


def _check_version(record: User | Team, expected: int | None) -> None:
    if expected is not None and record.version != expected:
        raise StaleVersion(f"record is at version {record.version}, not {expected}",
                           extra={"current_version": record.version})


def _user_snapshot(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "roles": list(user.roles), "team_id": user.team_id, "email": user.email,
            "phone": user.phone, "locale": user.locale, "is_new_staff": user.is_new_staff,
            "is_active": user.is_active, "version": user.version}


def _team_snapshot(team: Team) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "parent_id": team.parent_id,
            "manager_id": team.manager_id, "version": team.version}


@dataclass(frozen=True)
class Login:
    """Who signed in: a user, or a portal account (``portal``)."""

    subject: str
    token_version: int
    portal: bool


class IdentityStore:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    # -- authentication ---------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> Login:
        """A user, or else a customer's contact's portal account (SVC-07), by name."""
        with self._uow(None) as uow:
            # a name the database cannot hold (NUL) is no one's: the same answer as an
            # unknown name, not the driver's error
            user = None if unstorable(username) else uow.session.scalar(
                select(User).where(User.username == username))
            if user is None:
                return self._portal_login(uow.session, username, password)
            if not verify_password(user.password_hash, password):
                raise Unauthorized("wrong username or password", code="invalid_credentials")
            if not user.is_active:
                raise Unauthorized("this account is deactivated", code="account_deactivated")
            return Login(user.id, user.token_version, portal=False)

    def _portal_login(self, s: Session, username: str, password: str) -> Login:
        account = None if unstorable(username) else s.scalar(
            select(PortalAccount).where(PortalAccount.username == username))
        if account is None or account.password_hash is None:
            verify_password(DUMMY_HASH, password)
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        if not verify_password(account.password_hash, password):
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        if account.revoked_at is not None:
            raise Unauthorized("this account is deactivated", code="account_deactivated")
        return Login(account.id, account.token_version, portal=True)

    def load_principal(self, user_id: str) -> Principal | None:
        with self._uow(None) as uow:
            s = uow.session
            user = s.get(User, user_id)
            if user is None:
                return None
            team_ids, member_ids = self._team_scope(s, user)
            return Principal(
                user_id=user.id, username=user.username, display_name=user.display_name,
                roles=tuple(user.roles), team_id=user.team_id,
                token_version=user.token_version, is_active=user.is_active,
                scope_team_ids=tuple(sorted(team_ids)),
                scope_member_ids=tuple(sorted(member_ids)),
            )

    def _team_scope(self, s: Session, user: User) -> tuple[set[str], set[str]]:
        parent_of = dict(s.execute(select(Team.id, Team.parent_id)).tuples().all())
        roots = set(s.scalars(select(Team.id).where(Team.manager_id == user.id)))
        if user.team_id:
            roots.add(user.team_id)
        team_ids = descendants(parent_of, roots)
        members: set[str] = set()
        if team_ids:
            members = set(s.scalars(select(User.id).where(User.team_id.in_(team_ids))))
            members |= {m for m in s.scalars(
                select(Team.manager_id).where(Team.id.in_(team_ids))) if m}
        return team_ids, members

    def api_key_record(self, key_id: str) -> tuple[str, str, tuple[str, ...], bool] | None:
        """(user id, secret hash, scopes, usable) for a key id."""
        with self._uow(None) as uow:
            key = uow.session.get(ApiKey, key_id)
            if key is None:
                return None
            usable = key.revoked_at is None and (
                key.expires_at is None or key.expires_at > datetime.now(UTC))
            return key.user_id, key.secret_hash, tuple(key.scopes), usable

    # -- teams ------------------------------------------------------------------------
    def create_team(self, actor: Principal, data: schemas.TeamCreate) -> dict[str, Any]:
        with self._uow(actor) as uow:
            s = uow.session
            if data.parent_id is not None and s.get(Team, data.parent_id) is None:
                raise bad_reference("parent_id", "parent team not found", "invalid_parent")
            if data.manager_id is not None:
                check_manager(s.get(User, data.manager_id))
            team = Team(id=str(uuid.uuid4()), name=data.name, parent_id=data.parent_id,
                        manager_id=data.manager_id, kind=data.kind, version=1)
            s.add(team)
            s.flush()
            uow.publish(events.TeamCreated(**_team_snapshot(team)))
            uow.commit()
            return team_out(team)

    def update_team(self, actor: Principal, team_id: str, data: schemas.TeamUpdate,
                    expected_version: int | None) -> dict[str, Any]:
        with self._uow(actor) as uow:
            s = uow.session
            team = s.get(Team, team_id, with_for_update=True)
            if team is None:
                raise NotFound("team not found")
            _check_version(team, expected_version)
            changes = data.model_dump(exclude_unset=True)
            if "parent_id" in changes:
                parent_of = dict(s.execute(select(Team.id, Team.parent_id)).tuples().all())
                if changes["parent_id"] is not None and changes["parent_id"] not in parent_of:
                    raise bad_reference("parent_id", "parent team not found", "invalid_parent")
                if would_cycle(parent_of, team.id, changes["parent_id"]):
                    raise ValidationFailed("a team cannot be placed under itself",
                                           code="team_cycle")
            if changes.get("manager_id") is not None:
                check_manager(s.get(User, changes["manager_id"]))
            for name, value in changes.items():
                setattr(team, name, value)
            team.version += 1
            uow.publish(events.TeamUpdated(**_team_snapshot(team)))
            uow.commit()
            return dict(with_audit_changes(team_out(team), [uow]))

    def get_team(self, team_id: str) -> dict[str, Any]:
        with self._uow(None) as uow:
            team = uow.session.get(Team, team_id)
            if team is None:
                raise NotFound("team not found")
            return team_out(team)

    def list_teams(self, page: schemas.TeamQuery) -> dict[str, Any]:
        with self._uow(None) as uow:
            rows, cursor = keyset_page(uow.session, select(Team), page.limit, page.cursor,
                                       (Team.name, Team.id))
            return {"items": [team_out(t) for t in rows], "next_cursor": cursor}

    # -- users ------------------------------------------------------------------------
    def create_user(self, actor: Principal | None, data: schemas.UserCreate) -> dict[str, Any]:
        with self._uow(actor) as uow:
            s = uow.session
            if username_taken(s, data.username):
                raise Conflict("username is taken", code="username_taken")
            if data.team_id is not None and s.get(Team, data.team_id) is None:
                raise bad_reference("team_id", "team not found", "invalid_team")
            user = User(
                id=str(uuid.uuid4()), username=data.username, display_name=data.display_name,
                email=data.email, phone=data.phone, locale=data.locale,
                password_hash=hash_password(data.password),
                roles=list(data.roles), team_id=data.team_id, is_active=True,
                is_new_staff=data.is_new_staff, token_version=1, version=1,
            )
            s.add(user)
            s.flush()
            uow.publish(events.UserCreated(**_user_snapshot(user)))
            uow.commit()
            return user_out(user)

    def update_user(self, actor: Principal, user_id: str, data: schemas.UserUpdate,
                    expected_version: int | None) -> dict[str, Any]:
        with self._uow(actor) as uow:
            s = uow.session
            user = s.get(User, user_id, with_for_update=True)
            if user is None:
                raise NotFound("user not found")
            _check_version(user, expected_version)
            changes = data.model_dump(exclude_unset=True)
            team_id = changes.get("team_id")
            if team_id is not None and s.get(Team, team_id) is None:
                raise bad_reference("team_id", "team not found", "invalid_team")
            password = changes.pop("password", None)
            if password:
                user.password_hash = hash_password(password)
                user.token_version += 1  # a password change signs every session out
            for name, value in changes.items():
                setattr(user, name, value)
            if "roles" in changes:
                user.token_version += 1
            user.version += 1
            uow.publish(events.UserUpdated(**_user_snapshot(user)))
            uow.commit()
            return dict(with_audit_changes(user_out(user), [uow]))

    def deactivate_user(self, actor: Principal, user_id: str, successor_id: str) -> dict[str, Any]:
        with self._uow(actor) as uow:
            s = uow.session
            user = s.get(User, user_id, with_for_update=True)
            if user is None:
                raise NotFound("user not found")
            successor = s.get(User, successor_id)
            check_deactivation(user, successor)
            now = datetime.now(UTC)
            user.is_active = False
            user.successor_id = successor_id
            user.deactivated_at = now
            user.token_version += 1
            user.version += 1
            for key in s.scalars(select(ApiKey).where(
                    ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))):
                key.revoked_at = now
            uow.publish(events.UserUpdated(**_user_snapshot(user)))
            uow.publish(events.UserDeactivated(id=user.id, successor_id=successor_id,
                                               team_id=user.team_id))
            uow.commit()
            return dict(with_audit_changes(user_out(user), [uow]))

    def get_user(self, user_id: str) -> dict[str, Any]:
        with self._uow(None) as uow:
            user = uow.session.get(User, user_id)
            if user is None:
                raise NotFound("user not found")
            return user_out(user)

    def list_users(self, page: schemas.UserQuery) -> dict[str, Any]:
        query = select(User)
        if page.team_id:
            query = query.where(User.team_id == page.team_id)
        if page.active is not None:
            query = query.where(User.is_active.is_(page.active))
        if page.q:
            like = f"%{page.q}%"
            query = query.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
        with self._uow(None) as uow:
            rows, cursor = keyset_page(uow.session, query, page.limit, page.cursor,
                                       (User.username, User.id))
            return {"items": [user_out(u) for u in rows], "next_cursor": cursor}

    def user_count(self) -> int:
        with self._uow(None) as uow:
            return len(uow.session.scalars(select(User.id).limit(1)).all())

    # -- API keys ---------------------------------------------------------------------
    def create_api_key(self, actor: Principal, owner_id: str,
                       data: schemas.ApiKeyCreate) -> dict[str, Any]:
        with self._uow(actor) as uow:
            s = uow.session
            owner = s.get(User, owner_id)
            if owner is None or not owner.is_active:
                raise ValidationFailed("key owner not found or inactive", code="invalid_user")
            key_id, full, secret_hash = new_api_key()
            key = ApiKey(id=key_id, user_id=owner_id, name=data.name, secret_hash=secret_hash,
                         scopes=list(data.scopes), expires_at=data.expires_at)
            s.add(key)
            s.flush()
            out = key_out(key)
            uow.commit()
            return {**out, "key": full}

    def list_api_keys(self, owner_id: str | None, page: schemas.ApiKeyQuery) -> dict[str, Any]:
        query = select(ApiKey)
        if owner_id:
            query = query.where(ApiKey.user_id == owner_id)
        with self._uow(None) as uow:
            rows, cursor = keyset_page(uow.session, query, page.limit, page.cursor,
                                       (ApiKey.created_at, ApiKey.id))
            return {"items": [key_out(k) for k in rows], "next_cursor": cursor}

    def revoke_api_key(
        self, actor: Principal, key_id: str, owner_only: str | None
    ) -> dict[str, Any]:
        with self._uow(actor) as uow:
            key = uow.session.get(ApiKey, key_id, with_for_update=True)
            if key is None or (owner_only and key.user_id != owner_only):
                raise NotFound("API key not found")
            if key.revoked_at is None:
                key.revoked_at = datetime.now(UTC)
                uow.publish(events.ApiKeyRevoked(id=key.id, user_id=key.user_id))
            uow.commit()
            return key_out(key)

    def verify_api_secret(self, secret_hash: str, secret: str) -> bool:
        import hmac

        return hmac.compare_digest(secret_hash, hash_api_secret(secret))

    # -- audit ------------------------------------------------------------------------
    def record_audit(self, entries: list[dict[str, Any]]) -> None:
        # one multi-row INSERT without RETURNING: the audit writer's batch is hot
        rows = [{k: v for k, v in entry.items() if k != ERASED_VALUES} for entry in entries]
        with self._uow(None) as uow:
            uow.session.execute(insert(AUDIT_TABLE), rows)
            for entry in entries:
                suffix = ERASURES.get(entry["action"])
                if suffix and entry["status"] < 300 and entry["path"].endswith(suffix):
                    record_path = entry["path"].removesuffix(suffix)
                    _redact_audit(uow.session, record_path)
                    _scrub_erased(uow.session, entry.get(ERASED_VALUES) or [],
                                  record_path.rsplit("/", 1)[-1])
            uow.commit()

    def list_audit(self, page: schemas.AuditQuery) -> dict[str, Any]:
        query = select(AuditEntry)
        if page.actor_id:
            query = query.where(AuditEntry.actor_id == page.actor_id)
        if page.action:
            query = query.where(AuditEntry.action == page.action)
        if page.resource_id:
            query = query.where(AuditEntry.resource_id == page.resource_id)
        with self._uow(None) as uow:
            rows, cursor = keyset_page(uow.session, query, page.limit, page.cursor,
                                       (AuditEntry.id,), descending=True)
            items = [schemas.AuditEntry.model_validate(r, from_attributes=True)
                     .model_dump(mode="json") for r in rows]
            return {"items": items, "next_cursor": cursor}


def _redact_audit(s: Session, record_path: str) -> None:
    """Drop the details of every audit entry about the record at ``record_path`` (its
    reads' queries, its writes' changes): they may hold the erased person's data. The
    entries in the batch being written are already in, so none escapes."""
    s.execute(update(AUDIT_TABLE)
              .where(or_(AUDIT_TABLE.c.path == record_path,
                         AUDIT_TABLE.c.path.like(escape_like(record_path) + "/%", escape="\\")))
              .values(detail=ERASED_DETAIL))


def _scrub_erased(s: Session, values: list[str], record_id: str) -> None:
    """What the gateway kept of an erased person elsewhere than under the record's path:
    the details of the entries of its creation (``resource_id``) and of any entry that
    mentions one of its values (a lead's, an order's, a search's), dropped; the answers
    stored for Idempotency-Key replays that mention one, scrubbed of them (a replay
    answers the record anonymised)."""
    s.execute(update(AUDIT_TABLE).where(AUDIT_TABLE.c.resource_id == record_id,
                                        AUDIT_TABLE.c.detail.is_not(None))
              .values(detail=ERASED_DETAIL))
    values = erasable(values)
    if not values:
        return
    s.execute(update(AUDIT_TABLE).where(mentioning(AUDIT_TABLE.c.detail, values))
              .values(detail=ERASED_DETAIL))
    s.execute(delete(IDEMPOTENCY_TABLE).where(
        mentioning(IDEMPOTENCY_TABLE.c.response_body, values)))
