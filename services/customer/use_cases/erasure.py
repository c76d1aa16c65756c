"""Erasing a person customer on their request (#26 S8): ``erase_customer``.

The record keeps its id, code, owner, classification and status — orders, invoices and
tickets still point at it, so the business's history stays whole — and loses whatever
identifies the person (:func:`services.customer.domain.erasure.erased_customer_fields`).
Its identity keys are released, its search columns rebuilt from the anonymised record,
its contacts (if any) erased, its history and activities scrubbed, and so are the answers
the service kept for repeated calls. ``customer.erased`` (the anonymised snapshot) makes
every service anonymise its copy and what it holds of the person; the values erased go
to the gateway for its own records, never into an event or a kept answer."""

from __future__ import annotations

from typing import Any

from crm_platform.auth import Caller
from crm_platform.erasure import scrub_answers
from crm_platform.errors import Forbidden
from crm_platform.states import bump
from crm_platform.uow import UnitOfWork

from services.customer import events
from services.customer.db import erasure as sql
from services.customer.db.models import Customer
from services.customer.db.repositories import customer_work
from services.customer.domain import erasure
from services.customer.use_cases.contacts import anonymise_contact
from services.customer.use_cases.customers import customer_out, refresh_search, snapshot


def erase_customer(uow: UnitOfWork, caller: Caller, customer_id: str) -> dict[str, Any]:
    """The customer and the duplicates of the person merged into it (their records stay,
    status ``merged``, and hold the person's data as much as the survivor does). A second
    erasure of the same customer changes nothing and publishes nothing."""
    if not caller.has("customer:erase"):
        raise Forbidden("erasing personal data needs customer:erase",
                        code="permission_denied")
    work = customer_work(uow)
    repos, s = work.repos, uow.session
    c = repos.customers.visible(caller, customer_id, lock=True)
    erasure.check_erasable(c.kind)
    erased = [_erase(uow, caller, record) for record in [c, *sql.merged_into(s, c.id)]]
    if not any(erased):
        return customer_out(c, repos.people.name(c.owner_id))
    sql.scrub_history(s, c.id, uow.erased_values)
    sql.scrub_activities(s, c.id, uow.erased_values)
    scrub_answers(uow, uow.erased_values)
    uow.commit()
    # the erasure's audit entry records who erased which customer and when, never the
    # values it would otherwise note as the write's changes
    uow.changes.clear()
    return customer_out(c, repos.people.name(c.owner_id))


def _erase(uow: UnitOfWork, caller: Caller, c: Customer) -> bool:
    """One record anonymised, with its contacts, keys, search columns and history, and
    ``customer.erased`` for its copies; False if there was nothing left to erase."""
    work = customer_work(uow)
    repos, s = work.repos, uow.session
    fields = erasure.erased_customer_fields()
    held = {name: getattr(c, name) for name in fields}
    # a person has no contacts, unless kept from before: erased too
    contacts = [x for x in sql.contacts_of(s, c.id) if anonymise_contact(uow, caller, x)]
    if erasure.customer_is_erased(held) and not contacts:
        return False
    values = erasure.identifying_values(held)
    uow.erased_values += values
    for name, value in fields.items():
        setattr(c, name, value)
    repos.keys.release(c.id)  # the name, phones and e-mails no longer guard duplicates
    s.flush()
    refresh_search(work, c)
    bump(c)
    if c.merged_into_id is not None:  # the survivor's history and activities are scrubbed
        sql.scrub_history(s, c.id, values)  # by the caller; a duplicate's own here
        sql.scrub_activities(s, c.id, values)
    repos.history.add(c.id, uow.actor, "erased", {}, None)
    uow.publish(events.CustomerErased(**snapshot(c), erased_by=caller.user_id,
                                      erased_at=c.updated_at))
    return True
