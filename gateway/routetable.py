"""Declarative routes: one line maps an HTTP operation to a service's RPC method.

    Route("POST", "/customers", "customer", "create_customer", "customer:write",
          body=CustomerCreate, response=Customer, status=201)

The RPC receives path parameters by name, the body as ``data``, the query model as
``query`` and ``If-Match`` as ``expected_version``; the caller (identity + the scope its
roles grant for ``permission``) and the request id travel as nameko context headers.
OpenAPI shows the real request and response models.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from crm_platform.errors import BadRequest, PayloadTooLarge, PreconditionRequired
from fastapi import APIRouter, Depends, File, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from gateway.config import gateway_settings
from gateway.deps import SECURITY, authenticate
from gateway.etag import etag_json, parse_if_match
from gateway.idempotency import call_key, idempotent
from gateway.middleware import take_audit_changes
from gateway.principal import Principal

PATH_PARAM = re.compile(r"{(\w+)}")
PORTAL_PREFIX = "/portal/"


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    service: str
    rpc: str
    permission: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    # True: ``If-Match`` is passed on when sent; "required": refused with 428 without it
    if_match: bool | Literal["required"] = False
    # reads confidential data (an archive, contacts, credit, payments, statements): every
    # call is audited, denied ones too; OpenAPI marks it ``x-confidential``
    confidential: bool = False
    upload: bool = False  # multipart file field ``file`` → ``data`` = {"filename", "content"}
    upload_doc: str | None = None  # what the uploaded file holds (OpenAPI)
    csv_response: str | None = None  # RPC returns {"filename", "content"} → text/csv
    timeout: float | None = None
    # no token: the request is signed by its sender (a webhook, a provider's receipt, an
    # unsubscribe link), and the service checks that; the RPC gets ``data`` =
    # {"body": the raw body as text, "headers", "query"}
    public: bool = False
    summary: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)

    @property
    def portal(self) -> bool:
        """One of the customer's self-service portal's operations (SVC-07): the only
        operations a portal account reaches."""
        return self.path.startswith(PORTAL_PREFIX)

    @property
    def forwards_page(self) -> bool:
        """A read returning a page (``items`` + ``next_cursor``)."""
        fields = getattr(self.response, "model_fields", {})
        return self.method == "GET" and "items" in fields and "next_cursor" in fields


def _endpoint(route: Route) -> Any:
    forwards_page = route.forwards_page  # decided once, not per request

    async def authorize(request: Request) -> Principal:
        principal: Principal = await authenticate(request, portal=route.portal)
        if route.confidential:  # before the permission check: denied attempts are audited too
            request.state.confidential = True
        principal.require(route.permission)
        return principal

    async def endpoint(request: Request, **kwargs: Any) -> Response:
        if route.public:
            return await _public(route, request, kwargs)
        principal: Principal = kwargs.pop("principal", None) or await authorize(request)
        rt = request.app.state.runtime
        caller_header = principal.caller_header(route.permission)
        rpc_kwargs: dict[str, Any] = {
            name: kwargs.pop(name) for name in PATH_PARAM.findall(route.path)
        }
        body = kwargs.pop("body", None)
        if body is not None:
            rpc_kwargs["data"] = body.model_dump(mode="json", exclude_unset=True)
        elif route.body is not None:
            rpc_kwargs["data"] = {}
        if route.query is not None:
            rpc_kwargs["query"] = _query(route.query, request).model_dump(
                mode="json", exclude_none=True)
        upload: UploadFile | None = kwargs.pop("file", None)
        if upload is not None:
            rpc_kwargs["data"] = await _read_upload(upload)
        if route.if_match:
            if_match = kwargs.pop("if_match", None)
            if if_match is None and route.if_match == "required":
                raise PreconditionRequired(
                    "this operation needs If-Match with the version you read (its ETag)")
            rpc_kwargs["expected_version"] = parse_if_match(if_match)
        context = {
            "caller": caller_header,
            "correlation_id": request.state.request_id,
        }
        idem_key = request.headers.get("Idempotency-Key")
        if idem_key and route.method == "POST":
            context["idempotency_key"] = await call_key(request, principal, idem_key)

        async def call() -> Any:
            return take_audit_changes(request, await rt.call(
                route.service, route.rpc, rpc_kwargs, context, route.timeout))

        if route.csv_response:
            result = await call()
            return Response(
                result["content"], media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition":
                         f'attachment; filename="{result.get("filename", route.csv_response)}"'},
            )
        if route.method == "POST":
            return await idempotent(request, principal, route.status, call)
        if forwards_page:
            # a page has no ETag and nothing the gateway reads: forward the service's
            # JSON unparsed (decoding and re-encoding 50 records was a tenth of the
            # gateway's CPU per page)
            page = await rt.call(route.service, route.rpc, rpc_kwargs, context, route.timeout,
                                 raw=True)
            if isinstance(page, bytes):
                return Response(page, status_code=route.status, media_type="application/json")
            return etag_json(page, route.status)
        result = await call()
        if isinstance(result, dict) and isinstance(result.get("id"), str):
            request.state.resource_id = result["id"]
        return etag_json(result, route.status)

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
    ]
    for name in PATH_PARAM.findall(route.path):
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str))
    if (route.body is not None or route.upload) and not route.public:
        # as a dependency, the token and the permission are checked before the body is
        # validated: a caller who may not use the operation gets 401/403, never a 422
        # that describes the body it expects (and the matrix test can send any body)
        params.append(inspect.Parameter("principal", inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Principal, default=Depends(authorize)))
    if route.body is not None:
        # a body whose every field is optional may be left out (``POST …/convert``)
        optional = not any(f.is_required() for f in route.body.model_fields.values())
        params.append(inspect.Parameter(
            "body", inspect.Parameter.KEYWORD_ONLY, annotation=route.body,
            default=None if optional else inspect.Parameter.empty))
    if route.upload:
        params.append(inspect.Parameter("file", inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[UploadFile, File(
                                            description=route.upload_doc)]))
    if route.if_match:
        # optional to FastAPI even when required, so that its absence is our 428 and
        # not a validation 422
        required = route.if_match == "required"
        params.append(inspect.Parameter(
            "if_match", inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[str | None, Header(
                description="the version (ETag) you read; a stale one gets 412"
                + ("; required (428 without it)" if required else ""))]))
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = route.rpc
    return endpoint


# headers a public operation's service may need (signatures, content type); never the
# caller's credentials
PUBLIC_HEADERS = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature",
                  "list-unsubscribe")


async def _public(route: Route, request: Request, kwargs: dict[str, Any]) -> Response:
    raw = await request.body()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the body must be UTF-8 text", code="invalid_encoding") from exc
    rpc_kwargs: dict[str, Any] = {name: kwargs.pop(name)
                                  for name in PATH_PARAM.findall(route.path)}
    rpc_kwargs["data"] = {
        "body": body,
        "headers": {k: v for k, v in request.headers.items() if k in PUBLIC_HEADERS},
        "query": dict(request.query_params),
    }
    context = {"correlation_id": request.state.request_id}
    result = await request.app.state.runtime.call(route.service, route.rpc, rpc_kwargs,
                                                  context, route.timeout)
    return etag_json(result, route.status)


def _query(model: type[BaseModel], request: Request) -> BaseModel:
    """The query string as ``model``; a bad value is the same 422 FastAPI gives.

    Validated here rather than declared to FastAPI as a query model: FastAPI looked at
    every field's annotation on every request (~95 µs for the customer list's 18 fields,
    a tenth of the gateway's CPU per search); one ``model_validate`` takes ~2 µs. The
    models' fields are scalars, so the last value of a repeated parameter counts, as in
    FastAPI. OpenAPI lists them as before (``_query_parameters``)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]) from None


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a query model's fields."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        parameter = {"name": name, "in": "query", "required": name in required,
                     "schema": field_schema}
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        parameters.append(parameter)
    return parameters


