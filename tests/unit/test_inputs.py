"""What every request body and query refuses before anything is stored
(``crm_platform.inputs``): text PostgreSQL cannot hold, anywhere in the body; ``null`` for
a field that may be left out but not cleared; amounts past NUMERIC(18, 2); empty or
overlong ids."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from crm_platform.inputs import Money, Ref, Strict, kept, unstorable
from pydantic import Field, ValidationError


class Note(Strict):
    title: str = Field(min_length=1)
    lines: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class NoteUpdate(Strict):
    title: str = kept(min_length=1)
    subtitle: str | None = None
    amount: Money | None = None
    ref: Ref | None = None


@pytest.mark.parametrize("body", [
    {"title": "a\x00b"},
    {"title": "ok", "lines": ["fine", "bad\x00"]},
    {"title": "ok", "attributes": {"k": {"deeper": ["x\x00"]}}},
    {"title": "ok", "attributes": {"key\x00": 1}},
    {"title": "\ud800"},
    {"title": "ok", "lines": ["\udfff tail"]},
    {"title": "ok", "attributes": {"k": "\ud800"}},  # Any: not pydantic's own str check
    # numbers the wire cannot carry (orjson refuses past 64 bits) or would turn into null
    {"title": "ok", "attributes": {"k": {"n": [2 ** 70]}}},
    {"title": "ok", "attributes": {"k": -(2 ** 63) - 1}},
    {"title": "ok", "attributes": {"k": float("nan")}},
    {"title": "ok", "attributes": {"k": [float("-inf")]}},
])
def test_unstorable_is_refused_anywhere_in_the_body(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        Note.model_validate(body)
    assert any(word in str(err.value)
               for word in ("NUL", "surrogate", "unicode", "64 bits", "finite"))


def test_storable_text_passes_and_is_stripped() -> None:
    note = Note.model_validate({"title": "  张三木 😀 ", "lines": ["a"],
                                "attributes": {"年限": 3}})
    assert note.title == "张三木 😀"
    assert unstorable({"a": ["b", ("c",)], "n": [2 ** 63 - 1, -(2 ** 63), 1.5e308, True]}) is None


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Note.model_validate({"title": "x", "colour": "red"})


def test_a_kept_field_may_be_left_out_but_not_cleared() -> None:
    assert NoteUpdate.model_validate({}).model_dump(exclude_unset=True) == {}
    assert NoteUpdate.model_validate({"subtitle": None}).model_dump(exclude_unset=True) == {
        "subtitle": None}
    with pytest.raises(ValidationError):
        NoteUpdate.model_validate({"title": None})
    with pytest.raises(ValidationError):
        NoteUpdate.model_validate({"title": ""})


@pytest.mark.parametrize("amount", ["10000000000000000", 5.3e16, "1e308", "NaN", "Infinity",
                                    "-1", "0.001"])
def test_money_past_its_column_is_refused(amount: object) -> None:
    with pytest.raises(ValidationError):
        NoteUpdate.model_validate({"amount": amount})


def test_money_that_fits_passes() -> None:
    assert NoteUpdate.model_validate({"amount": "9999999999999999.99"}).amount == Decimal(
        "9999999999999999.99")


@pytest.mark.parametrize("ref", ["", "x" * 37])
def test_an_id_is_neither_empty_nor_longer_than_its_column(ref: str) -> None:
    with pytest.raises(ValidationError):
        NoteUpdate.model_validate({"ref": ref})


def test_a_time_is_kept_in_utc_and_written_in_one_form() -> None:
    from datetime import UTC, datetime

    from crm_platform import wire

    class Body(Strict):
        at: datetime

    at = Body.model_validate({"at": "2026-12-01T09:30:00+08:00"}).at
    assert at == datetime(2026, 12, 1, 1, 30, tzinfo=UTC) and at.utcoffset() is not None
    assert wire.dumps({"at": at}) == b'{"at":"2026-12-01T01:30:00Z"}'
    assert wire.timestamp(at) == "2026-12-01T01:30:00Z"
    assert wire.timestamp(at.replace(microsecond=250000)) == "2026-12-01T01:30:00.250000Z"
    with pytest.raises(ValidationError, match="offset"):
        Body.model_validate({"at": "2026-12-01T09:30:00"})


@pytest.mark.parametrize("phone", ["138 0013 8000x", "+86 10 FLOWERS1", "010-8888转12",
                                   "Ｘ13800138000"])
def test_a_phone_number_with_letters_is_refused(phone: str) -> None:
    from crm_platform.inputs import Phone

    class Card(Strict):
        phone: Phone

    with pytest.raises(ValidationError, match="no letters"):
        Card.model_validate({"phone": phone})
    assert Card.model_validate({"phone": "（010）8888-6666"}).phone == "（010）8888-6666"
