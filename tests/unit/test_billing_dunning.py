"""Dunning steps (BIL-06), no I/O."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from crm_platform.errors import ValidationFailed

from services.billing.domain.dunning import DunningSchedule, due_steps

DUE = date(2026, 3, 31)
ISSUED = date(2026, 3, 1)
S = DunningSchedule()


def _at(offset: int) -> date:
    return DUE + timedelta(days=offset)


def test_each_step_on_its_day() -> None:
    assert due_steps(S, DUE, ISSUED, _at(-4), []).fire is None
    assert due_steps(S, DUE, ISSUED, _at(-3), []).fire == 1
    assert due_steps(S, DUE, ISSUED, _at(-1), [1]).fire is None  # fired already
    assert due_steps(S, DUE, ISSUED, _at(0), [1]).fire == 2
    assert due_steps(S, DUE, ISSUED, _at(7), [1, 2]).fire == 3
    assert due_steps(S, DUE, ISSUED, _at(400), [1, 2, 3, 4, 5]).fire is None


def test_late_runs_send_the_latest_step_and_skip_the_rest() -> None:
    got = due_steps(S, DUE, ISSUED, _at(16), [1])
    assert got.fire == 4 and got.skip == (2, 3)
    # an invoice issued on its due date never gets the "due in 3 days" note
    got = due_steps(S, DUE, DUE, DUE, [])
    assert got.fire == 2 and got.skip == (1,)
    assert due_steps(S, DUE, DUE, _at(-3), []).fire is None  # before it existed


def test_escalation_and_schedule_rules() -> None:
    assert [S.escalated(n) for n in range(1, 6)] == [False, False, False, True, True]
    custom = DunningSchedule.from_settings({"offsets": [0, 10], "escalate_from_step": 3})
    assert not custom.escalated(2) and custom.to_settings()["offsets"] == [0, 10]
    for bad in ({"offsets": []}, {"offsets": [5, 5]}, {"offsets": [0], "escalate_from_step": 3},
                {"offsets": ["x"]}):
        with pytest.raises(ValidationFailed):
            DunningSchedule.from_settings(bad)
