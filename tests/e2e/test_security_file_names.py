"""S6, path traversal in file names, through the gateway: a document's file named
``../../etc/passwd``, ``..\\x``, an absolute path, with control characters, CR/LF or
quotes in it (NUL: a 422, as everywhere), sent as ``?filename=``, as
``Content-Disposition: filename="…"`` and as RFC 8187's ``filename*``. The documents
service's file-system store writes nothing outside its root (every file there is a
checksum-named blob or an upload in progress; no file named after the test exists
anywhere a traversal could have put it), the stored name is a bare file name, the
download gives the same bytes back, and its ``Content-Disposition`` cannot be broken
out of. Path parameters that try to climb (``..``, encoded slashes) read nothing."""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from tests.support.infra import REPO, wait_until
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

API = "/api/v1"
M = f"s6{uuid.uuid4().hex[:10]}"  # in every hostile name: nothing else on disk has it

# (how it is sent, the name as the client gives it, the name the service must store)
HOSTILE = [
    ("query", f"../../{M}-passwd", f"{M}-passwd"),
    ("query", f"../../../../../../../../etc/{M}-passwd", f"{M}-passwd"),
    ("query", f"..\\..\\{M}-win.ini", f"{M}-win.ini"),
    ("query", f"/etc/{M}-shadow", f"{M}-shadow"),
    ("query", f"/tmp/{M}-abs", f"{M}-abs"),
    ("query", f"C:\\Windows\\System32\\{M}-hosts", f"{M}-hosts"),
    ("query", f"\\\\server\\share\\{M}-unc", f"{M}-unc"),
    ("query", f"合同/../../{M}-合同.pdf", f"{M}-合同.pdf"),
    ("query", f"{M}/..", "file"),
    ("query", "..", "file"),
    ("query", ".", "file"),
    ("query", "../..", "file"),
    ("query", f"%2e%2e%2f{M}-encoded", f"%2e%2e%2f{M}-encoded"),  # not decoded twice
    ("query", f'{M}"; filename="evil.exe', f'{M}"; filename="evil.exe'),
    ("header", f"../../{M}-quoted", f"{M}-quoted"),
    ("header", f"..\\..\\{M}-quoted-win", f"{M}-quoted-win"),
    ("header*", f"../../{M}-star", f"{M}-star"),
    ("header*", f"/etc/{M}-star-abs", f"{M}-star-abs"),
    ("header*", f"{M}\r\nX-Injected: 1.txt", f"{M}X-Injected: 1.txt"),
    ("header*", "\x7f\x1b", "file"),
]


