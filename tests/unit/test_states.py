"""The shared lifecycle helper: transitions as data, one refusal for all services."""

from __future__ import annotations

import pytest
from crm_platform.errors import StateViolation
from crm_platform.states import StateMachine

DOOR = StateMachine("door", {
    "open": ("closed", "opened"),
    "close": ("opened", "closed"),
    "lock": ("closed", "locked"),
    "paint": ("closed opened", None),
})


def test_next_follows_the_table() -> None:
    assert DOOR.next("closed", "open") == "opened"
    assert DOOR.next("opened", "close") == "closed"
    assert DOOR.states == {"closed", "opened", "locked"}
    assert DOOR.allowed_actions("closed") == ["lock", "open", "paint"]
    assert DOOR.can("locked", "open") is False


def test_a_target_of_none_keeps_the_state() -> None:
    assert DOOR.next("opened", "paint") == "opened"
    DOOR.check("closed", "paint")


def test_refusal_is_one_code_with_the_state_as_an_extension_member() -> None:
    with pytest.raises(StateViolation) as err:
        DOOR.next("locked", "paint")
    problem = err.value.to_problem()
    assert problem["status"] == 409 and problem["code"] == "invalid_transition"
    assert problem["current_state"] == "locked" and problem["action"] == "paint"
    assert problem["allowed_from"] == ["closed", "opened"]


def test_extension_members_never_replace_the_rfc_members() -> None:
    error = StateViolation("x", extra={"status": "converted", "title": "t"})
    problem = error.to_problem()
    assert problem["status"] == 409 and problem["title"] == "Invalid state transition"


def test_an_action_must_start_somewhere() -> None:
    with pytest.raises(ValueError):
        StateMachine("broken", {"go": ("", "gone")})
