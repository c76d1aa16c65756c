"""The notification service's rules without I/O: templates and their sandbox, consent,
rule matching and timing, retries, webhook signatures and the SSRF guard."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from crm_platform import webhook_signing
from standardwebhooks import Webhook

from services.notify.channels.aliyun_sms import signature, string_to_sign
from services.notify.domain import consent, rules, templates, webhooks
from services.notify.domain.delivery import (
    after_failure,
    http_failure,
    network_failure,
    smtp_failure,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- templates ---------------------------------------------------------------------------------
def test_a_template_may_use_only_known_variables_and_the_events_fields() -> None:
    fields = ["number", "outstanding"]
    assert templates.check_source("{{ data.number }} {{ owner.display_name }}", fields) is None
    assert "secret" in (templates.check_source("{{ secret }}", fields) or "")
    assert "data.amount" in (templates.check_source("{{ data['amount'] }}", fields) or "")
    assert templates.check_source("{{ data.anything }}", None) is None  # unknown event
    assert "line 1" in (templates.check_source("{{ data.number ", fields) or "")


def test_template_problems_name_the_locale_and_part() -> None:
    problems = templates.check({"en": {"subject": "{{ x }}", "text": "ok"},
                                "fr": {"text": "bonjour"}}, None)
    assert [(p.locale, p.part) for p in problems] == [("en", "subject"), ("fr", "text")]


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(Exception, match="unsafe|not safely|access"):
        templates.render({"en": {"text": "{{ data.__class__.__mro__ }}"}}, "en",
                         {"data": {}})


def test_rendering_picks_the_recipients_locale_and_escapes_html_only() -> None:
    bodies = {"zh-CN": {"subject": "你好 {{ recipient.name }}", "text": "t"},
              "en": {"subject": "Hello\n {{ recipient.name }}", "text": "<{{ recipient.name }}>",
                     "html": "<p>{{ recipient.name }}</p>"}}
    out = templates.render(bodies, "en", {"recipient": {"name": "<b>"}})
    assert (out.locale, out.subject, out.text) == ("en", "Hello <b>", "<<b>>")
    assert out.html == "<p>&lt;b&gt;</p>"
    assert templates.render(bodies, "ja", {"recipient": {"name": "李"}}).locale == "zh-CN"


def test_conditions_are_sandboxed_expressions() -> None:
    assert templates.evaluate_condition("data.owner_id and data.previous_owner_id",
                                        {"data": {"owner_id": "a", "previous_owner_id": "b"}})
    assert not templates.evaluate_condition("data.escalated", {"data": {"escalated": False}})
    assert templates.check_condition("data.nope > 1", ["escalated"]) is not None
    assert templates.check_condition("data.escalated", ["escalated"]) is None


# -- consent ------------------------------------------------------------------------------------
POLICY = consent.policy_from(consent.DEFAULT_SETTINGS)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, 6, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_an_opt_out_refuses_marketing_and_care_but_not_transactional() -> None:
    for category in ("marketing", "care"):
        decision = consent.decide(POLICY, category=category, channel="email", opted_out=True,
                                  now=_at(12), sent_in_period=0)
        assert (decision.status, decision.reason) == ("suppressed", "opted_out")
    decision = consent.decide(POLICY, category="transactional", channel="email",
                              opted_out=True, now=_at(12), sent_in_period=0)
    assert decision.status == "queued"


def test_the_cap_suppresses_what_exceeds_it() -> None:
    assert consent.decide(POLICY, category="marketing", channel="sms", opted_out=False,
                          now=_at(12), sent_in_period=1).status == "queued"
    third = consent.decide(POLICY, category="marketing", channel="sms", opted_out=False,
                           now=_at(12), sent_in_period=2)
    assert third.status == "suppressed" and (third.reason or "").startswith("frequency_cap")


def test_quiet_hours_defer_to_the_morning_across_midnight() -> None:
    late = consent.decide(POLICY, category="marketing", channel="sms", opted_out=False,
                          now=_at(23, 30), sent_in_period=0)
    assert late.status == "queued" and late.reason == "quiet_hours"
    assert late.due_at.astimezone(SHANGHAI) == datetime(2026, 5, 7, 8, 0, tzinfo=SHANGHAI)
    early = consent.decide(POLICY, category="care", channel="email", opted_out=False,
                           now=_at(6), sent_in_period=0)
    assert early.due_at.astimezone(SHANGHAI) == datetime(2026, 5, 6, 8, 0, tzinfo=SHANGHAI)
    day = consent.decide(POLICY, category="marketing", channel="sms", opted_out=False,
                         now=_at(10), sent_in_period=0)
    assert day.reason is None and day.due_at == _at(10)
    staff = consent.decide(POLICY, category="transactional", channel="sms", opted_out=False,
                           now=_at(23, 30), sent_in_period=None)
    assert staff.reason is None


def test_no_address_is_a_suppression_with_its_reason() -> None:
    decision = consent.decide(POLICY, category="care", channel="wechat", opted_out=False,
                              now=_at(12), sent_in_period=None, has_address=False)
    assert (decision.status, decision.reason) == ("suppressed", "no_address")


# -- rules ---------------------------------------------------------------------------------------
def test_event_patterns() -> None:
    assert rules.matches("invoice.*", "invoice.issued")
    assert rules.matches("*", "ticket.sla_breached")
    assert not rules.matches("invoice.*", "invoices.issued")
    assert not rules.matches("invoice.issued", "invoice.paid")
    assert rules.valid_event_pattern("work_order.*")
    assert not rules.valid_event_pattern("invoice.*x") and not rules.valid_event_pattern("")


def test_recipients_are_read_from_the_payload_by_role() -> None:
    data = {"owner_id": "u1", "technician_id": "u2", "customer_id": "c1"}
    assert rules.staff_ids("technician", data) == ["u2"]
    assert rules.staff_ids("assignee", data) == []
    assert rules.customer_id_of("work_order.dispatched", data) == "c1"
    assert rules.customer_id_of("customer.owner_changed", {"id": "c9"}) == "c9"


def test_timing_from_a_date_field_at_a_local_time_and_repeats() -> None:
    timing = rules.Timing.from_json({"field": "delivered_on", "at": "10:00",
                                     "offset_minutes": 90 * 24 * 60, "repeat_days": 180})
    assert timing is not None
    first = timing.first({"delivered_on": "2026-01-01"}, "Asia/Shanghai")
    assert first == datetime(2026, 4, 1, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert timing.next_after(first) == first + timedelta(days=180)
    visit = rules.Timing(field="planned_at", offset_minutes=-60)
    assert visit.first({"planned_at": "2026-03-01T06:00:00+00:00"}, "Asia/Shanghai") == \
        datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    assert visit.first({}, "Asia/Shanghai") is None


def test_birthdays_on_29_february_are_kept_on_the_28th_in_other_years() -> None:
    assert rules.birthday_matches(date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert rules.birthday_matches(date(2028, 2, 28)) == [(2, 28)]
    assert rules.local_due(date(2026, 1, 1), time(9), "Asia/Shanghai") == \
        datetime(2026, 1, 1, 1, 0, tzinfo=UTC)


# -- retries ---------------------------------------------------------------------------------------
def test_retries_follow_the_kind_of_failure() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert after_failure(1, http_failure(503, "busy"), now, 30) is not None
    assert after_failure(1, network_failure("timed out"), now, 30) is not None
    assert after_failure(1, http_failure(400, "bad number"), now, 30) is None
    assert after_failure(1, smtp_failure(451, "try later"), now, 30) is not None
    assert after_failure(1, smtp_failure(550, "no such user"), now, 30) is None
    assert after_failure(6, http_failure(503, "busy"), now, 30, max_attempts=6) is None
    later = after_failure(3, http_failure(500, ""), now, 30)
    assert later is not None and timedelta(seconds=96) <= later - now <= timedelta(seconds=144)


# -- webhooks ------------------------------------------------------------------------------------
def test_signatures_verify_with_the_reference_library() -> None:
    secret = webhook_signing.new_secret()
    now = datetime.now(UTC)
    body = '{"type":"invoice.issued","data":{"amount":"12.50","name":"云帆"}}'.encode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": webhook_signing.signature_header(
                   [webhook_signing.new_secret(), secret], "msg_1", int(now.timestamp()), body)}
    assert Webhook(secret).verify(body, headers)["data"]["name"] == "云帆"
    assert webhook_signing.verify([secret], "msg_1", headers["webhook-timestamp"],
                           headers["webhook-signature"], body, now)
    assert not webhook_signing.verify([secret], "msg_1", headers["webhook-timestamp"],
                               headers["webhook-signature"], body + b" ", now)
    assert not webhook_signing.verify([secret], "msg_1", headers["webhook-timestamp"],
                               headers["webhook-signature"], body, now + timedelta(hours=1))


def test_the_retry_schedule_lasts_more_than_a_day_then_ends() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert sum(webhooks.RETRY_SCHEDULE) > 24 * 3600
    assert webhooks.next_attempt(1, now) == now + timedelta(seconds=5)
    assert webhooks.next_attempt(len(webhooks.RETRY_SCHEDULE) + 1, now) is None
    assert webhooks.should_disable(now - timedelta(days=6), now, timedelta(days=5))
    assert not webhooks.should_disable(None, now, timedelta(days=5))


def _resolver(table: dict[str, list[str]]) -> webhooks.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]
    return resolve


@pytest.mark.parametrize(("url", "addresses"), [
    ("http://intranet.example/", ["10.1.2.3"]),
    ("http://mixed.example/", ["93.184.216.34", "172.16.0.1"]),
    ("https://six.example/", ["fd12::1"]),
    ("http://mapped.example/", ["::ffff:192.168.0.1"]),
    ("http://cgnat.example/", ["100.64.0.1"]),
    ("http://aliyun-metadata.example/", ["100.100.100.200"]),
])
def test_names_resolving_inside_are_refused(url: str, addresses: list[str]) -> None:
    host = url.split("/")[2]
    assert webhooks.refusal(url, [], _resolver({host: addresses})) is not None


def test_public_and_allowed_hosts_pass() -> None:
    resolve = _resolver({"hooks.example": ["93.184.216.34"], "erp.local": ["10.0.0.8"]})
    assert webhooks.refusal("https://hooks.example/in", [], resolve) is None
    assert webhooks.refusal("http://erp.local:8080/in", ["erp.local:8080"], resolve) is None
    assert webhooks.refusal("http://erp.local:8081/in", ["erp.local:8080"], resolve)
    assert webhooks.refusal("http://nowhere.example/", [], resolve)  # does not resolve


# -- provider signatures --------------------------------------------------------------------------
def test_the_aliyun_signature_matches_the_documented_example() -> None:
    # the worked example of Alibaba Cloud's RPC signature documentation (AccessKeySecret
    # "testsecret"): the string to sign and the signature it gives
    params = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
              "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
              "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z",
              "Version": "2014-05-26"}
    assert string_to_sign(params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26")
    assert signature("testsecret", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    expected = base64.b64encode(hmac.new(b"testsecret&", string_to_sign(params).encode(),
                                         hashlib.sha1).digest()).decode()
    assert signature("testsecret", params) == expected
