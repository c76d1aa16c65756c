"""Shared machinery without I/O: errors, envelope, cursors, permissions, identity rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from crm_platform.auth import Caller
from crm_platform.errors import (
    BadRequest,
    Conflict,
    DomainError,
    NotFound,
    StaleVersion,
    error_from_remote,
)
from crm_platform.events import CloudEvent, EventData
from crm_platform.pagination import decode_cursor, encode_cursor
from crm_platform.permissions import ROLE_GRANTS, scope_for

from gateway.identity import descendants, would_cycle


class Thing(EventData):
    event_type = "thing.happened"
    id: str
    name: str


def test_domain_error_survives_nameko_serialisation_shape() -> None:
    err = Conflict("exists", code="duplicate_customer", extra={"owner": {"id": "u"}})
    rebuilt = error_from_remote(type(err).__name__, list(err.args))
    assert isinstance(rebuilt, Conflict)
    assert (rebuilt.status, rebuilt.code, rebuilt.extra) == (409, "duplicate_customer",
                                                             {"owner": {"id": "u"}})
    assert isinstance(error_from_remote("StaleVersion", ["x", None, {}]), StaleVersion)
    assert error_from_remote("ValueError", ["x"]) is None


def test_problem_body_has_code_and_extra() -> None:
    body = NotFound("no such customer").to_problem("/x")
    assert body["status"] == 404 and body["code"] == "not_found" and body["instance"] == "/x"
    assert issubclass(BadRequest, DomainError)


def test_cloudevent_envelope() -> None:
    ev = CloudEvent.wrap("customer", Thing(id="c1", name="张三"), correlation_id="r1",
                         actor="u1")
    body = ev.model_dump(mode="json")
    assert body["specversion"] == "1.0" and body["type"] == "thing.happened"
    assert body["source"] == "/crm/customer" and body["subject"] == "c1"
    assert body["correlationid"] == "r1" and body["actor"] == "u1"
    assert ev.payload(Thing).name == "张三"
    # consumers ignore unknown fields
    assert Thing.model_validate({"id": "1", "name": "n", "later": True}).id == "1"


def test_cursor_roundtrip_and_garbage() -> None:
    assert decode_cursor(encode_cursor(["张三", "id-1"])) == ["张三", "id-1"]
    with pytest.raises(BadRequest):
        decode_cursor("!!!not-base64")


@pytest.mark.parametrize("key", [
    [], ["2026-01-01T00:00:00+00:00"], ["2026-01-01T00:00:00", "id"], ["not a time", "id"],
    [12, "id"], ["2026-01-01T00:00:00+00:00", 7], {"a": 1}, "text",
])
def test_a_cursor_key_of_the_wrong_shape_is_a_bad_request(key: object) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(encode_cursor(key), datetime, str)  # type: ignore[arg-type]


def test_cursor_key_parts_are_converted() -> None:
    at = datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    assert decode_cursor(encode_cursor([at.isoformat(), "c-1"]), datetime, str) == [at, "c-1"]
    assert decode_cursor(encode_cursor(["41"]), int) == [41]
    for bad in ([True], [1.5], ["x"]):
        with pytest.raises(BadRequest):
            decode_cursor(encode_cursor(bad), int)


def test_scope_widest_wins_and_unknown_is_none() -> None:
    assert scope_for(["sales_rep"], "customer:read") == "own"
    assert scope_for(["sales_rep", "sales_manager"], "customer:read") == "team"
    assert scope_for(["admin"], "anything:at_all") == "all"
    assert scope_for(["viewer"], "customer:export") is None
    assert set(ROLE_GRANTS) >= {"admin", "sales_rep", "finance", "archivist"}


def test_caller_visibility() -> None:
    assert Caller(user_id="u", scope="all").visible_owner_ids() is None
    assert Caller(user_id="u", scope="own").visible_owner_ids() == {"u"}
    team = Caller(user_id="m", scope="team", member_ids=["a", "b"])
    assert team.visible_owner_ids() == {"m", "a", "b"} and not team.can_see_owner("z")


def test_team_hierarchy_rules() -> None:
    parents = {"root": None, "east": "root", "sh": "east", "north": "root"}
    assert descendants(parents, ["east"]) == {"east", "sh"}
    assert would_cycle(parents, "root", "sh")
    assert not would_cycle(parents, "north", "east")


def test_a_callers_header_is_parsed_once_and_its_caller_shared() -> None:
    from types import SimpleNamespace

    from crm_platform.service.providers import caller_of

    rep = Caller(user_id="u-rep", roles=["sales_rep"], scope="own")
    manager = Caller(user_id="u-mgr", roles=["sales_manager"], scope="team",
                     member_ids=["u-rep"])

    def ctx(raw: object) -> SimpleNamespace:
        return SimpleNamespace(context_data={"caller": raw} if raw is not None else {})

    first, again = caller_of(ctx(rep.to_header())), caller_of(ctx(rep.to_header()))
    assert first == rep and again is first  # one parse for the same header
    assert caller_of(ctx(manager.to_header())) == manager
    assert caller_of(ctx(manager.model_dump())) == manager  # a plain dict: parsed, not kept
    assert caller_of(ctx(None)) is None
    worker = ctx(rep.to_header())
    assert caller_of(worker) is caller_of(worker)  # once per worker, too
