"""Tables of the documents service (its own database, PLT-01).

File bytes are never in this database: a version names its blob by checksum, and the
blob lives in the blob store (``services.docs.storage``). A version row is written only
after its blob is complete in the store, so a crash mid-upload leaves no version.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from crm_platform.db import SettingsTable, UTCDateTime, messaging_tables, utcnow
from crm_platform.read_models import CopyTable, CustomerCopy, StaffCopy, TeamCopy
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


MESSAGING = messaging_tables(Base.metadata)


# -- local copies fed by events ----------------------------------------------------------
class Staff(StaffCopy, Base):
    pass


class Team(TeamCopy, Base):
    pass


class Customer(CustomerCopy, Base):
    pass


class SalesRecord(CopyTable, Base):
    """Orders, products and campaigns as the sales service publishes them: what a
    document may link to (``kind``), its label, and an order's customer."""

    __tablename__ = "sales_records"

    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_id: Mapped[str | None] = mapped_column(String(36))


class Setting(SettingsTable, Base):
    pass


# -- the archive (DOC-01 … DOC-05) --------------------------------------------------------
class Category(Base):
    """Built-in categories (contract, tender…) and those an administrator adds; each
    with its retention period in years (None: kept for ever)."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    retention_years: Mapped[int | None] = mapped_column(Integer)
    built_in: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_category", "category", "status"),
        Index("ix_documents_owner", "owner_id", "status"),
        Index("ix_documents_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    category: Mapped[str] = mapped_column(ForeignKey("categories.code"), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    level: Mapped[str] = mapped_column(String(15), nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict,
                                                 nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="active", nullable=False)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    retention_start: Mapped[date] = mapped_column(Date, nullable=False)
    # title, tags, metadata and the newest version's text, normalised (DOC-07)
    search_text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # the tags as "|a|b|", so a filter by one tag is a substring match on any database
    tag_index: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class DocumentLink(Base):
    """A document is about customers, orders, products, campaigns (any number of each)."""

    __tablename__ = "document_links"
    __table_args__ = (Index("ix_document_links_target", "kind", "target_id"),)

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class Blob(Base):
    """One stored file per checksum (the store is content-addressed). Writers of a blob
    (an upload) and its remover (a destruction) take this row's lock, so a blob is never
    removed under a version that is being written."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (
        UniqueConstraint("document_id", "number"),
        # at most one valid version per document, whatever races
        Index("ux_document_versions_effective", "document_id", unique=True,
              postgresql_where=text("status = 'effective'"),
              sqlite_where=text("status = 'effective'")),
        Index("ix_document_versions_sha256", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="draft", nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(200), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # text for search: pending until extracted (a timer finishes what a crash left)
    text_status: Mapped[str] = mapped_column(String(10), default="pending", nullable=False)
    extracted_text: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a destroyed version's bytes are removed after the destruction commits
    blob_removed: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class Grant(Base):
    """Access to a document for a user, a role or a team; borrowings expire."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_document", "document_id"),
                      Index("ix_grants_grantee", "kind", "grantee_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(5), nullable=False)
    grantee_id: Mapped[str] = mapped_column(String(40), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    access_request_id: Mapped[str | None] = mapped_column(String(36))
    granted_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class AccessRequest(Base):
    """A borrowing (借阅): asked with a reason for some days, decided by the owner or an
    archive manager."""

    __tablename__ = "access_requests"
    __table_args__ = (Index("ix_access_requests_document", "document_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), nullable=False)
    requester_id: Mapped[str] = mapped_column(String(36), nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False)
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="pending", nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(String(1000))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class AccessLogEntry(Base):
    """Every view and download, for the archive managers (DOC-04). Only ever inserted."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_document", "document_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(36), nullable=False)
    user_id: Mapped[str] = mapped_column(String(36), nullable=False)
    action: Mapped[str] = mapped_column(String(10), nullable=False)
    version_number: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class DestructionRequest(Base):
    __tablename__ = "destruction_requests"
    __table_args__ = (Index("ix_destruction_requests_document", "document_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="pending", nullable=False)
    requested_by: Mapped[str] = mapped_column(String(36), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class DestructionRecord(Base):
    """What was destroyed, kept for ever. Nothing in the service updates or deletes it,
    and on PostgreSQL a trigger refuses UPDATE and DELETE (migration 0001)."""

    __tablename__ = "destruction_records"
    __table_args__ = (Index("ix_destruction_records_created", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    versions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(36), nullable=False)
    approved_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
