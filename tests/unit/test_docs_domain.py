"""The documents service's rules without I/O: who sees what, lifecycles, byte ranges,
file names, content types, tickets, retention dates."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote

import pytest
from crm_platform.errors import Conflict, Forbidden, StateViolation, Unauthorized, ValidationFailed

from services.docs.domain import access, content, lifecycle, tickets

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def reader(user: str = "u1", *roles: str, scope: access.Scope = "all",
           owners: frozenset[str] | None = None, team: str | None = None,
           managed: frozenset[str] = frozenset()) -> access.Reader:
    return access.Reader(user, frozenset(roles or ("sales_rep",)), scope, owners, team,
                         managed)


def doc(level: access.Level, owner: str = "owner", *grants: access.Grant
        ) -> access.DocumentFacts:
    return access.DocumentFacts(owner, level, tuple(grants))


def test_public_and_internal() -> None:
    assert access.can_read(doc("public"), reader(scope="own", owners=frozenset({"u1"})), NOW)
    assert access.can_read(doc("internal"), reader(), NOW)  # all scope covers the owner
    own_only = reader(scope="own", owners=frozenset({"u1"}))
    assert not access.can_read(doc("internal"), own_only, NOW)
    assert access.can_read(doc("internal", "u1"), own_only, NOW)
    assert access.can_read(doc("internal", "owner", access.Grant("team", "t1")),
                           reader(scope="own", owners=frozenset({"u1"}), team="t1"), NOW)


def test_confidential_is_for_owner_managers_archive_and_grants() -> None:
    confidential = doc("confidential")
    assert not access.can_read(confidential, reader(), NOW)  # all scope is not enough
    assert access.can_read(confidential, reader(managed=frozenset({"owner"})), NOW)
    assert access.can_read(confidential, reader("a", "archivist"), NOW)
    assert access.can_read(confidential, reader("a", "admin"), NOW)
    assert access.can_read(doc("confidential", "owner", access.Grant("role", "finance")),
                           reader("f", "finance"), NOW)
    assert access.can_read(doc("confidential", "u1"), reader(), NOW)


def test_secret_is_only_for_the_people_named_on_it() -> None:
    named = access.Grant("user", "u1")
    assert access.can_read(doc("secret", "owner", named), reader(), NOW)
    assert access.can_read(doc("secret", "u1"), reader(), NOW)
    for outsider in (reader("adm", "admin"), reader("arc", "archivist"),
                     reader("mgr", managed=frozenset({"owner"}))):
        assert not access.can_read(doc("secret", "owner", named), outsider, NOW)
    # a role or team grant never opens a secret document (and cannot be added)
    assert not access.can_read(doc("secret", "owner", access.Grant("role", "sales_rep")),
                               reader(), NOW)
    assert not access.grantable("secret", "role") and not access.grantable("secret", "team")
    assert access.grantable("secret", "user") and access.grantable("confidential", "role")
    assert access.levels_refusing([access.Grant("team", "t"), named], "secret") == [
        access.Grant("team", "t")]


def test_grants_expire_by_themselves() -> None:
    lent = access.Grant("user", "u1", NOW + timedelta(days=1))
    confidential = doc("confidential", "owner", lent)
    assert access.can_read(confidential, reader(), NOW)
    assert access.can_read(confidential, reader(), NOW + timedelta(days=1, seconds=-1))
    assert not access.can_read(confidential, reader(), NOW + timedelta(days=1))


def test_admins_manage_grants_of_what_they_cannot_read() -> None:
    secret = doc("secret")
    admin = reader("adm", "admin")
    assert access.can_manage_grants(secret, admin, NOW)
    assert not access.can_read(secret, admin, NOW)
    assert not access.can_manage_grants(secret, reader(), NOW)
    assert access.can_edit(doc("internal", "u1"), reader(), False, NOW)
    assert not access.can_edit(doc("internal"), reader(), False, NOW)
    assert not access.can_edit(doc("secret"), admin, True, NOW)


def test_version_lifecycle() -> None:
    assert lifecycle.VERSION.next("draft", "make_effective") == "effective"
    assert lifecycle.VERSION.next("effective", "supersede") == "obsolete"
    with pytest.raises(StateViolation) as refused:
        lifecycle.VERSION.next("obsolete", "make_effective")
    assert refused.value.extra["current_state"] == "obsolete"
    assert lifecycle.ACCESS_REQUEST.next("pending", "approve") == "approved"
    with pytest.raises(StateViolation):
        lifecycle.DESTRUCTION_REQUEST.next("approved", "approve")


def test_borrowing_and_destruction_rules() -> None:
    assert lifecycle.borrow_expiry(NOW, 1) == NOW + timedelta(days=1)
    with pytest.raises(ValidationFailed):
        lifecycle.borrow_expiry(NOW, 0)
    with pytest.raises(Forbidden) as same:
        lifecycle.check_destruction_approver("a", "a")
    assert same.value.code == "same_approver"
    lifecycle.check_destruction_approver("a", "b")
    with pytest.raises(Conflict) as held:
        lifecycle.check_no_legal_hold(True)
    assert held.value.code == "legal_hold"


def test_retention_dates() -> None:
    assert lifecycle.retention_due(date(2020, 3, 1), 5) == date(2025, 3, 1)
    assert lifecycle.retention_due(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert lifecycle.retention_due(date(2024, 2, 29), None) is None
    assert lifecycle.retention_cutoff(date(2026, 3, 1), 5) == date(2021, 3, 1)
    assert lifecycle.retention_cutoff(date(2028, 2, 29), 1) == date(2027, 2, 28)


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 100, None),
    ("bytes=0-9", 100, (0, 9)),
    ("bytes=90-", 100, (90, 99)),
    ("bytes=90-500", 100, (90, 99)),
    ("bytes=-10", 100, (90, 99)),
    ("bytes=-500", 100, (0, 99)),
    ("bytes=5-1", 100, None),  # malformed: the whole file
    ("bytes=0-1,5-6", 100, None),  # several ranges: the whole file
    ("items=0-1", 100, None),
])
def test_byte_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    found = content.parse_range(header, size)
    assert (None if found is None else (found.start, found.end)) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(content.UnsatisfiableRange):
        content.parse_range(header, 100)


def test_content_disposition_carries_chinese_names_safely() -> None:
    header = content.content_disposition("采购合同（终版）.pdf")
    assert header.startswith('attachment; filename="')
    fallback = header.split('filename="')[1].split('"')[0]
    assert fallback.isascii() and fallback.endswith(".pdf")
    assert unquote(header.split("filename*=UTF-8''")[1]) == "采购合同（终版）.pdf"
    hostile = content.content_disposition('a"; filename="evil.exe\r\nX: y')
    assert "\r" not in hostile and "\n" not in hostile
    assert hostile.count('"') == 2
    assert content.safe_filename("../../etc/合同.pdf") == "合同.pdf"
    assert content.safe_filename("C:\\docs\\报价.xlsx") == "报价.xlsx"
    assert content.safe_filename("") == "file"
    # S6: names that are only a way up, or hide one behind control characters
    for climbing in ("..", ".", "...", "../..", "..\\..\\", "/", "a/..", ".\x00."):
        assert content.safe_filename(climbing) == "file", climbing
    assert content.safe_filename("/etc/passwd") == "passwd"
    assert content.safe_filename("..\\..\\windows\\win.ini") == "win.ini"
    assert content.safe_filename("合同.pdf\x00.exe") == "合同.pdf.exe"
    assert content.safe_filename("x\r\n/..\r\n") == "file"
    assert content.safe_filename("." * 300 + "x") == "file"  # cut to 255: only dots


def test_sniffing_trusts_the_bytes_not_the_name() -> None:
    assert content.sniff(b"%PDF-1.7\n...", "text/plain") == "application/pdf"
    assert content.sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 20) == "image/png"
    assert content.sniff("合同正文".encode()) == content.TEXT_PLAIN
    assert content.sniff("合同".encode()[:-1]) == content.TEXT_PLAIN  # cut mid-character
    assert content.sniff(b"\x00\x01\x02", "application/x-custom") == "application/x-custom"
    assert content.sniff(b"\x00\x01\x02", "application/pdf") == content.OCTET_STREAM
    assert content.sniff(b"") == content.OCTET_STREAM


def test_search_text_and_terms() -> None:
    assert content.searchable("ＡＢＣ 合同", None, "  Tag ") == "abc 合同 tag"
    assert content.search_terms("  杭州  云帆 ") == ["杭州", "云帆"]
    assert content.search_terms(None) == []


def test_tickets_are_bound_and_expire() -> None:
    ticket = tickets.Ticket(op="download", document_id="d1", user_id="u1",
                            expires=time.time() + 60, number=2)
    signed = tickets.sign(ticket, "secret")
    assert tickets.verify(signed, "secret", "download", time.time()) == ticket
    with pytest.raises(Unauthorized):
        tickets.verify(signed, "other-secret", "download", time.time())
    with pytest.raises(Unauthorized):
        tickets.verify(signed, "secret", "upload", time.time())
    with pytest.raises(Unauthorized) as expired:
        tickets.verify(signed, "secret", "download", time.time() + 120)
    assert expired.value.code == "ticket_expired"
    payload, mac = signed.split(".")
    forged = tickets.sign(tickets.Ticket(op="download", document_id="d2", user_id="u1",
                                         expires=time.time() + 60, number=2), "x")
    with pytest.raises(Unauthorized):
        tickets.verify(f"{forged.split('.')[0]}.{mac}", "secret", "download", time.time())
    with pytest.raises(Unauthorized):
        tickets.verify("garbage", "secret", "download", time.time())
