"""CSV import as a user on Chinese Windows makes it (issue #28): a GBK file from Excel is
read, the columns are documented in the OpenAPI, and the summary says that the valid
rows were kept while others were left out."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.sales_support import _ok
from tests.support.platform import Platform


def _file(rows: list[str]) -> str:
    return "\r\n".join(["name,kind,phones,province,备注", *rows]) + "\r\n"


def test_a_gbk_file_is_imported_and_the_summary_says_what_was_kept(
        platform: Platform, org: dict[str, Any]) -> None:
    tag = uuid.uuid4().hex[:6]
    content = _file([f"广州白云{tag}贸易有限公司,company,13922223333,广东,老客户",
                     f"坏号码{tag},person,not-a-phone,广东,"])
    manager = org["manager"]
    with platform.client(manager["token"]) as c:
        r = c.post("/api/v1/customers/import",
                   files={"file": ("客户.csv", content.encode("gbk"), "text/csv")})
        result = _ok(r)
        assert (result["created"], result["invalid"]) == (1, 1)
        assert result["outcome"] == "valid_rows_created"
        assert "1 of 2 rows were imported and are kept" in result["summary"]
        assert result["ignored_columns"] == ["备注"]
        made = _ok(c.get(f"/api/v1/customers/{result['rows'][0]['customer_id']}"))
        assert made["name"] == f"广州白云{tag}贸易有限公司"
        assert made["region"]["province"] == "广东"

        declared = c.post("/api/v1/customers/import", files={"file": (
            "c.csv", _file([f"深圳南山{tag}科技有限公司,company,,广东,"]).encode("gb18030"),
            "text/csv; charset=GB18030")})
        assert _ok(declared)["outcome"] == "all_created"
        wrong = c.post("/api/v1/customers/import", files={"file": (
            "c.csv", content.encode("gbk"), "text/csv; charset=utf-8")})
        assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_encoding"


def test_the_import_documents_its_columns(platform: Platform) -> None:
    with platform.client() as c:
        spec = _ok(c.get("/openapi.json"))
    body = spec["paths"]["/api/v1/customers/import"]["post"]["requestBody"]
    ref = body["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    doc = spec["components"]["schemas"][ref]["properties"]["file"]["description"]
    for column in ("`name`", "`kind`", "`phones`", "`emails`", "`tax_id`", "`province`",
                   "`tags`"):
        assert column in doc
    assert "GBK" in doc
    result = spec["components"]["schemas"]["ImportResult"]["properties"]
    assert "valid_rows_created" in result["outcome"]["enum"]


def test_line_endings_and_broken_csv(platform: Platform, org: dict[str, Any]) -> None:
    """Lines ending in CR alone (old Mac files) are lines; a file the csv module cannot
    read is a 422 `invalid_csv` (a stray CR in a field was a 502, found by S5)."""
    tag = uuid.uuid4().hex[:6]
    with platform.client(org["manager"]["token"]) as c:
        mac = "name,kind\r" + f"苹果换行{tag}甲公司,company\r苹果换行{tag}乙公司,company\r"
        result = _ok(c.post("/api/v1/customers/import",
                            files={"file": ("mac.csv", mac.encode(), "text/csv")}))
        assert (result["created"], result["outcome"]) == (2, "all_created"), result
        stray = "\r\U00052c13W\x1d\n"  # what schemathesis sent
        r = c.post("/api/v1/customers/import",
                   files={"file": ("x.csv", stray.encode(), "text/csv")})
        assert r.status_code == 422 and r.json()["code"] == "invalid_csv", r.text
        huge_field = 'name\n"' + "长" * 200_000 + '"\n'  # past the csv module's field limit
        r = c.post("/api/v1/customers/import",
                   files={"file": ("big.csv", huge_field.encode(), "text/csv")})
        assert r.status_code == 422 and r.json()["code"] == "invalid_csv", r.text
