"""The call centre's rules (SVC-08): numbers, the call lifecycle from telephony events,
who goes on a call list, what an attempt does to an entry, and the report's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from crm_platform import webhook_signing
from crm_platform.errors import StateViolation, ValidationFailed

from services.service_desk.domain import calls
from services.service_desk.domain.calls import CallFacts, Candidate

NOW = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize("written", ["13800138000", "+86 138-0013-8000", "0086 138 0013 8000",
                                     "138 0013 8000", "＋８６１３８００１３８０００"])
def test_a_mobile_number_written_any_common_way_is_one_number(written: str) -> None:
    assert calls.lookup_number(written) == "+8613800138000"


def test_a_landline_with_its_area_code() -> None:
    assert calls.lookup_number("010-12345678") == "+861012345678"
    assert calls.lookup_number("(0755) 8888 1234") == "+8675588881234"


@pytest.mark.parametrize("written", ["", "anonymous", "12", "138-abc"])
def test_what_is_not_a_number_finds_nobody(written: str) -> None:
    assert calls.lookup_number(written) is None
    with pytest.raises(ValidationFailed) as exc:
        calls.required_number(written)
    assert exc.value.code == "invalid_phone"


def test_a_call_rings_is_answered_and_ends() -> None:
    assert calls.telephony_step(None, "ringing") == calls.Step(True, "ringing")
    assert calls.telephony_step("ringing", "answered") == calls.Step(True, "answered")
    assert calls.telephony_step("answered", "ended") == calls.Step(True, "ended")
    assert calls.telephony_step("ringing", "missed") == calls.Step(True, "missed")


def test_a_repeated_or_late_event_is_ignored() -> None:
    assert calls.telephony_step("ended", "ended") == calls.Step(False, "ended")
    assert calls.telephony_step("ended", "answered") == calls.Step(False, "ended")
    assert calls.telephony_step("answered", "ringing") == calls.Step(False, "answered")


def test_an_event_first_heard_of_starts_the_call_where_it_says() -> None:
    assert calls.telephony_step(None, "ended") == calls.Step(True, "ended")
    assert calls.telephony_step(None, "missed") == calls.Step(True, "missed")


def test_a_contradicting_event_is_a_refused_transition() -> None:
    for current, kind in (("missed", "ended"), ("ended", "missed"), ("answered", "missed")):
        with pytest.raises(StateViolation) as exc:
            calls.telephony_step(current, kind)  # type: ignore[arg-type]
        assert exc.value.code == "invalid_transition"


def test_duration_is_the_telephony_figure_or_talk_time() -> None:
    assert calls.duration_seconds(NOW, NOW + timedelta(seconds=95)) == 95
    assert calls.duration_seconds(NOW, NOW + timedelta(seconds=95), reported=90) == 90
    assert calls.duration_seconds(None, NOW) is None
    with pytest.raises(ValidationFailed):
        calls.duration_seconds(None, None, reported=-1)


def test_a_call_cannot_end_before_it_starts() -> None:
    calls.check_times(NOW, NOW + timedelta(seconds=5), NOW + timedelta(seconds=60))
    with pytest.raises(ValidationFailed) as exc:
        calls.check_times(NOW, None, NOW - timedelta(seconds=1))
    assert exc.value.code == "invalid_call_times"


def test_telemarketing_leaves_out_opted_out_contacts_and_those_on_active_lists() -> None:
    people = [
        Candidate("c1", "k1", "+8613800138001"),
        Candidate("c1", "k2", "+8613800138002", marketing_opt_out=True),
        Candidate("c2", "k3", "+8613800138003"),  # on another active list
        Candidate("c3", "k4", None),
        Candidate("c4", "k5", "+8613800138005", deleted=True),
        Candidate("c1", "k1", "+8613800138001"),  # twice in the source
        Candidate("c5", None, "+8613800138006"),  # a customer without contacts
    ]
    kept, left_out = calls.eligible(people, "telemarketing", {"k3"})
    assert [c.contact_id or c.customer_id for c in kept] == ["k1", "c5"]
    assert left_out == {"marketing_opt_out": 1, "already_on_a_list": 2, "no_phone": 1,
                        "deleted": 1}


def test_a_service_list_calls_opted_out_contacts_too() -> None:
    kept, _ = calls.eligible([Candidate("c1", "k2", "+8613800138002", marketing_opt_out=True)],
                             "service", set())
    assert len(kept) == 1


def test_an_entry_is_done_when_reached_and_retried_until_unreached() -> None:
    assert calls.entry_after("reached", 0, None, NOW).status == "done"
    assert calls.entry_after("do_not_call", 0, None, NOW).status == "done"
    assert calls.entry_after("no_answer", 0, None, NOW).status == "pending"
    assert calls.entry_after("busy", 1, None, NOW).status == "pending"
    assert calls.entry_after("no_answer", 2, None, NOW).status == "unreached"


def test_a_callback_needs_a_time_to_come() -> None:
    later = NOW + timedelta(hours=2)
    assert calls.entry_after("callback", 0, later, NOW) == calls.EntryStep("callback", later)
    for when in (None, NOW - timedelta(minutes=1)):
        with pytest.raises(ValidationFailed) as exc:
            calls.entry_after("callback", 0, when, NOW)
        assert exc.value.code == "invalid_callback_time"
    with pytest.raises(ValidationFailed):
        calls.entry_after("reached", 0, later, NOW)


def test_the_report_counts_per_agent_and_hour_answer_rate_and_handling_time() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    rows = [CallFacts("a1", "inbound", NOW, True, 120),
            CallFacts("a1", "inbound", NOW + timedelta(minutes=10), False, None),
            CallFacts("a2", "outbound", NOW + timedelta(hours=1), True, 60)]
    report = calls.call_report(rows, tz, callbacks_due=1, callbacks_done=3)
    assert report["calls"] == 3 and report["inbound"] == 2
    assert report["answer_rate_percent"] == 50.0
    assert report["average_handling_seconds"] == 90.0
    assert report["callback_completion_percent"] == 75.0
    assert report["by_agent_hour"] == [
        {"agent_id": "a1", "hour": "2026-12-05T10:00", "calls": 2, "answered": 1},
        {"agent_id": "a2", "hour": "2026-12-05T11:00", "calls": 1, "answered": 1}]


def test_no_calls_no_rates() -> None:
    report = calls.call_report([], ZoneInfo("UTC"), 0, 0)
    assert report["answer_rate_percent"] is None
    assert report["average_handling_seconds"] is None


def test_a_signed_telephony_event_verifies_only_as_sent_and_in_time() -> None:
    secret = webhook_signing.new_secret()
    body = b'{"call_id":"c-1","event":"ringing"}'
    headers = webhook_signing.signed_headers(secret, "msg_1", int(NOW.timestamp()), body)

    def ok(body_: bytes = body, at: datetime = NOW, key: str = secret) -> bool:
        return webhook_signing.verify([key], headers["webhook-id"],
                                      headers["webhook-timestamp"],
                                      headers["webhook-signature"], body_, at)

    assert ok()
    assert not ok(body_=body.replace(b"ringing", b"ended"))
    assert not ok(key=webhook_signing.new_secret())
    assert not ok(at=NOW + timedelta(minutes=6))
    assert ok(at=NOW + timedelta(minutes=4))
