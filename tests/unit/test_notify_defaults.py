"""The default rules and templates a new installation starts with (NTF-02): every
template compiles against the fields of the event it is written for, every rule names
recipients, channels and a template that exist, and the service desk's and documents'
events reach the people the issues name."""

from __future__ import annotations

import pytest

from services.notify.domain import defaults, rules, templates
from services.notify.use_cases.planning import payload_fields

TEMPLATES = {t.key: t for t in defaults.TEMPLATES}
RULES = {r.key: r for r in defaults.RULES}


@pytest.mark.parametrize("template", defaults.TEMPLATES, ids=lambda t: t.key)
def test_every_default_template_uses_only_its_events_fields(
        template: defaults.DefaultTemplate) -> None:
    fields = payload_fields(template.event_type)
    if template.event_type and not template.event_type.startswith("schedule."):
        assert fields is not None, f"{template.event_type} is no event of the platform"
    for locale, parts in template.bodies.items():
        assert locale in templates.LOCALES
        for part, source in parts.items():
            assert templates.check_source(source, fields) is None, (locale, part)


@pytest.mark.parametrize("rule", defaults.RULES, ids=lambda r: r.key)
def test_every_default_rule_is_valid(rule: defaults.DefaultRule) -> None:
    assert rule.template in TEMPLATES
    assert set(rule.recipients) <= set(rules.RECIPIENTS)
    assert set(rule.channels) <= set(rules.CHANNELS)
    assert TEMPLATES[rule.template].event_type in (rule.event_type, None)
    if rule.condition:
        assert templates.check_condition(rule.condition,
                                         payload_fields(rule.event_type)) is None


@pytest.mark.parametrize(("event_type", "recipients"), [
    ("work_order.dispatched", {"technician"}),
    ("ticket.sla_breached", {"assignee", "escalated_to"}),
    ("ticket.escalated", {"escalated_to"}),
    ("document.access_requested", {"owner", "archivists"}),
    ("document.access_granted", {"requester"}),
    ("document.access_rejected", {"requester"}),
])
def test_the_service_desk_and_documents_events_have_defaults(
        event_type: str, recipients: set[str]) -> None:
    told = {role for r in defaults.RULES if r.event_type == event_type
            for role in r.recipients}
    assert told == recipients


def test_the_people_an_event_names_are_read_by_role() -> None:
    breach = {"assignee_id": "agent", "escalated_to_id": "lead", "customer_id": "c1"}
    assert rules.staff_ids("assignee", breach) == ["agent"]
    assert rules.staff_ids("escalated_to", breach) == ["lead"]
    assert rules.staff_ids("requester", {"requester_id": "u7"}) == ["u7"]
    assert rules.ROLE_GROUPS["archivists"] == "archivist"


def test_an_escalation_by_a_breach_is_told_once_by_the_breach_message() -> None:
    """The breach's message already goes to whoever the ticket escalated to."""
    condition = RULES["ticket_escalated"].condition
    assert condition is not None
    assert not templates.evaluate_condition(
        condition, {"data": {"reason": "sla_breached:dispatch"}})
    assert templates.evaluate_condition(condition, {"data": {"reason": "unhappy_callback"}})
    assert templates.evaluate_condition(condition, {"data": {"reason": "manual: 客户投诉"}})


def test_the_portal_invitation_carries_the_token_in_the_contacts_language() -> None:
    data = {"invite_token": "pi_secret", "username": "liu@example.com",
            "expires_at": "2026-12-12T08:00:00+00:00", "customer_name": "云帆科技",
            "accept_url": "https://portal.example.com/accept"}
    context = {"data": data, "recipient": {"name": "刘联系"}}
    zh = templates.render(TEMPLATES["portal_invite"].bodies, "zh-CN", context)
    en = templates.render(TEMPLATES["portal_invite"].bodies, "en", context)
    assert "pi_secret" in zh.text and "刘联系" in zh.text and "liu@example.com" in zh.text
    assert "pi_secret" in en.text and en.subject.startswith("Your invitation")
    assert "https://portal.example.com/accept" in en.text
    # no rule sends it: the token never comes from an event
    assert not [r for r in defaults.RULES if r.template == "portal_invite"]
