"""Portal accounts (SVC-07): a customer's contact signs in to the self-service portal.

A portal account is not a user. Staff invite a contact (the customer service vouches
that the contact is the customer's and that the inviter may see the customer); the
invitation is a random token shown once and stored hashed, good once until it expires;
accepting it sets the password (argon2, as users'). The contact then signs in through
the same ``/auth/token`` and gets a token marked as a portal token, whose principal
holds the ``portal_contact`` role — the portal's permissions and nothing else — and the
one customer it acts for, which the service desk enforces. Re-inviting an account is
how its password is reset; revoking it ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_platform.errors import BadRequest, Conflict, NotFound, ValidationFailed
from crm_platform.permissions import PORTAL_ROLE
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import events, schemas
from gateway.db.models import PortalAccount, User
from gateway.principal import Principal
from gateway.security import hash_password

UowFactory = Callable[[Principal | None], UnitOfWork]
INVITE_PREFIX = "pi_"


def hash_invite(token: str) -> str:
    # 256 random bits: a fast hash is enough (nothing to guess from a dictionary)
    return hashlib.sha256(token.encode()).hexdigest()


def status_of(account: PortalAccount) -> str:
    if account.revoked_at is not None:
        return "revoked"
    return "active" if account.password_hash else "invited"


def account_out(account: PortalAccount) -> dict[str, Any]:
    data = {name: getattr(account, name) for name in schemas.PortalAccount.model_fields
            if name != "status"}
    return schemas.PortalAccount.model_validate(
        {**data, "status": status_of(account)}).model_dump(mode="json")


def _event(cls: type[events.PortalAccountEvent], account: PortalAccount
           ) -> events.PortalAccountEvent:
    return cls(id=account.id, contact_id=account.contact_id,
               customer_id=account.customer_id, username=account.username)


def username_taken(s: Session, username: str, contact_id: str | None = None) -> bool:
    """Users and portal accounts sign in through one form: a name is one or the other."""
    if s.scalar(select(User.id).where(User.username == username)):
        return True
    holder = s.scalar(select(PortalAccount.contact_id)
                      .where(PortalAccount.username == username))
    return holder is not None and holder != contact_id


class PortalAccounts:
    def __init__(self, uow: UowFactory, invite_days: int) -> None:
        self._uow = uow
        self.invite_days = invite_days

    def invite(self, actor: Principal, customer_id: str, contact: dict[str, Any],
               username: str | None) -> dict[str, Any]:
        """Invite (or re-invite) ``contact`` — as the customer service returned it for
        ``customer_id`` — and return the one-time token with the account."""
        emails = contact.get("emails") or [contact.get("email")]
        email = emails[0] if emails and emails[0] else None
        name = username or (email or "").strip().lower() or None
        if not name:
            raise ValidationFailed("the contact has no e-mail: give a username",
                                   code="username_required",
                                   extra={"errors": [{"field": "username",
                                                      "message": "required"}]})
        token = INVITE_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(days=self.invite_days)
        with self._uow(actor) as uow:
            s = uow.session
            if username_taken(s, name, contact["id"]):
                raise Conflict("username is taken", code="username_taken")
            account = s.scalar(select(PortalAccount).where(
                PortalAccount.contact_id == contact["id"]).with_for_update())
            if account is None:
                account = PortalAccount(id=str(uuid.uuid4()), contact_id=contact["id"],
                                        token_version=1, version=0, created_at=now)
                s.add(account)
            elif account.revoked_at is not None:  # invited again: a fresh start
                account.revoked_at = None
                account.password_hash = None
                account.activated_at = None
                account.token_version += 1
            account.username = name
            account.customer_id = customer_id
            account.display_name = str(contact.get("name") or name)
            account.email = email
            account.invite_hash = hash_invite(token)
            account.invite_expires_at = expires
            account.invited_by = actor.user_id
            account.version += 1
            account.updated_at = now
            s.flush()
            out = account_out(account)
            uow.commit()
        return {"account": out, "invite_token": token, "expires_at": expires}

    def accept(self, token: str, password: str) -> dict[str, Any]:
        """Set the password with an invitation; the invitation is used up."""
        with self._uow(None) as uow:
            s = uow.session
            account = s.scalar(select(PortalAccount).where(
                PortalAccount.invite_hash == hash_invite(token)).with_for_update())
            now = datetime.now(UTC)
            if account is None or account.revoked_at is not None or (
                    account.invite_expires_at is None or account.invite_expires_at <= now):
                raise BadRequest("this invitation is not valid (used, expired or unknown)",
                                 code="invalid_invite")
            account.password_hash = hash_password(password)
            account.invite_hash = None
            account.invite_expires_at = None
            account.activated_at = now
            account.token_version += 1  # earlier sessions (before a reset) end
            account.version += 1
            account.updated_at = now
            uow.publish(_event(events.PortalAccountActivated, account))
            out = account_out(account)
            uow.commit()
            return out

    def revoke(self, actor: Principal, customer_id: str, contact_id: str) -> dict[str, Any]:
        with self._uow(actor) as uow:
            account = self._account(uow.session, customer_id, contact_id, lock=True)
            if account.revoked_at is None:
                now = datetime.now(UTC)
                account.revoked_at = now
                account.invite_hash = account.invite_expires_at = None
                account.token_version += 1
                account.version += 1
                account.updated_at = now
                uow.publish(_event(events.PortalAccountRevoked, account))
            out = account_out(account)
            uow.commit()
            return out

    def get(self, customer_id: str, contact_id: str) -> dict[str, Any]:
        with self._uow(None) as uow:
            return account_out(self._account(uow.session, customer_id, contact_id))

    def _account(self, s: Session, customer_id: str, contact_id: str,
                 lock: bool = False) -> PortalAccount:
        query = select(PortalAccount).where(PortalAccount.contact_id == contact_id,
                                            PortalAccount.customer_id == customer_id)
        if lock:
            query = query.with_for_update()
        account = s.scalar(query)
        if account is None:
            raise NotFound("this contact has no portal account", code="portal_account_not_found")
        return account

    def load_principal(self, account_id: str) -> Principal | None:
        with self._uow(None) as uow:
            account = uow.session.get(PortalAccount, account_id)
            if account is None:
                return None
            return Principal(
                user_id=account.id, username=account.username,
                display_name=account.display_name, roles=(PORTAL_ROLE,), team_id=None,
                token_version=account.token_version,
                is_active=account.revoked_at is None and account.password_hash is not None,
                portal_customer_id=account.customer_id,
                portal_contact_id=account.contact_id)
