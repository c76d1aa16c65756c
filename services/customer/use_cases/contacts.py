"""Contacts (CUS-03), categories (CUS-02), account teams (CUS-08) and assignment rules
(CUS-06): the customer service's configuration and people around a customer."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform import wire
from crm_platform.auth import Caller
from crm_platform.db import utcnow
from crm_platform.erasure import scrub_answers
from crm_platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_platform.pagination import PageQuery, keyset_page
from crm_platform.uow import UnitOfWork
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from services.customer import events, schemas
from services.customer.db import queries
from services.customer.db.models import (
    AccountTeamMember,
    AssignmentRuleRow,
    Contact,
    CustomerCategory,
    Staff,
)
from services.customer.db.repositories import customer_work
from services.customer.domain import customers as rules
from services.customer.domain import erasure
from services.customer.domain.identity_keys import normalize_email, normalize_phone
from services.customer.use_cases.customers import refresh_search, writable


def contact_out(c: Contact) -> dict[str, Any]:
    return schemas.Contact.model_validate(c, from_attributes=True).model_dump(mode="json")


def _contact_event(c: Contact, cls: type[events.ContactSnapshot]) -> events.ContactSnapshot:
    return cls(id=c.id, customer_id=c.customer_id, name=c.name, phones=c.phones,
               emails=c.emails, email=c.emails[0] if c.emails else None,
               birthday=c.birthday, marketing_opt_out=c.marketing_opt_out,
               locale=c.locale, wechat_openid=c.wechat_openid, version=c.version)


def _clean_contact(fields: dict[str, Any]) -> dict[str, Any]:
    if fields.get("phones") is not None:
        fields["phones"] = [normalize_phone(p) for p in fields["phones"]]
    email = fields.pop("email", None)
    if email:
        fields["emails"] = [email, *(fields.get("emails") or [])]
    if fields.get("emails") is not None:
        fields["emails"] = list(dict.fromkeys(normalize_email(e) for e in fields["emails"]))
    return fields


def create_contact(uow: UnitOfWork, caller: Caller, customer_id: str,
                   data: schemas.ContactIn, contact_id: str | None = None) -> dict[str, Any]:
    """``contact_id``: the id another service chose (sales, from the converted lead), so
    that a retried call finds the contact it made instead of adding it twice."""
    s = uow.session
    customer = writable(customer_work(uow), caller, customer_id)
    if customer.kind != "company":
        raise ValidationFailed("contacts belong to company customers", code="not_a_company")
    if contact_id is not None:
        made = s.get(Contact, contact_id)
        if made is not None and made.customer_id == customer_id:
            return contact_out(made)
    now = utcnow()
    contact = Contact(id=contact_id or str(uuid.uuid4()), customer_id=customer_id, version=1,
                      created_at=now, updated_at=now, **_clean_contact(data.model_dump()))
    s.add(contact)
    s.flush()
    refresh_search(customer_work(uow), customer)
    uow.publish(_contact_event(contact, events.ContactCreated))
    uow.commit()
    return contact_out(contact)


def list_contacts(uow: UnitOfWork, caller: Caller, customer_id: str,
                  page: PageQuery | None = None) -> dict[str, Any]:
    """A customer's contacts, first added first (``page`` None: all of them, as the
    360 view shows them)."""
    queries.get_visible(uow.session, caller, customer_id)
    query = select(Contact).where(Contact.customer_id == customer_id)
    if page is None:
        rows = uow.session.scalars(query.order_by(Contact.created_at, Contact.id))
        return {"items": [contact_out(c) for c in rows], "next_cursor": None}
    found, cursor = keyset_page(uow.session, query, page.limit, page.cursor,
                                (Contact.created_at, Contact.id))
    return {"items": [contact_out(c) for c in found], "next_cursor": cursor}


def _contact(uow: UnitOfWork, customer_id: str, contact_id: str) -> Contact:
    contact = uow.session.get(Contact, contact_id, with_for_update=True)
    if contact is None or contact.customer_id != customer_id:
        raise NotFound("contact not found", code="contact_not_found")
    return contact


def get_contact(uow: UnitOfWork, caller: Caller, customer_id: str,
                contact_id: str) -> dict[str, Any]:
    queries.get_visible(uow.session, caller, customer_id)
    return contact_out(_contact(uow, customer_id, contact_id))


def update_contact(uow: UnitOfWork, caller: Caller, customer_id: str, contact_id: str,
                   data: schemas.ContactUpdate, expected_version: int | None) -> dict[str, Any]:
    customer = writable(customer_work(uow), caller, customer_id)
    contact = _contact(uow, customer_id, contact_id)
    rules.check_version(contact.version, expected_version)
    for name, value in _clean_contact(data.model_dump(exclude_unset=True)).items():
        setattr(contact, name, value)
    contact.version += 1
    contact.updated_at = utcnow()
    uow.session.flush()
    refresh_search(customer_work(uow), customer)
    uow.publish(_contact_event(contact, events.ContactUpdated))
    uow.commit()
    return contact_out(contact)


def delete_contact(uow: UnitOfWork, caller: Caller, customer_id: str,
                   contact_id: str) -> dict[str, Any]:
    customer = writable(customer_work(uow), caller, customer_id)
    contact = _contact(uow, customer_id, contact_id)
    out = contact_out(contact)
    gone = _contact_event(contact, events.ContactDeleted)
    gone.version += 1
    uow.session.delete(contact)
    uow.session.flush()
    refresh_search(customer_work(uow), customer)
    uow.publish(gone)
    uow.commit()
    return out


def erase_contact(uow: UnitOfWork, caller: Caller, customer_id: str,
                  contact_id: str) -> dict[str, Any]:
    """Erase the contact's personal data on the person's request (#26 S8): anonymised
    here, in the customer's search columns, and (``contact.erased``) in every copy. An
    erased contact erased again changes nothing and publishes nothing."""
    if not caller.has("customer:erase"):
        raise Forbidden("erasing personal data needs customer:erase",
                        code="permission_denied")
    customer = customer_work(uow).repos.customers.visible(caller, customer_id, lock=True)
    contact = _contact(uow, customer_id, contact_id)
    if not anonymise_contact(uow, caller, contact):
        return contact_out(contact)
    scrub_answers(uow, uow.erased_values)
    uow.session.flush()
    refresh_search(customer_work(uow), customer)
    uow.commit()
    # the audit entry of an erasure records who erased which contact and when, never
    # the old values it would otherwise note as the write's changes
    uow.changes.pop(contact.id, None)
    return contact_out(contact)


def anonymise_contact(uow: UnitOfWork, caller: Caller, contact: Contact) -> bool:
    """The contact's personal fields erased and ``contact.erased`` published, in the
    caller's transaction (the customer's search columns are the caller's to refresh);
    False, and nothing done, for a contact erased already. Its values go to the gateway
    (``erased_values``), which scrubs its own records of them."""
    if erasure.is_erased(contact.name) and not contact.phones and not contact.emails:
        return False
    uow.erased_values += erasure.identifying_values(
        {"name": contact.name, "phones": contact.phones, "emails": contact.emails,
         "wechat_openid": contact.wechat_openid})
    for name, value in erasure.erased_contact_fields().items():
        setattr(contact, name, value)
    contact.version += 1
    contact.updated_at = now = utcnow()
    snapshot = _contact_event(contact, events.ContactSnapshot)
    uow.publish(events.ContactErased(**snapshot.model_dump(), erased_by=caller.user_id,
                                     erased_at=now))
    return True


# -- categories (CUS-02) ---------------------------------------------------------------
def category_out(c: CustomerCategory) -> dict[str, Any]:
    return schemas.Category.model_validate(c, from_attributes=True).model_dump(mode="json")


def _configurer(caller: Caller) -> None:
    if not caller.has("customer:configure"):
        raise Forbidden("managing categories needs customer:configure",
                        code="permission_denied")


def create_category(uow: UnitOfWork, caller: Caller, data: schemas.CategoryIn
                    ) -> dict[str, Any]:
    _configurer(caller)
    category = CustomerCategory(id=str(uuid.uuid4()), version=1, created_at=utcnow(),
                                **data.model_dump())
    uow.session.add(category)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict("a category with this name exists in that dimension",
                       code="duplicate_category") from None
    uow.commit()
    return category_out(category)


def update_category(uow: UnitOfWork, caller: Caller, category_id: str,
                    data: schemas.CategoryUpdate, expected_version: int | None
                    ) -> dict[str, Any]:
    _configurer(caller)
    category = uow.session.get(CustomerCategory, category_id, with_for_update=True)
    if category is None:
        raise NotFound("category not found")
    rules.check_version(category.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    retired = changes.pop("retired", None)
    for name, value in changes.items():
        setattr(category, name, value)
    if retired is True and category.retired_at is None:
        category.retired_at = utcnow()
    elif retired is False:
        category.retired_at = None
    category.version += 1
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict("a category with this name exists in that dimension",
                       code="duplicate_category") from None
    uow.commit()
    return category_out(category)


def list_categories(uow: UnitOfWork, query: schemas.CategoryQuery) -> dict[str, Any]:
    q = select(CustomerCategory)
    if query.dimension:
        q = q.where(CustomerCategory.dimension == query.dimension)
    if not query.include_retired:
        q = q.where(CustomerCategory.retired_at.is_(None))
    rows, cursor = keyset_page(uow.session, q, query.limit, query.cursor, (
        CustomerCategory.dimension, CustomerCategory.name, CustomerCategory.id))
    return {"items": [category_out(c) for c in rows], "next_cursor": cursor}


# -- account team (CUS-08) -------------------------------------------------------------
def account_team(uow: UnitOfWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    s = uow.session
    customer = queries.get_visible(s, caller, customer_id)
    rows = list(s.scalars(select(AccountTeamMember).where(
        AccountTeamMember.customer_id == customer_id).order_by(AccountTeamMember.added_at)))
    names = queries.staff_names(s, [customer.owner_id, *(r.user_id for r in rows)])
    owner = None
    if customer.owner_id:
        owner = {"id": customer.owner_id,
                 "display_name": names.get(customer.owner_id, customer.owner_id)}
    return {"customer_id": customer_id, "owner": owner, "members": [
        {"user_id": r.user_id, "display_name": names.get(r.user_id, r.user_id),
         "role": r.role, "added_at": wire.timestamp(r.added_at)} for r in rows]}


def add_team_member(uow: UnitOfWork, caller: Caller, customer_id: str,
                    data: schemas.AccountTeamMemberIn) -> dict[str, Any]:
    s = uow.session
    customer = writable(customer_work(uow), caller, customer_id)
    staff = s.get(Staff, data.user_id)
    if staff is None or not staff.is_active:
        raise ValidationFailed("unknown or inactive user", code="invalid_user")
    if data.user_id == customer.owner_id:
        raise Conflict("the owner is on the account team already", code="already_member")
    try:
        with s.begin_nested():
            s.add(AccountTeamMember(customer_id=customer_id, user_id=data.user_id,
                                    role=data.role, added_at=utcnow()))
    except IntegrityError:
        raise Conflict("already on the account team", code="already_member") from None
    uow.commit()
    return account_team(uow, caller, customer_id)


def remove_team_member(uow: UnitOfWork, caller: Caller, customer_id: str,
                       user_id: str) -> dict[str, Any]:
    writable(customer_work(uow), caller, customer_id)
    result = uow.session.execute(delete(AccountTeamMember).where(
        AccountTeamMember.customer_id == customer_id, AccountTeamMember.user_id == user_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("not on the account team")
    uow.commit()
    return account_team(uow, caller, customer_id)


# -- assignment rules (CUS-06) ---------------------------------------------------------
def rule_out(r: AssignmentRuleRow) -> dict[str, Any]:
    return schemas.AssignmentRule.model_validate(r, from_attributes=True).model_dump(
        mode="json")


def create_assignment_rule(uow: UnitOfWork, caller: Caller, data: schemas.AssignmentRuleIn
                           ) -> dict[str, Any]:
    _configurer(caller)
    typed = data.root
    rule = AssignmentRuleRow(id=str(uuid.uuid4()), kind=typed.kind,
                             config=typed.config.model_dump(exclude_none=True),
                             priority=typed.priority, active=typed.active, version=1,
                             created_at=utcnow())
    uow.session.add(rule)
    uow.commit()
    return rule_out(rule)


def update_assignment_rule(uow: UnitOfWork, caller: Caller, rule_id: str,
                           data: schemas.AssignmentRuleUpdate, expected_version: int | None
                           ) -> dict[str, Any]:
    _configurer(caller)
    rule = uow.session.get(AssignmentRuleRow, rule_id, with_for_update=True)
    if rule is None:
        raise NotFound("assignment rule not found")
    rules.check_version(rule.version, expected_version)
    changes = data.model_dump(exclude_unset=True)
    if "config" in changes:
        changes["config"] = schemas.rule_config(rule.kind, changes["config"])
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.version += 1
    uow.commit()
    return rule_out(rule)


def delete_assignment_rule(uow: UnitOfWork, caller: Caller, rule_id: str) -> dict[str, Any]:
    _configurer(caller)
    rule = uow.session.get(AssignmentRuleRow, rule_id, with_for_update=True)
    if rule is None:
        raise NotFound("assignment rule not found")
    out = rule_out(rule)
    uow.session.delete(rule)
    uow.commit()
    return out


def list_assignment_rules(uow: UnitOfWork, page: PageQuery) -> dict[str, Any]:
    rows, cursor = keyset_page(uow.session, select(AssignmentRuleRow), page.limit, page.cursor,
                               (AssignmentRuleRow.priority, AssignmentRuleRow.created_at,
                                AssignmentRuleRow.id))
    return {"items": [rule_out(r) for r in rows], "next_cursor": cursor}
