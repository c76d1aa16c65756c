"""Documents service operations (DOC-01 … DOC-07): one line each, plus the two that
move file bytes (``router`` below), which stream instead of calling RPC with the
content.

An upload (``POST /documents/{id}/versions``, the file as the raw request body) and a
download (``GET /documents/{id}/versions/{n}/content``) are each authorised over RPC
first — the docs service checks the caller, the document's level and grants and the
``If-Match``, and answers with a short-lived signed ticket — and then streamed between
the client and the docs service's content port in chunks, so neither process ever holds
a whole file; the bytes never go through the broker.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import unquote

import httpx
from crm_platform.errors import PayloadTooLarge, ServiceUnavailable, ValidationFailed
from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from gateway.config import gateway_settings
from gateway.deps import SECURITY, authenticate
from gateway.etag import parse_if_match
from gateway.routetable import Route
from services.docs import schemas as s

DOCUMENTS = ("documents",)
VERSIONS = ("document versions",)
SHARING = ("document access",)
ARCHIVE = ("archive management",)

ROUTES = [
    # -- categories (DOC-01, DOC-05) ----------------------------------------------------
    Route("GET", "/document-categories", "docs", "list_document_categories", "document:read",
          query=s.ListQuery, response=s.CategoryPage, tags=DOCUMENTS,
          summary="Categories, built-in and admin-defined, with their retention in years"),
    Route("POST", "/document-categories", "docs", "create_document_category", "document:configure",
          body=s.CategoryIn, response=s.Category, status=201, tags=DOCUMENTS),
    Route("PATCH", "/document-categories/{code}", "docs", "update_document_category",
          "document:configure", body=s.CategoryUpdate, response=s.Category, if_match=True,
          tags=DOCUMENTS, summary="Rename a category or change its retention period"),
    # -- documents (DOC-01, DOC-07) -----------------------------------------------------
    Route("POST", "/documents", "docs", "create_document", "document:write",
          body=s.DocumentIn, response=s.Document, status=201, tags=DOCUMENTS,
          summary="A document's record (title, category, level, links, tags, metadata); "
          "its files are uploaded as versions"),
    Route("GET", "/documents", "docs", "list_documents", "document:read",
          query=s.DocumentQuery, response=s.DocumentPage, tags=DOCUMENTS,
          summary="Documents the caller may see; filters by category, level, owner, tag, "
          "linked record; `q` searches titles, tags, metadata and file text"),
    Route("GET", "/documents/count", "docs", "count_documents", "document:read",
          query=s.DocumentFilters, response=s.DocumentCount, tags=DOCUMENTS,
          summary="How many documents the caller may see match the filters"),
    Route("GET", "/documents/{document_id}", "docs", "get_document", "document:read",
          response=s.Document, confidential=True, tags=DOCUMENTS,
          summary="A document (a view in its access log); 404 if the caller may not see it"),
    Route("PATCH", "/documents/{document_id}", "docs", "update_document", "document:write",
          body=s.DocumentUpdate, response=s.Document, if_match=True, tags=DOCUMENTS),
    # -- versions (DOC-02) ----------------------------------------------------------------
    Route("GET", "/documents/{document_id}/versions", "docs", "list_versions",
          "document:read", query=s.ListQuery, response=s.VersionPage, tags=VERSIONS),
    Route("POST", "/documents/{document_id}/versions/{number}/effective", "docs",
          "make_version_effective", "document:write", response=s.VersionOut, if_match=True,
          tags=VERSIONS, summary="Make a draft the valid version; the valid one becomes "
          "obsolete"),
    # -- grants and borrowing (DOC-03, DOC-04) ----------------------------------------------
    Route("GET", "/documents/{document_id}/grants", "docs", "list_grants", "document:read",
          query=s.ListQuery, response=s.GrantPage, tags=SHARING,
          summary="Grants (the owner and archive managers, who manage a secret document's "
          "grants without reading it)"),
    Route("POST", "/documents/{document_id}/grants", "docs", "add_grant", "document:read",
          body=s.GrantIn, response=s.GrantOut, status=201, tags=SHARING,
          summary="Open the document to a user, a role or a team (secret: users only)"),
    Route("DELETE", "/documents/{document_id}/grants/{grant_id}", "docs", "remove_grant",
          "document:read", tags=SHARING),
    Route("POST", "/documents/{document_id}/access-requests", "docs", "request_access",
          "document:read", body=s.AccessRequestIn, response=s.AccessRequestOut, status=201,
          tags=SHARING, summary="Ask to borrow a document for some days (借阅)"),
    Route("GET", "/access-requests", "docs", "list_access_requests", "document:read",
          query=s.AccessRequestQuery, response=s.AccessRequestPage, tags=SHARING,
          summary="Borrowings: archive managers see all, others theirs and those on "
          "their documents"),
    Route("POST", "/access-requests/{request_id}/approve", "docs", "approve_access_request",
          "document:read", body=s.Decision, response=s.AccessRequestOut, if_match=True,
          tags=SHARING, summary="The owner or an archive manager approves: a grant that "
          "ends by itself after the days asked"),
    Route("POST", "/access-requests/{request_id}/reject", "docs", "reject_access_request",
          "document:read", body=s.Decision, response=s.AccessRequestOut, if_match=True,
          tags=SHARING),
    Route("GET", "/documents/{document_id}/access-log", "docs", "get_access_log",
          "document:manage", query=s.ListQuery, response=s.AccessLogPage, tags=SHARING,
          summary="Every view and download of the document"),
    # -- retention, legal hold, destruction (DOC-05) ----------------------------------------
    Route("GET", "/retention/due", "docs", "list_retention_due", "document:manage",
          query=s.RetentionQuery, response=s.RetentionDuePage, tags=ARCHIVE,
          summary="Documents past their category's retention on `as_of` (yearly review)"),
    Route("POST", "/documents/{document_id}/legal-hold", "docs", "place_legal_hold",
          "document:manage", body=s.LegalHoldIn, response=s.Document, tags=ARCHIVE,
          summary="A legal hold blocks destruction"),
    Route("DELETE", "/documents/{document_id}/legal-hold", "docs", "release_legal_hold",
          "document:manage", response=s.Document, tags=ARCHIVE),
    Route("POST", "/documents/{document_id}/destruction-requests", "docs",
          "request_destruction", "document:manage", body=s.DestructionRequestIn,
          response=s.DestructionRequestOut, status=201, tags=ARCHIVE,
          summary="Ask for a document's destruction (refused under legal hold)"),
    Route("GET", "/destruction-requests", "docs", "list_destruction_requests",
          "document:manage", query=s.DestructionRequestQuery,
          response=s.DestructionRequestPage, tags=ARCHIVE),
    Route("POST", "/destruction-requests/{request_id}/approve", "docs", "approve_destruction",
          "document:manage", body=s.Decision, response=s.DestructionRequestOut,
          if_match=True, tags=ARCHIVE,
          summary="Another archive manager approves: every version's bytes are removed "
          "and a permanent destruction record is written"),
    Route("POST", "/destruction-requests/{request_id}/reject", "docs", "reject_destruction",
          "document:manage", body=s.Decision, response=s.DestructionRequestOut,
          if_match=True, tags=ARCHIVE),
    Route("GET", "/destruction-records", "docs", "list_destruction_records",
          "document:manage", query=s.ListQuery, response=s.DestructionRecordPage,
          tags=ARCHIVE, summary="What was destroyed, when, by whose request and approval "
          "(kept for ever; nothing edits or deletes it)"),
    Route("GET", "/document-clock", "docs", "get_document_clock", "document:configure",
          response=s.Clock, tags=ARCHIVE),
    Route("PUT", "/document-clock", "docs", "set_document_clock", "document:configure",
          body=s.ClockIn, response=s.Clock, tags=ARCHIVE,
          summary="Move the service's clock (only where CRM_DOCS_ADJUSTABLE_CLOCK is on: "
          "tests of borrowing expiry)"),
]

# the one request body the gateway streams instead of buffering (its size limit is the
# docs service's, told by the upload ticket)
STREAMED_UPLOADS = (re.compile(r"^/api/v1/documents/[^/]+/versions$"),)

router = APIRouter(prefix="/api/v1")
_client: httpx.AsyncClient | None = None
# what a download passes on from the content port
_DOWNLOAD_HEADERS = ("content-type", "content-length", "content-range", "accept-ranges",
                     "etag", "content-disposition", "cache-control",
                     "x-content-type-options")


def _content_client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(
            base_url=gateway_settings().docs_content_url,
            timeout=httpx.Timeout(60.0, connect=5.0), trust_env=False)
    return _client


def _context(request: Request, caller_header: str) -> dict[str, Any]:
    return {"caller": caller_header, "correlation_id": request.state.request_id}


_FILENAME_STAR = re.compile(r"filename\*\s*=\s*UTF-8''([^;]+)", re.IGNORECASE)
_FILENAME = re.compile(r'filename\s*=\s*"([^"]*)"', re.IGNORECASE)


def upload_filename(query_name: str | None, disposition: str | None) -> str | None:
    """The file's name: ``?filename=`` or the ``Content-Disposition`` header (RFC 8187's
    ``filename*`` first, for names such as 合同.pdf)."""
    if query_name:
        return query_name
    if not disposition:
        return None
    found = _FILENAME_STAR.search(disposition)
    if found:
        try:
            return unquote(found.group(1).strip(), encoding="utf-8", errors="strict")
        except UnicodeDecodeError:  # was a 500
            raise ValidationFailed("the file name in Content-Disposition is not UTF-8 "
                                   "once percent-decoded", code="invalid_filename") from None
    found = _FILENAME.search(disposition)
    return found.group(1) if found else None


async def _bounded(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refused past ``limit`` bytes."""
    sent = 0
    async for chunk in request.stream():
        sent += len(chunk)
        if sent > limit:
            raise PayloadTooLarge(f"the file is larger than {limit} bytes",
                                  extra={"max_bytes": limit})
        if chunk:
            yield chunk


