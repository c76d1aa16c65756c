"""Documents through the gateway (issue 22: DOC-01 … DOC-07): versions streamed in and
out, levels and grants, borrowing with expiry, retention and destruction, search, links
and the customer 360 section."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.infra import wait_until
from tests.support.platform import Platform

API = "/api/v1"


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def _docs_knows(platform: Platform, user: dict[str, Any]) -> None:
    """Wait until the docs service's staff copy has the user (their name shows)."""
    def known() -> bool:
        with platform.client(user["token"]) as c:
            r = c.post(f"{API}/documents", json={"title": "probe", "category": "work_summary"})
            return r.status_code == 201 and r.json()["owner_name"] == user["display_name"]
    wait_until(known, 30, "staff copy in the docs service")


@pytest.fixture(scope="module")
def people(platform: Platform) -> dict[str, Any]:
    with platform.admin() as admin:
        team = _ok(admin.post(f"{API}/teams", json={"name": f"档案-{uuid.uuid4().hex[:4]}"}),
                   201)
    found = {
        "owner": platform.new_user(["sales_rep"], team_id=team["id"], display_name="李合同"),
        "other": platform.new_user(["sales_rep"], display_name="周借阅"),
        "named": platform.new_user(["sales_rep"], display_name="吴具名"),
        "archivist": platform.new_user(["archivist"], display_name="档案甲"),
        "archivist2": platform.new_user(["archivist"], display_name="档案乙"),
    }
    for user in found.values():
        _docs_knows(platform, user)
    return found


def _doc(c: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"title": "框架合同", "category": "contract", **fields}
    return _ok(c.post(f"{API}/documents", json=body), 201)


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _upload(c: httpx.Client, doc_id: str, data: bytes, filename: str,
            version: int | None, *, streamed: bool = True) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return c.post(f"{API}/documents/{doc_id}/versions", params={"filename": filename},
                  content=_chunks(data) if streamed else data, headers=headers)


