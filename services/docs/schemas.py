"""RPC inputs and outputs of the documents service (also the gateway's API models).

File bytes never appear here: they go through the content port
(``services.docs.content``), authorised by the tickets these RPCs hand out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from crm_platform.inputs import Ref, Strict, kept
from crm_platform.pagination import Page, PageQuery
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Level = Literal["public", "internal", "confidential", "secret"]
LinkKind = Literal["customer", "order", "product", "campaign"]
GranteeKind = Literal["user", "role", "team"]
VersionStatus = Literal["draft", "effective", "obsolete", "destroyed"]
CategoryCode = Annotated[str, Field(min_length=1, max_length=40,
                                    pattern=r"^[a-z][a-z0-9_]*$")]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^|]+$")]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ListQuery(PageQuery):
    """A list with no filters of its own."""


# -- categories and retention (DOC-01, DOC-05) --------------------------------------------
class CategoryIn(Strict):
    code: CategoryCode
    name: str = Field(min_length=1, max_length=100)
    retention_years: int | None = Field(None, ge=1, le=200,
                                        description="null: kept for ever")


class CategoryUpdate(Strict):
    name: str = kept(min_length=1, max_length=100)
    retention_years: int | None = Field(None, ge=1, le=200)


class Category(Out):
    code: str
    name: str
    retention_years: int | None
    built_in: bool
    version: int


class CategoryPage(Page[Category]):
    pass


# -- documents (DOC-01) -------------------------------------------------------------------
class Links(Strict):
    customer_ids: list[Ref] = Field(default_factory=list, max_length=50)
    order_ids: list[Ref] = Field(default_factory=list, max_length=50)
    product_ids: list[Ref] = Field(default_factory=list, max_length=50)
    campaign_ids: list[Ref] = Field(default_factory=list, max_length=50)
    work_order_ids: list[Ref] = Field(default_factory=list, max_length=50,
                                      description="service desk work orders (work photos, "
                                      "checked with the service desk)")


def _metadata_size(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > 50:
        raise ValueError("at most 50 metadata entries")
    for key, item in value.items():
        if len(key) > 100:
            raise ValueError("a metadata key is at most 100 characters")
        if not isinstance(item, str | int | float | bool) and item is not None:
            raise ValueError("metadata values are text, numbers, true/false or null")
        if isinstance(item, str) and len(item) > 2000:
            raise ValueError("a metadata value is at most 2000 characters")
    return value


class DocumentIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    category: CategoryCode
    level: Level = "internal"
    owner_id: Ref | None = Field(None, description="default: the caller")
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    metadata: dict[str, Any] = Field(default_factory=dict)
    links: Links = Field(default_factory=Links)

    _metadata = field_validator("metadata")(_metadata_size)


class DocumentUpdate(Strict):
    title: str = kept(min_length=1, max_length=300)
    category: CategoryCode = kept()
    level: Level = kept()
    owner_id: Ref = kept()
    tags: list[Tag] = kept(max_length=30)
    metadata: dict[str, Any] = kept()
    links: Links = kept(description="replaces every link")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _metadata_size(value)


class VersionOut(Out):
    number: int
    status: VersionStatus
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime
    effective_at: datetime | None


class Document(BaseModel):
    id: str
    title: str
    category: str
    level: Level
    owner_id: str
    owner_name: str | None
    tags: list[str]
    metadata: dict[str, Any]
    links: dict[str, list[str]]
    status: Literal["active", "destroyed"]
    legal_hold: bool
    legal_hold_reason: str | None
    retention_start: date
    retention_due: date | None
    effective_version: int | None
    latest_version: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int


class DocumentSummary(BaseModel):
    id: str
    title: str
    category: str
    level: Level
    owner_id: str
    tags: list[str]
    effective_version: int | None
    updated_at: datetime
    version: int


class DocumentPage(Page[DocumentSummary]):
    pass


class DocumentFilters(Strict):
    q: str | None = Field(None, max_length=200,
                          description="words in the title, tags, metadata or file text")
    category: CategoryCode | None = None
    level: Level | None = None
    owner_id: Ref | None = None
    tag: Tag | None = None
    customer_id: Ref | None = None
    order_id: Ref | None = None
    product_id: Ref | None = None
    campaign_id: Ref | None = None
    work_order_id: Ref | None = None


class DocumentQuery(PageQuery, DocumentFilters):
    pass


class DocumentCount(BaseModel):
    count: int


class VersionPage(Page[VersionOut]):
    pass


class VersionUploaded(VersionOut):
    document_id: str
    document_version: int


# -- tickets for the content port (DOC-02) ------------------------------------------------
class UploadRequest(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str | None = Field(None, max_length=200)
    content_length: int | None = Field(None, ge=0)


class ContentTicket(BaseModel):
    ticket: str
    max_bytes: int | None = None


# -- grants and borrowing (DOC-03, DOC-04) ------------------------------------------------
class GrantIn(Strict):
    kind: GranteeKind
    grantee_id: str = Field(min_length=1, max_length=40,
                            description="a user id, a role name or a team id")
    expires_at: AwareDatetime | None = Field(None, description="with its offset")


class GrantOut(Out):
    id: str
    document_id: str
    kind: GranteeKind
    grantee_id: str
    expires_at: datetime | None
    access_request_id: str | None
    granted_by: str
    created_at: datetime


class GrantPage(Page[GrantOut]):
    pass


class AccessRequestIn(Strict):
    reason: str = Field(min_length=1, max_length=1000)
    days: int = Field(ge=1, le=365)


class Decision(Strict):
    comment: str | None = Field(None, max_length=1000)


class AccessRequestOut(Out):
    id: str
    document_id: str
    requester_id: str
    reason: str
    days: int
    status: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    expires_at: datetime | None
    created_at: datetime
    version: int


class AccessRequestPage(Page[AccessRequestOut]):
    pass


class AccessRequestQuery(PageQuery):
    status: Literal["pending", "approved", "rejected"] | None = None
    document_id: Ref | None = None


class AccessLogEntry(Out):
    id: str
    document_id: str
    user_id: str
    action: Literal["view", "download"]
    version_number: int | None
    created_at: datetime


class AccessLogPage(Page[AccessLogEntry]):
    pass


# -- retention, legal hold, destruction (DOC-05) ------------------------------------------
class RetentionQuery(PageQuery):
    as_of: date


class RetentionDue(BaseModel):
    id: str
    title: str
    category: str
    retention_start: date
    retention_due: date
    legal_hold: bool


class RetentionDuePage(Page[RetentionDue]):
    pass


class LegalHoldIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class DestructionRequestIn(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class DestructionRequestOut(Out):
    id: str
    document_id: str
    reason: str
    status: Literal["pending", "approved", "rejected"]
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    created_at: datetime
    version: int


class DestructionRequestPage(Page[DestructionRequestOut]):
    pass


class DestructionRequestQuery(PageQuery):
    status: Literal["pending", "approved", "rejected"] | None = None


class DestructionRecord(Out):
    id: str
    document_id: str
    title: str
    category: str
    versions: list[dict[str, Any]]
    reason: str
    requested_by: str
    approved_by: str
    created_at: datetime


class DestructionRecordPage(Page[DestructionRecord]):
    pass


# -- the service's clock (tests move it; DOC-04 expiries) ---------------------------------
class ClockIn(Strict):
    offset_seconds: int = Field(ge=-10 * 365 * 86400, le=10 * 365 * 86400)


class Clock(BaseModel):
    offset_seconds: int
    now: datetime


# -- customer 360 (CUS-16) ----------------------------------------------------------------
class CustomerDocuments(BaseModel):
    count: int
    items: list[DocumentSummary]
