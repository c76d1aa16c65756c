"""Templates (NTF-04), rules (NTF-02), consent settings (NTF-05) and the holiday
calendar (NTF-03): what admins edit."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Caller
from crm_platform.db import insert_ignore, read_setting, utcnow, write_setting
from crm_platform.errors import Conflict, NotFound, ValidationFailed, check_version
from crm_platform.pagination import keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.notify import schemas
from services.notify.db.models import Holiday, Rule, Setting, Template
from services.notify.domain import consent, defaults, templates
from services.notify.use_cases.common import out
from services.notify.use_cases.planning import CONSENT_SETTING, payload_fields

DEFAULTS_SETTING = "defaults_added"


# -- templates ---------------------------------------------------------------------------------
def _check_template(bodies: dict[str, Any], event_type: str | None) -> None:
    problems = templates.check(bodies, payload_fields(event_type))
    if problems:
        raise ValidationFailed(
            "; ".join(f"{p.locale} {p.part}: {p.message}" for p in problems),
            code="invalid_template", extra={"errors": [p.as_error() for p in problems]})


def create_template(uow: UnitOfWork, caller: Caller, data: schemas.TemplateIn
                    ) -> dict[str, Any]:
    bodies = {k: v.model_dump(exclude_none=True) for k, v in data.bodies.items()}
    _check_template(bodies, data.event_type)
    now = utcnow()
    row = Template(id=str(uuid.uuid4()), name=data.name, event_type=data.event_type,
                   bodies=bodies, sms_template_code=data.sms_template_code,
                   wechat_template_id=data.wechat_template_id, version=1, created_at=now,
                   updated_at=now)
    uow.session.add(row)
    uow.commit()
    return out(schemas.Template, row)


def _template(uow: UnitOfWork, template_id: str, lock: bool = False) -> Template:
    row = uow.session.get(Template, template_id, with_for_update=lock or None)
    if row is None:
        raise NotFound("template not found", code="template_not_found")
    return row


def get_template(uow: UnitOfWork, template_id: str) -> dict[str, Any]:
    return out(schemas.Template, _template(uow, template_id))


def list_templates(uow: UnitOfWork, q: schemas.Query) -> dict[str, Any]:
    rows, nxt = keyset_page(uow.session, select(Template), q.limit, q.cursor,
                            [Template.created_at, Template.id], descending=False)
    return {"items": [out(schemas.Template, r) for r in rows], "next_cursor": nxt}


def update_template(uow: UnitOfWork, template_id: str, data: schemas.TemplateUpdate,
                    expected_version: int | None) -> dict[str, Any]:
    row = _template(uow, template_id, lock=True)
    check_version(row.version, expected_version, "template")
    changes = data.model_dump(exclude_unset=True)
    if "bodies" in changes:
        changes["bodies"] = {k: v.model_dump(exclude_none=True)
                             for k, v in data.bodies.items()}
    bodies = changes.get("bodies", row.bodies)
    _check_template(bodies, changes.get("event_type", row.event_type))
    for name, value in changes.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = utcnow()
    uow.commit()
    return out(schemas.Template, row)


def delete_template(uow: UnitOfWork, template_id: str) -> dict[str, Any]:
    row = _template(uow, template_id, lock=True)
    if uow.session.scalar(select(Rule.id).where(Rule.template_id == template_id).limit(1)):
        raise Conflict("rules use this template", code="template_in_use")
    gone = out(schemas.Template, row)
    uow.session.delete(row)
    uow.commit()
    return gone


def preview_template(uow: UnitOfWork, template_id: str, data: schemas.PreviewRequest
                     ) -> dict[str, Any]:
    row = _template(uow, template_id)
    context = {"event": {"id": "preview", "type": row.event_type or "preview",
                         "source": "/crm/notify", "subject": None, "time": None},
               "data": data.data, "owner": data.owner, "customer": data.customer,
               "holiday": data.holiday, "occurrence": {},
               "recipient": {"name": data.recipient_name, "kind": "contact",
                             "locale": data.locale},
               "unsubscribe_url": "https://crm.example.org/api/v1/unsubscribe/preview"}
    try:
        rendered = templates.render(row.bodies, data.locale, context)
    except Exception as exc:  # a sandbox refusal or a runtime error of the template
        raise ValidationFailed(f"the template does not render: {exc}",
                               code="template_render_failed") from exc
    return {"locale": rendered.locale, "subject": rendered.subject, "text": rendered.text,
            "html": rendered.html}


# -- rules -----------------------------------------------------------------------------------------
def _check_rule(uow: UnitOfWork, values: dict[str, Any]) -> None:
    template = uow.session.get(Template, values["template_id"])
    if template is None:
        raise ValidationFailed("no such template", code="invalid_template_id", extra={
            "errors": [{"field": "template_id", "message": "template not found"}]})
    condition = values.get("condition")
    if condition:
        why = templates.check_condition(condition, payload_fields(values["event_type"]))
        if why:
            raise ValidationFailed(f"condition: {why}", code="invalid_condition", extra={
                "errors": [{"field": "condition", "message": why}]})


def create_rule(uow: UnitOfWork, caller: Caller, data: schemas.RuleIn) -> dict[str, Any]:
    values = data.model_dump(mode="json")
    _check_rule(uow, values)
    now = utcnow()
    row = Rule(id=str(uuid.uuid4()), version=1, created_at=now, updated_at=now, **values)
    uow.session.add(row)
    uow.commit()
    return out(schemas.Rule, row)


def _rule(uow: UnitOfWork, rule_id: str, lock: bool = False) -> Rule:
    row = uow.session.get(Rule, rule_id, with_for_update=lock or None)
    if row is None:
        raise NotFound("rule not found", code="rule_not_found")
    return row


def get_rule(uow: UnitOfWork, rule_id: str) -> dict[str, Any]:
    return out(schemas.Rule, _rule(uow, rule_id))


def list_rules(uow: UnitOfWork, q: schemas.RuleQuery) -> dict[str, Any]:
    query = select(Rule)
    if q.event_type:
        query = query.where(Rule.event_type == q.event_type)
    rows, nxt = keyset_page(uow.session, query, q.limit, q.cursor,
                            [Rule.created_at, Rule.id], descending=False)
    return {"items": [out(schemas.Rule, r) for r in rows], "next_cursor": nxt}


def update_rule(uow: UnitOfWork, rule_id: str, data: schemas.RuleUpdate,
                expected_version: int | None) -> dict[str, Any]:
    row = _rule(uow, rule_id, lock=True)
    check_version(row.version, expected_version, "rule")
    changes = data.model_dump(mode="json", exclude_unset=True)
    merged = {"template_id": row.template_id, "event_type": row.event_type,
              "condition": row.condition, **changes}
    _check_rule(uow, merged)
    for name, value in changes.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = utcnow()
    uow.commit()
    return out(schemas.Rule, row)


def delete_rule(uow: UnitOfWork, rule_id: str) -> dict[str, Any]:
    row = _rule(uow, rule_id, lock=True)
    gone = out(schemas.Rule, row)
    uow.session.delete(row)
    uow.commit()
    return gone


def add_defaults(uow: UnitOfWork) -> int:
    """Add the default templates and rules not added before (see ``domain.defaults``)."""
    s = uow.session
    done = set(read_setting(s, Setting, DEFAULTS_SETTING, {"keys": []})["keys"])
    now = utcnow()
    added = 0
    ids: dict[str, str] = {}
    for t in defaults.TEMPLATES:
        existing = s.scalar(select(Template.id).where(Template.default_key == t.key))
        if existing:
            ids[t.key] = existing
            continue
        if f"template:{t.key}" in done:
            continue
        ids[t.key] = str(uuid.uuid4())
        insert_ignore(s, Template.__table__, {
            "id": ids[t.key], "name": t.name, "event_type": t.event_type, "bodies": t.bodies,
            "default_key": t.key, "version": 1, "created_at": now, "updated_at": now})
        done.add(f"template:{t.key}")
        added += 1
    for r in defaults.RULES:
        if f"rule:{r.key}" in done or r.template not in ids:
            continue
        insert_ignore(s, Rule.__table__, {
            "id": str(uuid.uuid4()), "name": r.name, "event_type": r.event_type,
            "condition": r.condition, "recipients": r.recipients, "channels": r.channels,
            "template_id": ids[r.template], "category": r.category, "timing": r.timing,
            "enabled": True, "default_key": r.key, "version": 1, "created_at": now,
            "updated_at": now})
        done.add(f"rule:{r.key}")
        added += 1
    write_setting(s, Setting, DEFAULTS_SETTING, {"keys": sorted(done)})
    uow.commit()
    return added


# -- consent settings ------------------------------------------------------------------------------
def get_consent_settings(uow: UnitOfWork) -> dict[str, Any]:
    return read_setting(uow.session, Setting, CONSENT_SETTING, consent.DEFAULT_SETTINGS)


def put_consent_settings(uow: UnitOfWork, data: schemas.ConsentSettings) -> dict[str, Any]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(data.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone {data.timezone!r}", code="invalid_timezone",
                               extra={"errors": [{"field": "timezone",
                                                  "message": "not an IANA time zone"}]}
                               ) from exc
    value = data.model_dump(mode="json")
    write_setting(uow.session, Setting, CONSENT_SETTING, value)
    uow.commit()
    return value


# -- holidays --------------------------------------------------------------------------------------
def create_holiday(uow: UnitOfWork, data: schemas.HolidayIn) -> dict[str, Any]:
    row = Holiday(id=str(uuid.uuid4()), date=data.date, name=data.name, version=1,
                  created_at=utcnow())
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict("that day already has a holiday", code="duplicate_holiday") from None
    uow.commit()
    return out(schemas.Holiday, row)


def list_holidays(uow: UnitOfWork, q: schemas.Query) -> dict[str, Any]:
    rows, nxt = keyset_page(uow.session, select(Holiday), q.limit, q.cursor,
                            [Holiday.created_at, Holiday.id], descending=False)
    return {"items": [out(schemas.Holiday, r) for r in rows], "next_cursor": nxt}


def delete_holiday(uow: UnitOfWork, holiday_id: str) -> dict[str, Any]:
    row = uow.session.get(Holiday, holiday_id, with_for_update=True)
    if row is None:
        raise NotFound("holiday not found", code="holiday_not_found")
    gone = out(schemas.Holiday, row)
    uow.session.delete(row)
    uow.commit()
    return gone
