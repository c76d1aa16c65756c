"""The agenda's window and merge (CUS-18): plain Python, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from crm_platform import agenda
from crm_platform.agenda import AgendaWindow, Section
from crm_platform.errors import ValidationFailed

NOW = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)
DAY = AgendaWindow(datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC))


def _at(hour: int, day: int = 5) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


# -- the window ----------------------------------------------------------------------------
def test_the_default_window_is_today_in_utc() -> None:
    window = agenda.parse_window(None, None, NOW)
    assert window == DAY


def test_a_to_date_includes_that_day_and_offsets_become_utc() -> None:
    window = agenda.parse_window("2026-12-01", "2026-12-07", NOW)
    assert window.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 12, 8, tzinfo=UTC)
    window = agenda.parse_window("2026-12-05T09:00:00+08:00", "2026-12-05T18:00:00Z", NOW)
    assert window.start == datetime(2026, 12, 5, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 12, 5, 18, tzinfo=UTC)


def test_from_alone_is_one_day_and_to_alone_runs_from_today() -> None:
    assert agenda.parse_window("2026-12-10", None, NOW).end == datetime(2026, 12, 11, tzinfo=UTC)
    week = agenda.parse_window(None, "2026-12-11", NOW)
    assert (week.start, week.end) == (DAY.start, datetime(2026, 12, 12, tzinfo=UTC))


@pytest.mark.parametrize(("start", "end", "field"), [
    ("2026-12-08", "2026-12-01", None),  # backwards
    (None, "2026-12-04", None),  # to alone, before today
    ("2026-12-05T10:00:00+00:00", "2026-12-05T10:00:00+00:00", None),  # empty
    ("2026-01-01", "2026-12-31", None),  # longer than a quarter
    ("yesterday", None, "from"),
    (None, "2026-13-01", "to"),
    ("2026-12-05T09:00:00", None, "from"),  # no offset: whose nine o'clock?
])
def test_a_bad_window_is_invalid_agenda_window(start: str | None, end: str | None,
                                               field: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        agenda.parse_window(start, end, NOW)
    assert caught.value.code == "invalid_agenda_window"
    assert caught.value.status == 422
    if field:
        assert caught.value.extra["field"] == field


# -- items ---------------------------------------------------------------------------------
def test_an_item_due_on_a_date_is_due_from_that_days_start() -> None:
    entry = agenda.item("followup", "f1", "回访 张三", date(2026, 12, 5), "/api/v1/x",
                        customer_id="c1", note=None)
    assert entry["due_at"] == "2026-12-05T00:00:00Z"
    assert entry["all_day"] is True
    assert entry["detail"] == {"customer_id": "c1"}  # nothing empty
    with pytest.raises(ValueError):
        agenda.item("visit", "v1", "拜访", datetime(2026, 12, 5, 9), "/x")


def test_a_service_answers_its_earliest_items_first_and_at_most_the_limit() -> None:
    many = [agenda.item("callback", f"c{n:03}", "回访", NOW - timedelta(minutes=n), "/x")
            for n in range(agenda.MAX_ITEMS_PER_SECTION + 5)]
    mine = agenda.sorted_by_due(many)
    assert len(mine) == agenda.MAX_ITEMS_PER_SECTION
    assert mine[0]["id"] == f"c{agenda.MAX_ITEMS_PER_SECTION + 4:03}"
    # fractions of a second sort as times, not as text
    a = agenda.item("visit", "a", "a", datetime(2026, 12, 5, 9, 0, 0, 500, tzinfo=UTC), "/a")
    b = agenda.item("visit", "b", "b", datetime(2026, 12, 5, 9, 0, 0, tzinfo=UTC), "/b")
    assert [e["id"] for e in agenda.sorted_by_due([a, b])] == ["b", "a"]


# -- merging -------------------------------------------------------------------------------
def _sections() -> dict[str, Section]:
    return {
        "customer": Section("ok", (
            agenda.item("followup", "f-old", "回访 老客户", date(2026, 12, 1), "/f/old"),
            agenda.item("visit", "v-pm", "拜访 华东", _at(15), "/v/pm"),
        )),
        "service_desk": Section("ok", (
            agenda.item("work_order", "w-am", "上门维修", _at(9), "/w/am"),
            agenda.item("callback", "cb-late", "回访", _at(23), "/cb"),
        )),
        "sales": Section("ok", (
            agenda.item("quote_approval", "q1", "报价审批", _at(8, day=2), "/q/1"),
        )),
    }


def test_items_from_every_section_are_merged_by_due_time_with_their_state() -> None:
    merged = agenda.merge(_sections(), DAY, NOW)
    assert [e["id"] for e in merged["items"]] == ["f-old", "q1", "w-am", "v-pm", "cb-late"]
    states = {e["id"]: e["state"] for e in merged["items"]}
    assert states == {"f-old": "overdue", "q1": "waiting", "w-am": "overdue",
                      "v-pm": "due", "cb-late": "due"}
    assert merged["items"][2]["section"] == "service_desk"
    assert merged["complete"] is True
    assert merged["sections"]["customer"] == {"status": "ok", "reason": None, "count": 2}
    assert merged["window"] == {"from": "2026-12-05T00:00:00Z",
                                "to": "2026-12-06T00:00:00Z"}


def test_an_item_due_on_a_date_is_late_only_once_that_day_is_over() -> None:
    today = agenda.item("invoice_due", "i-today", "发票到期", date(2026, 12, 5), "/i")
    yesterday = agenda.item("invoice_due", "i-old", "发票到期", date(2026, 12, 4), "/i")
    merged = agenda.merge({"billing": Section("ok", (today, yesterday))}, DAY, NOW)
    assert [(e["id"], e["state"]) for e in merged["items"]] == [("i-old", "overdue"),
                                                                 ("i-today", "due")]


def test_without_overdue_only_the_window_remains() -> None:
    merged = agenda.merge(_sections(), DAY, NOW, include_overdue=False)
    assert [e["id"] for e in merged["items"]] == ["w-am", "v-pm", "cb-late"]


def test_a_later_window_leaves_out_what_is_due_before_it_but_not_yet_late() -> None:
    tomorrow = AgendaWindow(DAY.end, DAY.end + timedelta(days=1))
    merged = agenda.merge(_sections(), tomorrow, NOW)
    # due later today is neither tomorrow's nor overdue yet; the old ones still are
    assert [e["id"] for e in merged["items"]] == ["f-old", "q1", "w-am"]


def test_items_due_after_the_window_are_left_out() -> None:
    morning = AgendaWindow(DAY.start, _at(12))
    assert "v-pm" not in {e["id"] for e in agenda.merge(_sections(), morning, NOW)["items"]}


def test_a_section_that_did_not_answer_is_marked_and_the_rest_still_shows() -> None:
    sections = {**_sections(), "billing": Section("unavailable", reason="timeout"),
                "docs": Section("forbidden", reason="needs document:read")}
    merged = agenda.merge(sections, DAY, NOW)
    assert merged["complete"] is False
    assert merged["sections"]["billing"] == {"status": "unavailable", "reason": "timeout",
                                             "count": 0}
    assert len(merged["items"]) == 5
    # forbidden is the reader's roles, not an outage: the agenda is still complete
    del sections["billing"]
    assert agenda.merge(sections, DAY, NOW)["complete"] is True


def test_the_same_item_twice_is_listed_once_and_ties_sort_the_same_every_time() -> None:
    twin = agenda.item("visit", "same", "拜访", _at(11), "/v")
    other = agenda.item("callback", "tie", "回访", _at(11), "/c")
    sections = {"a": Section("ok", (twin, other)), "b": Section("ok", (twin,))}
    merged = agenda.merge(sections, DAY, NOW)
    assert [(e["kind"], e["id"]) for e in merged["items"]] == [("callback", "tie"),
                                                               ("visit", "same")]


def test_of_a_team_members_items_only_the_late_ones_are_on_the_managers_agenda() -> None:
    late = agenda.item("work_order", "w-late", "工单", _at(8), "/w", assignee_id="rep-1")
    not_yet = agenda.item("callback", "c-soon", "回访", _at(11), "/c", assignee_id="rep-1")
    today = agenda.item("followup", "f-today", "跟进", date(2026, 12, 5), "/f",
                        assignee_id="rep-2")  # due today: late only tomorrow
    own = agenda.item("callback", "c-own", "回访", _at(11), "/c")
    merged = agenda.merge({"x": Section("ok", (late, not_yet, today, own))}, DAY, NOW)
    assert [(e["id"], e["assignee_id"]) for e in merged["items"]] == [
        ("w-late", "rep-1"), ("c-own", None)]


def test_team_members_and_when_their_items_are_late() -> None:
    assert agenda.team_members({"team_member_ids": ["a", "b"]}) == ["a", "b"]
    assert agenda.team_members({}) == []
    with pytest.raises(ValidationFailed):
        agenda.team_members({"team_member_ids": "a"})
    assert agenda.late_before(DAY.end, NOW) == NOW
    assert agenda.late_before(DAY.start, NOW) == DAY.start


def test_a_service_query_needs_its_window_end() -> None:
    assert agenda.window_end({"before": "2026-12-06T00:00:00Z"}) == DAY.end
    with pytest.raises(ValidationFailed):
        agenda.window_end({})


def test_a_services_answer_is_the_callers_items_and_the_teams_late_ones() -> None:
    asked: list[tuple[list[str], datetime, bool]] = []

    def items(people: list[str], before: datetime, team: bool) -> list[dict[str, object]]:
        asked.append((people, before, team))
        return [agenda.item("followup", f"{p}-{team}", "跟进", _at(9), "/x") for p in people]

    alone = agenda.own_and_team("me", {"before": "2026-12-06T00:00:00Z"}, items)
    assert [e["id"] for e in alone["items"]] == ["me-False"]
    assert asked == [(["me"], DAY.end, False)]
    asked.clear()
    managing = agenda.own_and_team("me", {"before": "2026-12-06T00:00:00Z",
                                          "team_member_ids": ["rep"]}, items)
    assert sorted(e["id"] for e in managing["items"]) == ["me-False", "rep-True"]
    (_, team_before, team) = asked[1]
    assert team and team_before <= DAY.end  # only what is late by now


# -- the directory's name matching ---------------------------------------------------------
@pytest.mark.parametrize(("term", "found"), [
    ("诸葛", True), ("zgqy", True), ("zhugeqingyun", True), ("ZhuGe", True), ("qing", True),
    ("13912", True), ("zgqyx", False), ("", False), ("王", False),
])
def test_a_name_is_found_by_characters_pinyin_initials_or_another_field(
        term: str, found: bool) -> None:
    from services.customer.domain.search import name_matches

    assert name_matches(term, "诸葛青云", ["+8613912345678"]) is found