@router.post(
    "/documents/{document_id}/versions", status_code=201, response_model=s.VersionUploaded,
    operation_id="upload_version", tags=list(VERSIONS),
    summary="Upload a file as a new immutable version (a draft): the raw request body, "
    "streamed; name it with ?filename= or Content-Disposition",
    description="Requires `document:write`. `If-Match` with the document's version: a "
    "stale one is 412 and nothing is stored. The SHA-256 is computed while the bytes "
    "stream; the type is read from the bytes. Over the size limit: 413.",
    openapi_extra={"security": SECURITY, "requestBody": {
        "required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}})
async def upload_version(
    document_id: str, request: Request,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    principal = await authenticate(request)
    name = upload_filename(filename, request.headers.get("content-disposition"))
    if not name:
        raise ValidationFailed("name the file: ?filename= or Content-Disposition",
                               code="filename_required")
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else None
    data = {"filename": name, "content_type": request.headers.get("content-type"),
            "content_length": length}
    try:  # here, as the route table validates bodies: the service's refusal was a 502
        s.UploadRequest.model_validate(data)
    except ValidationError as exc:
        where = {"filename": ("query", "filename") if filename
                 else ("header", "content-disposition"),
                 "content_type": ("header", "content-type")}
        raise RequestValidationError(
            [{**e, "loc": where.get(str(e["loc"][0]), ("header", *map(str, e["loc"])))}
             for e in exc.errors()]) from None
    rt = request.app.state.runtime
    granted = await rt.call("docs", "authorize_upload", {
        "document_id": document_id, "expected_version": parse_if_match(if_match),
        "data": data}, _context(request, principal.caller_header("document:write")))
    headers = {"X-Content-Ticket": granted["ticket"],
               "X-Request-Id": request.state.request_id,
               "Content-Type": "application/octet-stream"}
    if length is not None:
        headers["Content-Length"] = str(length)
    try:
        answer = await _content_client().put(
            "/content", content=_bounded(request, int(granted["max_bytes"])), headers=headers,
            timeout=httpx.Timeout(None, connect=5.0))
    except httpx.TransportError as exc:
        raise ServiceUnavailable("the documents service's content port is not reachable",
                                 code="service_unavailable") from exc
    request.state.resource_id = document_id
    return Response(answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type"),
                    headers={k: v for k, v in answer.headers.items() if k.lower() == "etag"})


@router.get(
    "/documents/{document_id}/versions/{number}/content", operation_id="download_version",
    tags=list(VERSIONS), summary="A version's bytes, streamed: ETag (the SHA-256), Range, "
    "and the file name in Content-Disposition (UTF-8)",
    description="Requires `document:read`; logged in the document's access log. 404 if "
    "the caller may not see the document.",
    responses={200: {"content": {"application/octet-stream": {}}},
               206: {"description": "the requested range"},
               416: {"description": "range past the end"}},
    openapi_extra={"security": SECURITY, "x-confidential": True})
async def download_version(document_id: str, number: str, request: Request) -> Response:
    principal = await authenticate(request)
    request.state.confidential = True
    rt = request.app.state.runtime
    granted = await rt.call("docs", "authorize_download",
                            {"document_id": document_id, "number": number},
                            _context(request, principal.caller_header("document:read")))
    headers = {"X-Content-Ticket": granted["ticket"], "X-Request-Id": request.state.request_id}
    for name in ("range", "if-range", "if-none-match"):
        if name in request.headers:
            headers[name] = request.headers[name]
    client = _content_client()
    try:
        answer = await client.send(client.build_request("GET", "/content", headers=headers),
                                   stream=True)
    except httpx.TransportError as exc:
        raise ServiceUnavailable("the documents service's content port is not reachable",
                                 code="service_unavailable") from exc
    passed = {k: v for k, v in answer.headers.items() if k.lower() in _DOWNLOAD_HEADERS}
    if answer.status_code >= 400 or answer.status_code == 304:
        body = await answer.aread()
        await answer.aclose()
        return Response(body, status_code=answer.status_code, headers=passed)
    return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                             headers=passed, background=BackgroundTask(answer.aclose))
