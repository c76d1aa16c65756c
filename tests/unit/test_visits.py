"""Visit plan state machine and who may act (CUS-10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crm_platform.errors import Forbidden, StateViolation

from services.customer.domain import visits


def test_full_path_to_archive() -> None:
    status = "planned"
    for action in ("appoint", "record", "report", "return", "report", "approve", "archive"):
        status = visits.VISIT_PLAN.next(status, action)
    assert status == "archived"


@pytest.mark.parametrize("status,action", [("planned", "report"), ("visited", "approve"),
                                           ("archived", "record"), ("reported", "archive")])
def test_illegal_transitions(status: str, action: str) -> None:
    with pytest.raises(StateViolation):
        visits.VISIT_PLAN.next(status, action)


def test_only_a_manager_other_than_the_owner_reviews() -> None:
    visits.check_actor("approve", "rep", "mgr", is_reviewer=True)
    with pytest.raises(Forbidden):
        visits.check_actor("approve", "rep", "rep", is_reviewer=True)
    with pytest.raises(Forbidden):
        visits.check_actor("return", "rep", "peer", is_reviewer=False)
    with pytest.raises(Forbidden):
        visits.check_actor("record", "rep", "peer", is_reviewer=False)


def test_overdue_only_before_the_visit() -> None:
    now = datetime.now(UTC)
    assert visits.is_overdue("planned", now - timedelta(hours=1), now)
    assert not visits.is_overdue("visited", now - timedelta(hours=1), now)
    assert not visits.is_overdue("appointed", now + timedelta(hours=1), now)
