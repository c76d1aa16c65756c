"""Who may see a document (DOC-03): confidentiality levels and grants.

The rule, in the archive's words:

- ``public``: everyone who may read documents at all;
- ``internal``: the readers whose record scope covers the document's owner (``all``:
  everyone, ``team``: their teams' documents, ``own``: their own), and anyone granted;
- ``confidential``: the owner, anyone granted (by name, role or team), the owner's
  managers (of the owner's team or a team above it), archive managers and
  administrators;
- ``secret``: the owner and the people granted by name — nobody else, administrators
  and archive managers included. They manage its grants without reading it.

A grant with an expiry (a borrowing, DOC-04) stops counting at that instant, on every
read: nothing has to sweep it first. ``db/queries.visible`` is this rule in SQL for
lists, searches and counts; the two are tested against the same cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Level = Literal["public", "internal", "confidential", "secret"]
LEVELS: tuple[Level, ...] = ("public", "internal", "confidential", "secret")
GranteeKind = Literal["user", "role", "team"]
Scope = Literal["own", "team", "all"]

# roles that read confidential documents of anyone and decide borrowings
ARCHIVE_MANAGER_ROLES = frozenset({"archivist", "admin"})


@dataclass(frozen=True)
class Grant:
    kind: GranteeKind
    grantee_id: str
    expires_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class Reader:
    """The caller as the archive sees them. ``visible_owner_ids`` is None for ``all``
    scope; ``team_id`` is the reader's own team and ``managed_ids`` the people in the
    teams they manage (from the staff and team copies)."""

    user_id: str
    roles: frozenset[str]
    scope: Scope
    visible_owner_ids: frozenset[str] | None
    team_id: str | None = None
    managed_ids: frozenset[str] = frozenset()

    @property
    def is_archive_manager(self) -> bool:
        return bool(self.roles & ARCHIVE_MANAGER_ROLES)

    def covers(self, owner_id: str | None) -> bool:
        if self.visible_owner_ids is None:
            return True
        return owner_id is not None and owner_id in self.visible_owner_ids


@dataclass(frozen=True)
class DocumentFacts:
    owner_id: str | None
    level: Level
    grants: tuple[Grant, ...] = field(default_factory=tuple)


def grant_matches(grant: Grant, reader: Reader, now: datetime) -> bool:
    if not grant.active(now):
        return False
    if grant.kind == "user":
        return grant.grantee_id == reader.user_id
    if grant.kind == "role":
        return grant.grantee_id in reader.roles
    return reader.team_id is not None and grant.grantee_id == reader.team_id


def is_named(doc: DocumentFacts, reader: Reader, now: datetime) -> bool:
    """The owner, or granted by name (the only way into a secret document)."""
    return doc.owner_id == reader.user_id or any(
        g.kind == "user" and grant_matches(g, reader, now) for g in doc.grants)


def can_read(doc: DocumentFacts, reader: Reader, now: datetime) -> bool:
    if doc.level == "secret":
        return is_named(doc, reader, now)
    if doc.level == "public" or doc.owner_id == reader.user_id:
        return True
    if any(grant_matches(g, reader, now) for g in doc.grants):
        return True
    if doc.level == "confidential":
        return reader.is_archive_manager or doc.owner_id in reader.managed_ids
    return reader.covers(doc.owner_id)  # internal


def can_edit(doc: DocumentFacts, reader: Reader, write_scope_covers_owner: bool,
             now: datetime) -> bool:
    """Change the record or add versions: read it, and own it or hold write scope over
    its owner."""
    return can_read(doc, reader, now) and (doc.owner_id == reader.user_id
                                           or write_scope_covers_owner)


def can_manage_grants(doc: DocumentFacts, reader: Reader, now: datetime) -> bool:
    """The owner, and archive managers even where they cannot read (secret)."""
    return doc.owner_id == reader.user_id or reader.is_archive_manager


def grantable(level: Level, kind: GranteeKind) -> bool:
    """A secret document is opened only to people by name, never to a role or a team."""
    return level != "secret" or kind == "user"


def levels_refusing(grants: Iterable[Grant], level: Level) -> list[Grant]:
    """The grants a document at ``level`` may not keep (raising a level to secret with
    role or team grants on it must remove them first)."""
    return [g for g in grants if not grantable(level, g.kind)]
