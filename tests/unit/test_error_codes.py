"""Every error code the documentation or the OpenAPI mention is one the code returns
(the catalogue ``docs/error-codes.md`` is generated from the code)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from crm_platform import error_codes

REPO = Path(__file__).resolve().parents[2]
# "code: duplicate_customer", "`code` `stale_version`", "409 `invalid_transition`",
# "412 stale_version"
MENTION = re.compile(
    r"(?:\bcode[`\"']?\s*[:=]\s*[`\"']?|\bcode[`\"']?\s+[`\"']|\b[45]\d\d\s+`?)"
    r"([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")
PROSE = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _openapi_text() -> str:
    from gateway.app import app

    return json.dumps(app.openapi(), ensure_ascii=False)


def mentions(text: str) -> set[str]:
    return set(MENTION.findall(text))


def test_the_mention_pattern_finds_codes_in_their_usual_spellings() -> None:
    text = ("duplicate → 409 `code: duplicate_customer`; a stale one gets 412 stale_version; "
            'answers {"code": "invalid_transition"}; limit=0 is a 422 and not_a_code here')
    assert mentions(text) == {"duplicate_customer", "stale_version", "invalid_transition"}


@pytest.mark.parametrize("source", [*PROSE, "openapi"], ids=lambda s: getattr(s, "name", s))
def test_every_documented_code_is_returned_by_the_code(source: Path | str) -> None:
    text = _openapi_text() if source == "openapi" else Path(source).read_text(encoding="utf-8")
    unknown = mentions(text) - set(error_codes.collect())
    assert not unknown, f"{source} mentions codes the API never returns: {sorted(unknown)}"


def test_the_catalogue_is_current() -> None:
    assert not error_codes.stale(), "run `make contracts`"


def test_statuses_are_one_per_code() -> None:
    several = {code: sorted(e.statuses) for code, e in error_codes.collect().items()
               if len(e.statuses) > 1}
    assert not several, f"a code means one HTTP status: {several}"
