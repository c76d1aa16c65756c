"""The content port (DOC-02): file bytes in and out of the service over plain HTTP,
never through RabbitMQ.

A small WSGI server runs as a green thread inside the service process (as the ops port
does). The gateway authorises each transfer over RPC first and streams the bytes here
with the ticket it got (``domain.tickets``):

- ``PUT /content`` (``X-Content-Ticket``): the request body is read in chunks of
  ``storage.CHUNK`` straight into the blob store while its SHA-256 is computed; the
  version row is written after the blob is complete (``use_cases.versions``);
- ``GET`` / ``HEAD /content``: the version's bytes with ``ETag`` (the checksum),
  ``Range`` / ``If-Range`` / ``If-None-Match``, and the file name in a
  ``Content-Disposition`` every client reads correctly, Chinese included.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import eventlet
from crm_platform import wire
from crm_platform.errors import DomainError, problem_body
from crm_platform.settings import get_settings
from crm_platform.uow import UnitOfWork
from eventlet import wsgi

from services.docs.db.models import Document
from services.docs.domain import tickets
from services.docs.domain.content import (
    UnsatisfiableRange,
    content_disposition,
    parse_range,
)
from services.docs.storage import CHUNK, BlobStore, reads
from services.docs.use_cases import versions

log = logging.getLogger(__name__)
TICKET_HEADER = "HTTP_X_CONTENT_TICKET"
UowFactory = Callable[..., UnitOfWork]
StartResponse = Callable[..., Any]

_REASONS = {200: "OK", 201: "Created", 206: "Partial Content", 304: "Not Modified",
            400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
            413: "Content Too Large", 416: "Range Not Satisfiable", 422: "Unprocessable Content",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _status(code: int) -> str:
    return f"{code} {_REASONS.get(code, 'Status')}"


class ContentApp:
    def __init__(self, uow: Callable[..., UnitOfWork], store: BlobStore) -> None:
        self.uow = uow
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if environ.get("PATH_INFO") != "/content":
                return _problem(start_response, 404, "not_found", "no such path")
            if method == "PUT":
                return self.upload(environ, start_response)
            if method in ("GET", "HEAD"):
                return self.download(environ, start_response, head=method == "HEAD")
            return _problem(start_response, 405, "method_not_allowed", "PUT, GET or HEAD")
        except DomainError as exc:
            return _problem(start_response, exc.status, exc.code, exc.detail, exc.extra)
        except Exception:
            log.exception("content port failed on %s", method)
            return _problem(start_response, 500, "internal_error",
                            "an unexpected error occurred; it has been logged")

    def _ticket(self, environ: dict[str, Any], op: tickets.Operation) -> tickets.Ticket:
        return tickets.verify(environ.get(TICKET_HEADER, ""), get_settings().jwt_secret, op,
                              time.time())

    def upload(self, environ: dict[str, Any], start_response: StartResponse
               ) -> Iterable[bytes]:
        ticket = self._ticket(environ, "upload")
        declared = environ.get("CONTENT_LENGTH")
        length = int(declared) if declared and declared.isdigit() else None
        limit = ticket.max_bytes or 0
        if length is not None and length > limit:
            return _problem(start_response, 413, "payload_too_large",
                            f"the file is larger than {limit} bytes", {"max_bytes": limit})
        staged = self.store.receive(reads(environ["wsgi.input"].read, length), limit)
        try:
            with self.uow() as uow:
                version = versions.record_upload(uow, self.store, ticket, staged)
                doc = uow.session.get(Document, ticket.document_id)
                assert doc is not None
                out = versions.uploaded_out(doc, version)
        except BaseException:
            self.store.discard(staged)
            raise
        try:
            with self.uow() as uow:
                versions.extract_text(uow, self.store, version.id)
        except Exception:  # the timer extracts what is left pending
            log.exception("text extraction failed; left for the timer")
        # the platform's form of a time (RFC 3339, UTC, ``Z``), as every other answer; json
        # with ``default=str`` wrote ``2026-12-06 01:51:26+00:00`` (S5 found it)
        body = wire.dumps(out)
        start_response(_status(201), [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body))),
                                      ("ETag", f'"{out["document_version"]}"')])
        return [body]

    def download(self, environ: dict[str, Any], start_response: StartResponse, *,
                 head: bool) -> Iterable[bytes]:
        ticket = self._ticket(environ, "download")
        with self.uow(read_only=True) as uow:
            version = versions.version_for_download(uow, ticket)
        size, etag = version.size, f'"{version.sha256}"'
        headers = [("ETag", etag), ("Accept-Ranges", "bytes"),
                   ("Content-Type", version.content_type),
                   ("Content-Disposition", content_disposition(version.filename)),
                   ("Cache-Control", "private, no-cache"),
                   ("X-Content-Type-Options", "nosniff")]
        if environ.get("HTTP_IF_NONE_MATCH") in (etag, "*"):
            start_response(_status(304), headers)
            return []
        wanted = environ.get("HTTP_RANGE")
        if_range = environ.get("HTTP_IF_RANGE")
        if if_range is not None and if_range != etag:
            wanted = None  # the client's copy is of other bytes: send them all
        try:
            byte_range = parse_range(wanted, size)
        except UnsatisfiableRange:
            start_response(_status(416), [("Content-Range", f"bytes */{size}"),
                                          ("Content-Length", "0")])
            return []
        if byte_range is None:
            status, start, end, length = 200, 0, None, size
        else:
            status, start, end = 206, byte_range.start, byte_range.end
            length = byte_range.length
            headers.append(("Content-Range", byte_range.content_range(size)))
        headers.append(("Content-Length", str(length)))
        start_response(_status(status), headers)
        if head or length == 0:
            return []
        return self.store.read(version.sha256, start, end)


def _problem(start_response: StartResponse, status: int, code: str, detail: str,
             extra: dict[str, Any] | None = None) -> list[bytes]:
    body = json.dumps(problem_body(status, code, _REASONS.get(status, "Error"), detail,
                                   None, extra), default=str).encode()
    start_response(_status(status), [("Content-Type", "application/problem+json"),
                                     ("Content-Length", str(len(body)))])
    return [body]


def serve(app: ContentApp, host: str, port: int) -> None:
    sock = eventlet.listen((host, port))
    log.info("content port on %s:%s", host, port)
    # bounded chunks both ways; no access log line per transfer
    wsgi.server(sock, app, log_output=False, minimum_chunk_size=CHUNK, debug=False)