# What an uploaded text file may be written in: UTF-8, and what Excel and WPS write on a
# Chinese Windows ("CSV" there is GBK; GB18030 contains GBK and GB 2312, so one decoder
# reads all three).
UPLOAD_CHARSETS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gb18030": "gb18030",
                   "gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030"}
UPLOAD_ENCODINGS_DOC = ("UTF-8 (with or without a byte order mark) or GBK / GB18030, "
                        "as Excel writes CSV on Chinese Windows; a `charset` on the file's "
                        "content type is followed")


def decode_upload(raw: bytes, declared: str | None = None) -> str:
    """The text of an uploaded file: in the charset its part declares, if one of
    :data:`UPLOAD_CHARSETS`; otherwise UTF-8, or GB18030 when it is not UTF-8 (GBK text is
    almost never valid UTF-8, so the guess does not misread UTF-8 files)."""
    if declared is None:
        names = ["utf-8-sig", "gb18030"]
    elif declared.lower() in UPLOAD_CHARSETS:
        names = [UPLOAD_CHARSETS[declared.lower()]]
    else:
        raise BadRequest(f"files in {declared} are not read: use {UPLOAD_ENCODINGS_DOC}",
                         code="invalid_encoding")
    for name in names:
        try:
            return raw.decode(name)
        except UnicodeDecodeError:
            continue
    raise BadRequest(f"the file is not text in {UPLOAD_ENCODINGS_DOC}",
                     code="invalid_encoding")


async def _read_upload(upload: UploadFile) -> dict[str, Any]:
    limit = gateway_settings().max_upload_bytes
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the upload is larger than {limit} bytes")
    declared = _charset(upload.content_type)
    return {"filename": upload.filename or "upload", "content": decode_upload(raw, declared)}


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def build_router(routes: Sequence[Route]) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for route in routes:
        doc = (route.summary or "") + f"\n\nRequires `{route.permission}`; RPC " \
            f"`{route.service}.{route.rpc}`."
        responses: dict[int | str, dict[str, Any]] = {}
        if route.csv_response:
            responses[200] = {"content": {"text/csv": {}}}
        if route.public:
            doc = (route.summary or "") + f"\n\nNo token: signed by its sender; RPC " \
                f"`{route.service}.{route.rpc}`."
        router.add_api_route(
            route.path, _endpoint(route), methods=[route.method],
            response_model=None if route.csv_response else route.response,
            status_code=route.status, operation_id=route.rpc,
            tags=list(route.tags or [route.service]), summary=route.summary,
            description=doc.strip(), response_class=JSONResponse, responses=responses,
            openapi_extra={"security": [] if route.public else SECURITY,
                           **({"x-portal": True} if route.portal else {}),
                           **({"x-confidential": True} if route.confidential else {}),
                           **({"parameters": _query_parameters(route.query)}
                              if route.query else {})},
        )
    return router
