"""Service desk rules without I/O: the ticket and work-order lifecycles, technician
suggestions, callback outcomes, escalation, knowledge-base versions and search terms,
satisfaction and SLA figures (SVC-01 … SVC-06)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from crm_platform.errors import Forbidden, StateViolation, ValidationFailed

from services.service_desk.domain import callbacks, knowledge, reports, tickets, work_orders
from services.service_desk.domain.escalation import Escalation, next_escalation
from services.service_desk.domain.work_orders import WORK_ORDER, Candidate, rank_technicians

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _walk(machine: object, start: str, actions: list[str]) -> str:
    state = start
    for action in actions:
        state = machine.next(state, action)  # type: ignore[attr-defined]
    return state


def test_work_order_goes_through_the_seed_states_in_order() -> None:
    assert _walk(WORK_ORDER, "not_dispatched",
                 ["dispatch", "confirm", "start", "complete", "close"]) == "closed"
    # re-dispatch before work starts, decline back to not dispatched, cancel
    assert _walk(WORK_ORDER, "dispatched", ["dispatch"]) == "dispatched"
    assert _walk(WORK_ORDER, "confirmed", ["dispatch"]) == "dispatched"
    assert _walk(WORK_ORDER, "dispatched", ["decline"]) == "not_dispatched"
    assert _walk(WORK_ORDER, "confirmed", ["cancel"]) == "cancelled"


@pytest.mark.parametrize(("state", "action"), [
    ("not_dispatched", "confirm"), ("not_dispatched", "start"), ("dispatched", "start"),
    ("dispatched", "complete"), ("confirmed", "complete"), ("in_progress", "dispatch"),
    ("in_progress", "cancel"), ("completed", "dispatch"), ("completed", "start"),
    ("closed", "close"), ("cancelled", "dispatch"), ("closed", "edit"),
])
def test_work_order_refuses_out_of_order_steps(state: str, action: str) -> None:
    with pytest.raises(StateViolation) as refused:
        WORK_ORDER.next(state, action)
    assert refused.value.extra["current_state"] == state


def test_only_the_technician_does_the_technicians_steps() -> None:
    work_orders.check_technician_action("confirm", "tech", "tech", dispatcher=False)
    work_orders.check_technician_action("confirm", "tech", "manager", dispatcher=True)
    work_orders.check_technician_action("dispatch", "tech", "agent", dispatcher=False)
    with pytest.raises(Forbidden):
        work_orders.check_technician_action("complete", "tech", "other", dispatcher=False)


def test_work_hours_are_checked() -> None:
    assert work_orders.work_hours("1.5") == Decimal("1.50")
    for bad in ("0", "-1", "abc", "NaN", "1001"):
        with pytest.raises(ValidationFailed):
            work_orders.work_hours(bad)


def test_suggestions_prefer_skill_then_low_load() -> None:
    ranked = rank_technicians([
        Candidate("a", "Alice", 0, 0),   # idle but without the skill
        Candidate("b", "Bo", 3, 4),      # skilled, busy
        Candidate("c", "Chen", 1, 1),    # skilled, lighter load
        Candidate("d", "Dai", 5, 1),     # most skilled at the same load
    ])
    assert [c.technician_id for c in ranked] == ["d", "c", "b", "a"]


def test_ticket_lifecycle() -> None:
    t = tickets.TICKET
    assert _walk(t, "new", ["set_pending", "open", "resolve", "close", "reopen"]) == "open"
    assert t.next("new", "assign") == "new"
    for state, action in (("closed", "reply"), ("new", "close"), ("open", "reopen"),
                          ("closed", "resolve"), ("pending", "rate"), ("closed", "edit")):
        with pytest.raises(StateViolation):
            t.next(state, action)


def test_received_at_may_be_past_but_never_future() -> None:
    assert tickets.received_at(None, NOW) == NOW
    hour_ago = NOW - timedelta(hours=1)
    assert tickets.received_at(hour_ago, NOW) == hour_ago
    # a client clock a few seconds ahead is taken as now
    assert tickets.received_at(NOW + timedelta(seconds=5), NOW) == NOW
    with pytest.raises(ValidationFailed) as future:
        tickets.received_at(NOW + timedelta(hours=1), NOW)
    assert future.value.code == "received_in_future"
    with pytest.raises(ValidationFailed):
        tickets.received_at(datetime(2026, 1, 1), NOW)  # no offset
    assert tickets.ticket_number(2026, 42) == "TK-2026-000042"


def test_callback_outcomes() -> None:
    happy = callbacks.decide("reached", True, 5, 0, 3)
    assert (happy.action, happy.ticket, happy.escalate) == ("complete", "close", False)
    assert callbacks.decide("reached", True, None, 0, 3).ticket == "close"
    unhappy = callbacks.decide("reached", True, 2, 0, 3)
    assert (unhappy.action, unhappy.ticket, unhappy.escalate) == ("complete", "reopen", True)
    assert callbacks.decide("reached", False, 5, 0, 3).ticket == "reopen"
    assert callbacks.decide("no_answer", None, None, 0, 3).action == "attempt"
    assert callbacks.decide("no_answer", None, None, 1, 3).action == "attempt"
    third = callbacks.decide("no_answer", None, None, 2, 3)
    assert (third.action, third.ticket) == ("give_up", "close_unreached")
    assert callbacks.decide("no_answer", None, None, 3, 5).action == "attempt"
    assert callbacks.decide("wrong_contact", None, None, 0, 5).ticket == "close_unreached"
    with pytest.raises(ValidationFailed):
        callbacks.decide("reached", None, 4, 0, 3)
    with pytest.raises(ValidationFailed):
        callbacks.decide("no_answer", None, 4, 0, 3)
    for bad in (2, 6):
        with pytest.raises(ValidationFailed):
            callbacks.check_max_attempts(bad)
    assert callbacks.due_at(NOW) == NOW + timedelta(hours=72)


def test_escalation_goes_to_the_manager_then_the_service_manager() -> None:
    assert next_escalation(0, "mgr", "svc") == Escalation(1, "mgr")
    assert next_escalation(1, "mgr", "svc") == Escalation(2, "svc")
    assert next_escalation(0, None, "svc") == Escalation(2, "svc")
    assert next_escalation(2, "mgr", "svc") is None
    assert next_escalation(1, "mgr", None) is None


def test_chinese_search_terms() -> None:
    assert knowledge.terms("发动机异响") == ["发动", "动机", "机异", "异响"]
    body = knowledge.terms("冷启动时出现异响，检查皮带 Belt-A3")
    assert "异响" in body and "belt" in body and "a3" in body
    assert knowledge.terms("响") == ["响"]
    assert set(knowledge.query_terms("发动机异响")) & set(body) == {"异响"}
    with pytest.raises(ValidationFailed):
        knowledge.query_terms("，。!?")
    assert knowledge.score([("异响", True), ("皮带", False)]) == 3


def test_versions_in_effect_and_superseded() -> None:
    d = date(2026, 7, 1)
    assert knowledge.in_effect("published", date(2026, 1, 1), None, d)
    assert not knowledge.in_effect("published", date(2026, 1, 1), d, d)
    assert not knowledge.in_effect("draft", date(2026, 1, 1), None, d)
    assert not knowledge.in_effect("published", date(2026, 8, 1), None, d)
    with pytest.raises(ValidationFailed):
        knowledge.check_window(d, d)
    old = knowledge.Window(1, date(2026, 1, 1), None)
    later = knowledge.Window(2, date(2026, 9, 1), None)
    assert knowledge.supersede([old, later], knowledge.Window(3, d, None)) == [
        knowledge.Superseded(1, d, retire=False), knowledge.Superseded(2, None, retire=True)]
    # a window ending before another starts leaves it alone
    assert knowledge.supersede([later], knowledge.Window(3, d, date(2026, 8, 1))) == []
    title, body = knowledge.draft_from_ticket("发动机异响", "冷启动异响", "更换皮带", "X5")
    assert title == "发动机异响" and "冷启动异响" in body and "更换皮带" in body and "X5" in body


def test_satisfaction_and_sla_figures() -> None:
    assert reports.satisfaction([5, 4, 2, 1]) == {"count": 4, "average": 3.0,
                                                  "csat_percent": 50.0}
    assert reports.satisfaction([]) == {"count": 0, "average": None, "csat_percent": None}
    tz = ZoneInfo("Asia/Shanghai")
    # Sunday 16:00 UTC is Monday 00:00 in Shanghai: a new week there
    assert reports.week_of(datetime(2026, 12, 6, 16, 0, tzinfo=UTC), tz) == "2026-W50"
    assert reports.week_of(datetime(2026, 12, 6, 15, 59, tzinfo=UTC), tz) == "2026-W49"
    rows = [reports.Rated(5, NOW, "a", "fault"), reports.Rated(3, NOW, "a", "fault"),
            reports.Rated(4, NOW, None, "complaint")]
    groups = reports.satisfaction_groups(rows, lambda r: r.agent_id)
    assert [(g["key"], g["count"], g["csat_percent"]) for g in groups] == [
        ("a", 2, 50.0), (None, 1, 100.0)]
    figures = reports.sla_figures([
        reports.ClockFigure("resolution", timedelta(minutes=30), False),
        reports.ClockFigure("resolution", timedelta(minutes=90), True),
        reports.ClockFigure("resolution", None, True),
    ])["resolution"]
    assert figures == {"tickets": 3, "breached": 2, "breach_rate_percent": 66.7, "met": 2,
                       "median_minutes": 60.0}
    assert reports.callback_rate(4, 3) == 75.0 and reports.callback_rate(0, 0) is None
