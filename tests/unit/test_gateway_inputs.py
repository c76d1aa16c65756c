"""What the gateway refuses before any handler runs (a URL with NUL or bytes that are not
UTF-8) and what its identity bodies refuse (nulls for NOT NULL columns, empty or long
ids); what they still let through."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from pydantic import ValidationError

from gateway import schemas
from gateway.middleware import unusable_url


def _scope(raw_path: bytes, query: bytes = b"") -> dict[str, Any]:
    """As uvicorn builds it: ``path`` decoded, bytes that are not UTF-8 replaced."""
    return {"type": "http", "path": unquote(raw_path.decode("ascii")), "raw_path": raw_path,
            "query_string": query}


@pytest.mark.parametrize(("raw_path", "query"), [
    (b"/api/v1/customers", b"q=%00ab"),
    (b"/api/v1/customers", b"limit=5&q=ab%00"),
    (b"/api/v1/customers/%00", b""),
    (b"/api/v1/segments/a%00b/members", b""),
    (b"/api/v1/customers", b"q=%ff"),
    (b"/api/v1/customers", b"q=%C3%28"),
    (b"/api/v1/customers", b"q=%ED%A0%80"),  # an encoded surrogate is not UTF-8
    (b"/api/v1/customers/%ff", b""),
])
def test_nul_or_broken_utf8_in_the_url_is_refused(raw_path: bytes, query: bytes) -> None:
    refused = unusable_url(_scope(raw_path, query))
    assert refused is not None and refused.status == 400 and refused.code == "invalid_url"


@pytest.mark.parametrize(("raw_path", "query"), [
    (b"/api/v1/customers", b""),
    (b"/api/v1/customers", b"q=%E5%BC%A0%E4%B8%89&limit=50"),
    (b"/api/v1/customers", b"q=a+b%25%2B%26"),
    (b"/api/v1/customers/%E5%BC%A0", b""),
    (b"/api/v1/teams/abc%2Fdef", b"x=0"),
])
def test_ordinary_urls_pass(raw_path: bytes, query: bytes) -> None:
    assert unusable_url(_scope(raw_path, query)) is None


def test_a_server_without_raw_path_is_checked_on_the_decoded_path() -> None:
    assert unusable_url({"type": "http", "path": "/a\x00", "query_string": b""}) is not None
    assert unusable_url({"type": "http", "path": "/张三", "query_string": b""}) is None


@pytest.mark.parametrize(("model", "body"), [
    (schemas.TeamUpdate, {"kind": None}),
    (schemas.TeamUpdate, {"name": None}),
    (schemas.TeamUpdate, {"parent_id": ""}),
    (schemas.TeamUpdate, {"manager_id": "  "}),
    (schemas.TeamCreate, {"name": "t", "parent_id": "x" * 37}),
    (schemas.UserUpdate, {"is_new_staff": None}),
    (schemas.UserUpdate, {"display_name": None}),
    (schemas.UserUpdate, {"roles": None}),
    (schemas.UserUpdate, {"roles": ["pope"]}),
    (schemas.UserUpdate, {"password": None}),
    (schemas.UserUpdate, {"team_id": ""}),
    (schemas.UserUpdate, {"email": "a\x00@b.cn"}),
    (schemas.UserDeactivate, {"successor_id": ""}),
    (schemas.ApiKeyCreate, {"name": "k", "user_id": ""}),
])
def test_identity_bodies_refuse_what_cannot_be_stored(model: type[schemas.Strict],
                                                      body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(body)


def test_updates_leave_out_what_is_not_sent_and_clear_what_may_be_cleared() -> None:
    assert schemas.UserUpdate.model_validate({}).model_dump(exclude_unset=True) == {}
    assert schemas.UserUpdate.model_validate(
        {"team_id": None, "email": None, "phone": None, "roles": ["sales_rep", "admin"]}
    ).model_dump(exclude_unset=True) == {"team_id": None, "email": None, "phone": None,
                                         "roles": ["admin", "sales_rep"]}
    assert schemas.TeamUpdate.model_validate(
        {"parent_id": None, "manager_id": None}).model_dump(exclude_unset=True) == \
        {"parent_id": None, "manager_id": None}


def test_the_refused_query_parameter_is_named() -> None:
    refused = unusable_url(_scope(b"/api/v1/customers", b"limit=5&q=ab%00&kind=person"))
    assert refused is not None
    assert refused.detail == "query parameter 'q' contains a NUL character (%00)"
    assert refused.extra["errors"] == [{"field": "q", "location": "query",
                                        "message": "contains a NUL character (%00)"}]
    refused = unusable_url(_scope(b"/api/v1/customers", b"q=%ff&owner+id=%00"))
    assert refused is not None
    assert [e["field"] for e in refused.extra["errors"]] == ["q", "owner id"]


def test_an_upload_is_read_in_utf8_or_in_what_excel_writes_on_chinese_windows() -> None:
    from crm_platform.errors import BadRequest

    from gateway.routetable import decode_upload

    text = "name,kind\n杭州云帆科技有限公司,company\n"
    assert decode_upload(("\ufeff" + text).encode()) == text
    assert decode_upload(text.encode("gbk")) == text
    assert decode_upload(text.encode("gb18030"), "GB18030") == text
    assert decode_upload(text.encode("gbk"), "gbk") == text
    with pytest.raises(BadRequest):
        decode_upload(text.encode("gbk"), "utf-8")
    with pytest.raises(BadRequest):
        decode_upload(text.encode("utf-16"), "utf-16")
    with pytest.raises(BadRequest):
        decode_upload(b"\xff\xfe\x00garbage")