def _names(kind: str, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The query parameters and headers that name the file ``name``."""
    headers = {"Content-Type": "application/octet-stream"}
    if kind == "query":
        return {"filename": name}, headers
    if kind == "header":
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    else:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return {}, headers


@pytest.fixture(scope="module")
def writer(platform: Platform) -> dict[str, Any]:
    return platform.new_user(["sales_rep"])


@pytest.fixture(scope="module")
def document(platform: Platform, writer: dict[str, Any]) -> str:
    with platform.client(writer["token"]) as c:
        def made() -> str | None:  # once the docs service knows the new user
            r = c.post(f"{API}/documents", json={"title": "路径穿越", "category": "contract"})
            return str(r.json()["id"]) if r.status_code == 201 else None
        return str(wait_until(made, 30, "a document"))


def _filename_in(disposition: str) -> tuple[str, str]:
    """(the ASCII ``filename``, the decoded ``filename*``) of a Content-Disposition."""
    plain = re.fullmatch(r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'([^;"\s]+)',
                         disposition)
    assert plain, disposition
    return plain.group(1), unquote(plain.group(2), errors="strict")


def _is_bare(name: str) -> bool:
    return (bool(name) and "/" not in name and "\\" not in name and name.strip(".") != ""
            and not any(unicodedata.category(ch)[0] == "C" for ch in name))


@pytest.mark.parametrize(("kind", "given", "stored"), HOSTILE,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(HOSTILE)])
def test_a_hostile_file_name_is_stored_bare_and_served_safely(
        platform: Platform, writer: dict[str, Any], document: str,
        kind: str, given: str, stored: str) -> None:
    data = f"{kind} {given!r} {uuid.uuid4()}".encode()
    params, headers = _names(kind, given)
    with platform.client(writer["token"]) as c:
        r = c.post(f"{API}/documents/{document}/versions", params=params, content=data,
                   headers=headers)
        assert r.status_code == 201, r.text
        version = r.json()
        assert version["filename"] == stored and _is_bare(stored), version
        listed = c.get(f"{API}/documents/{document}/versions", params={"limit": 200})
        assert [v["filename"] for v in listed.json()["items"]
                if v["number"] == version["number"]] == [stored]
        got = c.get(f"{API}/documents/{document}/versions/{version['number']}/content")
    assert got.status_code == 200 and got.content == data, got.text[:200]
    fallback, utf8 = _filename_in(got.headers["content-disposition"])
    assert utf8 == stored
    assert fallback.isascii() and "/" not in fallback and "\\" not in fallback
    assert not any(name.lower() in got.headers for name in ("x-injected", "set-cookie"))


@pytest.mark.parametrize(("params", "headers", "status", "code"), [
    ({"filename": f"{M}\x00.txt"}, {}, 400, "invalid_url"),
    # NUL cannot be stored (the platform's rule); it was a 502 from the service
    ({}, {"Content-Disposition": f"attachment; filename*=UTF-8''{M}.pdf%00.exe"}, 422,
     "validation_failed"),
    ({}, {"Content-Disposition": f"attachment; filename*=UTF-8''..%00%2F..%00%2F{M}"}, 422,
     "validation_failed"),
    ({}, {"Content-Disposition": "attachment; filename*=UTF-8''%00"}, 422,
     "validation_failed"),
    ({"filename": "x.txt"}, {"Content-Type": "application/" + "x" * 250}, 422,
     "validation_failed"),
    ({}, {"Content-Disposition": "attachment; filename*=UTF-8''%FF%FE.txt"}, 422,
     "invalid_filename"),
    ({}, {"Content-Disposition": "attachment; filename*=UTF-8''%E5%90.txt"}, 422,
     "invalid_filename"),
    ({}, {"Content-Disposition": "attachment"}, 422, "filename_required"),
    ({"filename": "x" * 256}, {}, 422, "validation_failed"),
], ids=["nul-in-query", "nul-in-header", "nul-climbing", "only-nul", "long-type",
        "not-utf8", "cut-utf8", "no-name", "too-long"])
def test_a_file_name_that_cannot_be_stored_is_a_4xx(
        platform: Platform, writer: dict[str, Any], document: str,
        params: dict[str, str], headers: dict[str, str], status: int, code: str) -> None:
    with platform.client(writer["token"]) as c:
        r = c.post(f"{API}/documents/{document}/versions", params=params, content=b"x",
                   headers={"Content-Type": "application/octet-stream", **headers})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.json()


@pytest.mark.parametrize("path", [
    "/documents/{doc}/versions/..%2F..%2F..%2Fetc%2Fpasswd/content",
    "/documents/{doc}/versions/%2E%2E/content",
    "/documents/..%2F..%2F..%2Fetc/versions/1/content",
    "/documents/%2E%2E%2F%2E%2E/versions/1/content",
    "/documents/{doc}/versions/1%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd/content",
])
def test_a_path_that_climbs_reads_nothing(platform: Platform, writer: dict[str, Any],
                                          document: str, path: str) -> None:
    with platform.client(writer["token"]) as c:
        r = c.get(API + path.format(doc=document))
    assert 400 <= r.status_code < 500, f"{r.status_code} {r.text[:200]}"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert b"root:" not in r.content


BLOB = re.compile(r"objects/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}|tmp/[0-9a-f]{32}\.part")


def test_nothing_is_written_outside_the_store(platform: Platform, writer: dict[str, Any],
                                              document: str) -> None:
    """After the uploads above (and one more here, so the test stands alone): the
    store's root holds only blobs named by checksum, and no file named after the test
    exists anywhere a traversal from the root, its folders or the service's working
    directory would have put it."""
    with platform.client(writer["token"]) as c:
        r = c.post(f"{API}/documents/{document}/versions",
                   params={"filename": f"../../../{M}-last"}, content=b"last",
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    root = Path(platform.env["CRM_DOCS_STORAGE_DIR"])
    stored = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    assert stored and all(BLOB.fullmatch(p) for p in stored), \
        [p for p in stored if not BLOB.fullmatch(p)]
    # the platform's run folder (the store's parent: logs, other stores) has no such file
    strays = [str(p) for p in root.parent.rglob(f"*{M}*")]
    assert not strays, strays
    bases = [root, root / "objects", root / "tmp", root.parent, REPO, Path("/")]
    for _kind, given, _stored in HOSTILE:
        relative = given.replace("\\", "/").replace("\x00", "")
        for base in bases:
            target = Path(os.path.normpath(base / relative.lstrip("/")))
            absolute = Path(os.path.normpath("/" + relative.lstrip("/")))
            for candidate in (target, absolute):
                assert M not in candidate.name or not candidate.exists(), candidate