def test_versions_upload_effective_stale_and_download(platform: Platform,
                                                      people: dict[str, Any]) -> None:
    first = os.urandom(300_000)
    second = b"%PDF-1.4\n" + os.urandom(200_000)
    with platform.client(people["owner"]["token"]) as c:
        doc = _doc(c, tags=["华东", "2026"], metadata={"合同编号": "HT-2026-001"})
        v1 = _ok(_upload(c, doc["id"], first, "合同 第一版.bin", doc["version"]), 201)
        assert (v1["number"], v1["status"]) == (1, "draft")
        assert v1["sha256"] == hashlib.sha256(first).hexdigest() and v1["size"] == len(first)
        v2 = _ok(_upload(c, doc["id"], second, "合同.pdf", v1["document_version"],
                         streamed=False), 201)
        assert v2["number"] == 2 and v2["content_type"] == "application/pdf"
        # another upload still based on what was current before v2: refused, not stored
        stale = _upload(c, doc["id"], b"overwrite", "合同.pdf", v1["document_version"])
        assert stale.status_code == 412 and stale.json()["code"] == "stale_version"
        versions = _ok(c.get(f"{API}/documents/{doc['id']}/versions"))["items"]
        assert [v["number"] for v in versions] == [1, 2]

        current = _ok(c.get(f"{API}/documents/{doc['id']}"))["version"]
        made = c.post(f"{API}/documents/{doc['id']}/versions/1/effective",
                      headers={"If-Match": f'"{current}"'})
        assert _ok(made)["status"] == "effective"
        _ok(c.post(f"{API}/documents/{doc['id']}/versions/2/effective"))
        statuses = {v["number"]: v["status"]
                    for v in _ok(c.get(f"{API}/documents/{doc['id']}/versions"))["items"]}
        assert statuses == {1: "obsolete", 2: "effective"}
        again = c.post(f"{API}/documents/{doc['id']}/versions/1/effective")
        assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
        assert _ok(c.get(f"{API}/documents/{doc['id']}"))["effective_version"] == 2

        got = c.get(f"{API}/documents/{doc['id']}/versions/2/content")
        assert got.status_code == 200 and got.content == second
        assert got.headers["etag"] == f'"{v2["sha256"]}"'
        assert got.headers["accept-ranges"] == "bytes"
        disposition = got.headers["content-disposition"]
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == "合同.pdf"
        assert 'filename="__.pdf"' in disposition  # the ASCII stand-in
        part = c.get(f"{API}/documents/{doc['id']}/versions/1/content",
                     headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == first[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(first)}"
        tail = c.get(f"{API}/documents/{doc['id']}/versions/1/content",
                     headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == first[-10:]
        past = c.get(f"{API}/documents/{doc['id']}/versions/1/content",
                     headers={"Range": f"bytes={len(first)}-"})
        assert past.status_code == 416
        cached = c.get(f"{API}/documents/{doc['id']}/versions/2/content",
                       headers={"If-None-Match": got.headers["etag"]})
        assert cached.status_code == 304 and cached.content == b""

    with platform.client(people["archivist"]["token"]) as c:
        log = _ok(c.get(f"{API}/documents/{doc['id']}/access-log"))["items"]
        actions = [(e["action"], e["version_number"]) for e in log]
        assert ("download", 2) in actions and ("download", 1) in actions
        assert ("view", None) in actions
        assert {e["user_id"] for e in log} == {people["owner"]["id"]}


def _declare_only(platform: Platform, token: str, path: str, length: int
                  ) -> tuple[int, dict[str, Any]]:
    """POST headers announcing ``length`` bytes and no body: what a client about to send
    a file too large gets before sending it."""
    url = httpx.URL(platform.base_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_upload_refusals(platform: Platform, people: dict[str, Any]) -> None:
    with platform.client(people["owner"]["token"]) as c:
        doc = _doc(c)
        nameless = c.post(f"{API}/documents/{doc['id']}/versions", content=b"x")
        assert nameless.status_code == 422 and nameless.json()["code"] == "filename_required"
        missing = _upload(c, str(uuid.uuid4()), b"x", "a.txt", None)
        assert missing.status_code == 404
        by_header = c.post(f"{API}/documents/{doc['id']}/versions", content=b"hello",
                           headers={"Content-Disposition":
                                    "attachment; filename*=UTF-8''%E6%8A%A5%E4%BB%B7.txt"})
        assert _ok(by_header, 201)["filename"] == "报价.txt"
        # past the size limit (2 GiB by default): refused before a byte is stored
        status, body = _declare_only(platform, people["owner"]["token"],
                                     f"{API}/documents/{doc['id']}/versions?filename=x",
                                     3 * 1024 ** 3)
        assert status == 413 and body["code"] == "payload_too_large"
    with platform.client(people["other"]["token"]) as c:  # internal: readable, not theirs
        assert c.get(f"{API}/documents/{doc['id']}").status_code == 200
        refused = _upload(c, doc["id"], b"x", "a.txt", None)
        assert refused.status_code == 403


def _customer(platform: Platform, token: str, name: str) -> dict[str, Any]:
    with platform.client(token) as c:
        return _ok(c.post(f"{API}/customers", json={"name": name, "kind": "company"}), 201)


def _linkable(c: httpx.Client, customer_id: str) -> None:
    def copied() -> bool:
        r = c.post(f"{API}/documents", json={"title": "probe", "category": "work_summary",
                                             "links": {"customer_ids": [customer_id]}})
        return r.status_code == 201
    wait_until(copied, 30, "customer copy in the docs service")


def test_secret_document_is_absent_for_an_admin_not_named(platform: Platform,
                                                           people: dict[str, Any]) -> None:
    owner, named = people["owner"], people["named"]
    customer = _customer(platform, owner["token"], f"机密客户{uuid.uuid4().hex[:6]}")
    word = f"绝密{uuid.uuid4().hex[:6]}"
    with platform.client(owner["token"]) as c:
        _linkable(c, customer["id"])
        secret = _doc(c, title=f"{word} 收购方案", level="secret",
                      links={"customer_ids": [customer["id"]]})
        _doc(c, title=f"{word} 公开资料", level="public",
             links={"customer_ids": [customer["id"]]})
        role_grant = c.post(f"{API}/documents/{secret['id']}/grants",
                            json={"kind": "role", "grantee_id": "admin"})
        assert role_grant.status_code == 422
        assert role_grant.json()["code"] == "secret_needs_named_grant"
        naive = c.post(f"{API}/documents/{secret['id']}/grants",
                       json={"kind": "user", "grantee_id": named["id"],
                             "expires_at": "2030-01-01T00:00:00"})
        assert naive.status_code == 422  # a time without its offset is ambiguous
        mine = _ok(c.get(f"{API}/documents", params={"q": word}))["items"]
        assert {d["level"] for d in mine} == {"secret", "public"}

    def absent_for(client: httpx.Client) -> None:
        found = _ok(client.get(f"{API}/documents", params={"q": word}))["items"]
        assert [d["level"] for d in found] == ["public"]
        listed = _ok(client.get(f"{API}/documents",
                                params={"customer_id": customer["id"], "limit": 500}))
        assert secret["id"] not in {d["id"] for d in listed["items"]}
        counted = _ok(client.get(f"{API}/documents/count", params={"q": word}))
        assert counted["count"] == 1
        assert client.get(f"{API}/documents/{secret['id']}").status_code == 404
        assert client.get(f"{API}/documents/{secret['id']}/versions").status_code == 404
        assert client.get(
            f"{API}/documents/{secret['id']}/versions/1/content").status_code == 404
        view = _ok(client.get(f"{API}/customers/{customer['id']}/360"))
        section = view["sections"]["documents"]
        assert section["status"] == "ok", section
        assert secret["id"] not in {d["id"] for d in section["data"]["items"]}
        # the public one and the probe that waited for the customer copy
        assert section["data"]["count"] == len(section["data"]["items"]) == 2

    with platform.admin() as admin:
        absent_for(admin)
        # the admin manages the grants without being able to read the document
        grant = _ok(admin.post(f"{API}/documents/{secret['id']}/grants",
                               json={"kind": "user", "grantee_id": named["id"]}), 201)
        assert _ok(admin.get(f"{API}/documents/{secret['id']}/grants"))["items"][0]["id"] \
            == grant["id"]
        absent_for(admin)
    with platform.client(people["archivist"]["token"]) as archivist:
        absent_for(archivist)
    with platform.client(named["token"]) as c:
        assert _ok(c.get(f"{API}/documents/{secret['id']}"))["level"] == "secret"
        assert _ok(c.get(f"{API}/documents/count", params={"q": word}))["count"] == 2
    with platform.client(owner["token"]) as c:
        view = _ok(c.get(f"{API}/customers/{customer['id']}/360"))
        assert view["sections"]["documents"]["data"]["count"] == 3  # + the probe


def _set_clock(platform: Platform, seconds: int) -> None:
    with platform.admin() as admin:
        assert _ok(admin.put(f"{API}/document-clock",
                             json={"offset_seconds": seconds}))["offset_seconds"] == seconds


def test_borrowing_works_until_it_expires(platform: Platform, people: dict[str, Any]) -> None:
    owner, borrower = people["owner"], people["other"]
    with platform.client(owner["token"]) as c:
        doc = _doc(c, title="投标文件（保密）", category="tender", level="confidential")
        _ok(_upload(c, doc["id"], "技术方案全文".encode(), "标书.txt", None), 201)
    with platform.client(borrower["token"]) as c:
        assert c.get(f"{API}/documents/{doc['id']}").status_code == 404
        asked = _ok(c.post(f"{API}/documents/{doc['id']}/access-requests",
                           json={"reason": "准备同类项目投标", "days": 1}), 201)
        assert asked["status"] == "pending"
        own = c.post(f"{API}/access-requests/{asked['id']}/approve", json={})
        assert own.status_code == 404  # not the borrower's to decide
    try:
        with platform.client(owner["token"]) as c:
            approved = _ok(c.post(f"{API}/access-requests/{asked['id']}/approve",
                                  json={"comment": "同意"}))
            assert approved["status"] == "approved" and approved["expires_at"]
        with platform.client(borrower["token"]) as c:
            assert _ok(c.get(f"{API}/documents/{doc['id']}"))["id"] == doc["id"]
            got = c.get(f"{API}/documents/{doc['id']}/versions/1/content")
            assert got.content == "技术方案全文".encode()
            listed = _ok(c.get(f"{API}/documents", params={"category": "tender",
                                                           "limit": 500}))["items"]
            assert doc["id"] in {d["id"] for d in listed}
        _set_clock(platform, 86400 - 120)  # a minute before the end: still lent
        with platform.client(borrower["token"]) as c:
            assert c.get(f"{API}/documents/{doc['id']}").status_code == 200
        _set_clock(platform, 86400 + 60)  # the day is over
        with platform.client(borrower["token"]) as c:
            assert c.get(f"{API}/documents/{doc['id']}").status_code == 404
            assert c.get(
                f"{API}/documents/{doc['id']}/versions/1/content").status_code == 404
            listed = _ok(c.get(f"{API}/documents", params={"category": "tender",
                                                           "limit": 500}))["items"]
            assert doc["id"] not in {d["id"] for d in listed}
    finally:
        _set_clock(platform, 0)
    with platform.client(people["archivist"]["token"]) as c:
        log = _ok(c.get(f"{API}/documents/{doc['id']}/access-log"))["items"]
        assert {(e["user_id"], e["action"]) for e in log} >= {
            (borrower["id"], "view"), (borrower["id"], "download")}


def _blob_path(platform: Platform, sha256: str) -> Path:
    root = Path(platform.env["CRM_DOCS_STORAGE_DIR"])
    return root / "objects" / sha256[:2] / sha256[2:4] / sha256


def test_destruction_needs_two_archive_managers_and_no_legal_hold(
        platform: Platform, people: dict[str, Any]) -> None:
    a, b = people["archivist"], people["archivist2"]
    data = os.urandom(50_000)
    with platform.client(people["owner"]["token"]) as c:
        doc = _doc(c, title="过期报价单", category="quote")
        v1 = _ok(_upload(c, doc["id"], data, "报价.bin", None), 201)
    blob = _blob_path(platform, v1["sha256"])
    assert blob.exists()
    with platform.client(a["token"]) as ca, platform.client(b["token"]) as cb:
        held = _ok(ca.post(f"{API}/documents/{doc['id']}/legal-hold",
                           json={"reason": "诉讼保全"}))
        assert held["legal_hold"] is True
        refused = ca.post(f"{API}/documents/{doc['id']}/destruction-requests",
                          json={"reason": "保管期满"})
        assert refused.status_code == 409 and refused.json()["code"] == "legal_hold"
        _ok(ca.delete(f"{API}/documents/{doc['id']}/legal-hold"))
        asked = _ok(ca.post(f"{API}/documents/{doc['id']}/destruction-requests",
                            json={"reason": "保管期满"}), 201)
        same = ca.post(f"{API}/destruction-requests/{asked['id']}/approve", json={})
        assert same.status_code == 403 and same.json()["code"] == "same_approver"
        # a hold placed after the request blocks its approval too
        _ok(cb.post(f"{API}/documents/{doc['id']}/legal-hold", json={"reason": "审计"}))
        blocked = cb.post(f"{API}/destruction-requests/{asked['id']}/approve", json={})
        assert blocked.status_code == 409 and blocked.json()["code"] == "legal_hold"
        _ok(cb.delete(f"{API}/documents/{doc['id']}/legal-hold"))
        done = _ok(cb.post(f"{API}/destruction-requests/{asked['id']}/approve", json={}))
        assert done["status"] == "approved"
        assert not blob.exists()
        assert cb.get(f"{API}/documents/{doc['id']}").status_code == 404
        records = _ok(cb.get(f"{API}/destruction-records", params={"limit": 500}))["items"]
        record = next(r for r in records if r["document_id"] == doc["id"])
        assert record["title"] == "过期报价单" and record["category"] == "quote"
        assert (record["requested_by"], record["approved_by"]) == (a["id"], b["id"])
        assert record["versions"][0]["sha256"] == v1["sha256"]
    with platform.client(people["owner"]["token"]) as c:
        assert c.get(f"{API}/documents/{doc['id']}/versions/1/content").status_code == 404
    engine = create_engine(platform.db_urls["docs"])
    try:
        with engine.connect() as conn, pytest.raises(Exception, match="cannot be changed"):
            conn.execute(text("UPDATE destruction_records SET title = 'x' "
                              "WHERE document_id = :d"), {"d": doc["id"]})
        with engine.connect() as conn, pytest.raises(Exception, match="cannot be changed"):
            conn.execute(text("DELETE FROM destruction_records WHERE document_id = :d"),
                         {"d": doc["id"]})
    finally:
        engine.dispose()


def test_retention_due_lists_documents_past_their_category_period(
        platform: Platform, people: dict[str, Any]) -> None:
    with platform.admin() as admin:
        code = f"memo_{uuid.uuid4().hex[:6]}"
        made = _ok(admin.post(f"{API}/document-categories",
                              json={"code": code, "name": "会议纪要", "retention_years": 3}), 201)
        stale = admin.patch(f"{API}/document-categories/{code}", json={"retention_years": 2},
                            headers={"If-Match": '"7"'})
        assert stale.status_code == 412
        _ok(admin.patch(f"{API}/document-categories/{code}", json={"retention_years": 2},
                        headers={"If-Match": f'"{made["version"]}"'}))
    with platform.client(people["owner"]["token"]) as c:
        doc = _doc(c, title="季度会议纪要", category=code)
    start = doc["retention_start"]
    due_year = int(start[:4]) + 2
    assert doc["retention_due"] == f"{due_year}{start[4:]}"
    with platform.client(people["archivist"]["token"]) as c:
        before = _ok(c.get(f"{API}/retention/due",
                           params={"as_of": f"{due_year - 1}{start[4:]}", "limit": 500}))
        assert doc["id"] not in {d["id"] for d in before["items"]}
        due = _ok(c.get(f"{API}/retention/due",
                        params={"as_of": f"{due_year}{start[4:]}", "limit": 500}))
        assert doc["id"] in {d["id"] for d in due["items"]}
    with platform.client(people["owner"]["token"]) as c:
        assert c.get(f"{API}/retention/due", params={"as_of": start}).status_code == 403


def _docx(text_value: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text_value)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf(text_value: str) -> bytes:
    """A one-page PDF with a line of ASCII text in Helvetica (built by hand)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text_value}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def test_search_reads_titles_tags_metadata_and_file_text(platform: Platform,
                                                         people: dict[str, Any]) -> None:
    marker = uuid.uuid4().hex[:8]
    with platform.client(people["owner"]["token"]) as c:
        word_doc = _doc(c, title="产品白皮书", category="product_material")
        _ok(_upload(c, word_doc["id"], _docx(f"本产品支持私有化部署 {marker}甲"),
                    "白皮书.docx", None), 201)
        pdf_doc = _doc(c, title="Datasheet", category="product_material")
        pdf = _ok(_upload(c, pdf_doc["id"], _pdf(f"Throughput {marker}beta"), "sheet.pdf",
                          None), 201)
        assert pdf["content_type"] == "application/pdf"
        text_doc = _doc(c, title="服务总结", category="work_summary", tags=[f"t{marker}"],
                        metadata={"项目": f"智慧园区{marker}"})
        _ok(_upload(c, text_doc["id"], f"现场更换了主板，客户满意。{marker}".encode(),
                    "总结.txt", None), 201)

        def found(q: str) -> set[str]:
            return {d["id"] for d in _ok(c.get(f"{API}/documents", params={"q": q}))["items"]}

        assert found(f"私有化部署 {marker}甲") == {word_doc["id"]}
        assert found(f"{marker}BETA") == {pdf_doc["id"]}  # case folded
        assert found(f"主板 {marker}") == {text_doc["id"]}
        assert found(f"智慧园区{marker}") == {text_doc["id"]}
        by_tag = _ok(c.get(f"{API}/documents", params={"tag": f"t{marker}"}))["items"]
        assert [d["id"] for d in by_tag] == [text_doc["id"]]
        assert found(f"{marker}") == {word_doc["id"], pdf_doc["id"], text_doc["id"]}


def test_links_are_checked_and_follow_a_customer_merge(platform: Platform,
                                                       people: dict[str, Any]) -> None:
    owner = people["owner"]
    survivor = _customer(platform, owner["token"], f"存续公司{uuid.uuid4().hex[:6]}")
    merged = _customer(platform, owner["token"], f"被并公司{uuid.uuid4().hex[:6]}")
    with platform.client(owner["token"]) as c:
        unknown = c.post(f"{API}/documents", json={
            "title": "x", "category": "contract",
            "links": {"customer_ids": [str(uuid.uuid4())]}})
        assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_link"
        _linkable(c, merged["id"])
        doc = _doc(c, title="被并公司档案", category="customer_archive",
                   links={"customer_ids": [merged["id"]]})
    with platform.admin() as admin:
        _ok(admin.post(f"{API}/customers/merge",
                       json={"survivor_id": survivor["id"], "merged_id": merged["id"]}))
        line = _ok(admin.post(f"{API}/product-lines",
                              json={"name": f"线{uuid.uuid4().hex[:6]}"}), 201)
        product = _ok(admin.post(f"{API}/products", json={
            "code": f"P-{uuid.uuid4().hex[:6]}", "name": "智能网关", "unit": "台",
            "line_id": line["id"], "currency": "CNY", "list_price": "100.00",
            "tax_rate": "0.13"}), 201)

    def moved() -> bool:
        with platform.client(owner["token"]) as c:
            items = _ok(c.get(f"{API}/documents",
                              params={"customer_id": survivor["id"]}))["items"]
            return doc["id"] in {d["id"] for d in items}
    wait_until(moved, 30, "document links moved to the survivor")
    with platform.client(owner["token"]) as c:
        assert _ok(c.get(f"{API}/documents/{doc['id']}"))["links"]["customer_ids"] == [
            survivor["id"]]

        def product_linkable() -> bool:
            r = c.post(f"{API}/documents", json={
                "title": "智能网关彩页", "category": "product_material",
                "links": {"product_ids": [product["id"]]}})
            return r.status_code == 201
        wait_until(product_linkable, 30, "product copy in the docs service")
        items = _ok(c.get(f"{API}/documents", params={"product_id": product["id"]}))["items"]
        assert [d["title"] for d in items] == ["智能网关彩页"]


def test_events_of_a_documents_life(platform: Platform, people: dict[str, Any]) -> None:
    """document.created → version_added → version_effective → access_requested →
    access_granted → destroyed, each once for the document, read through the contract's
    models by a plain AMQP consumer bound to ``docs.events``."""
    from kombu import Connection, Exchange, Queue

    from services.docs import events

    exchange = Exchange("docs.events", type="topic", durable=True)
    queue = Queue(f"test-docs-{uuid.uuid4().hex[:8]}", exchange, routing_key="document.#",
                  auto_delete=True)
    with Connection(platform.amqp_uri) as conn:
        consumer = conn.SimpleQueue(queue)
        try:
            with platform.client(people["owner"]["token"]) as c:
                doc = _doc(c, title="事件合同", level="confidential")
                _ok(_upload(c, doc["id"], b"body", "a.txt", None), 201)
                _ok(c.post(f"{API}/documents/{doc['id']}/versions/1/effective"))
            with platform.client(people["other"]["token"]) as c:
                asked = _ok(c.post(f"{API}/documents/{doc['id']}/access-requests",
                                   json={"reason": "复核", "days": 3}), 201)
            with platform.client(people["owner"]["token"]) as c:
                _ok(c.post(f"{API}/access-requests/{asked['id']}/approve", json={}))
            with platform.client(people["archivist"]["token"]) as c:
                request = _ok(c.post(f"{API}/documents/{doc['id']}/destruction-requests",
                                     json={"reason": "测试"}), 201)
            with platform.client(people["archivist2"]["token"]) as c:
                _ok(c.post(f"{API}/destruction-requests/{request['id']}/approve", json={}))
            seen: dict[str, dict[str, Any]] = {}

            def all_seen() -> bool:
                message = consumer.get(timeout=1)
                message.ack()
                body = message.payload
                if body["data"].get("id") == doc["id"]:
                    assert body["type"] not in seen, f"{body['type']} twice"
                    seen[body["type"]] = body["data"]
                return len(seen) == 6
            wait_until(all_seen, 60, "the document's six events", interval=0)
        finally:
            consumer.close()
    assert events.DocumentVersionAdded.model_validate(
        seen["document.version_added"]).sha256 == hashlib.sha256(b"body").hexdigest()
    granted = events.DocumentAccessGranted.model_validate(seen["document.access_granted"])
    assert granted.requester_id == people["other"]["id"]
    destroyed = events.DocumentDestroyed.model_validate(seen["document.destroyed"])
    assert (destroyed.requested_by, destroyed.approved_by) == (
        people["archivist"]["id"], people["archivist2"]["id"])
    assert "title" not in seen["document.created"]  # titles stay off the bus


def test_a_deactivated_owners_documents_go_to_the_successor(platform: Platform,
                                                            people: dict[str, Any]) -> None:
    leaving = platform.new_user(["sales_rep"], display_name="离职者")
    _docs_knows(platform, leaving)
    with platform.client(leaving["token"]) as c:
        doc = _doc(c, title="交接合同", level="confidential")
    successor = people["named"]
    with platform.admin() as admin:
        _ok(admin.post(f"{API}/users/{leaving['id']}/deactivate",
                       json={"successor_id": successor["id"]}))

    def handed_over() -> bool:
        with platform.client(successor["token"]) as c:
            r = c.get(f"{API}/documents/{doc['id']}")
            return r.status_code == 200 and r.json()["owner_id"] == successor["id"]
    wait_until(handed_over, 30, "documents handed over")
