"""Erasure of a person's data on their request (PIPL art. 47, GDPR art. 17; #26 S8).

Two things are erased: a company customer's contact person, and a customer that is a
person (kind ``person``) — a company's record is about the company, not a natural person,
so it is refused (``not_a_person``).

An erased contact keeps its id, its customer and its place in the records that point at
it (an order's contact, a ticket's requester), so history stays whole; what identifies
the person — name, phones, e-mails, birthday, hobbies, notes, WeChat openid — is
replaced or cleared. The erasure itself stays on record (who, when, which contact) in
the audit log and the event, never with the data it removed. The same values are what
every other service's copy of the contact becomes (``contact.erased``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_platform.erasure import ERASED, erasable, strings
from crm_platform.errors import ValidationFailed

ERASED_NAME = ERASED


def erased_contact_fields() -> dict[str, Any]:
    """The values an erased contact's personal fields take. Marketing is switched off:
    a person who asked to be forgotten did not ask to be written to."""
    return {"name": ERASED_NAME, "title": None, "phones": [], "emails": [],
            "birthday": None, "hobbies": None, "notes": None, "wechat_openid": None,
            "is_decision_maker": False, "marketing_opt_out": True}


def is_erased(name: str) -> bool:
    return name == ERASED_NAME


def erased_customer_fields() -> dict[str, Any]:
    """The values an erased person customer's fields take: whatever may identify them or
    was written about them (free text, custom attributes, tags) is cleared; what is
    about the business (its owner, classification, money, province and city) stays."""
    return {"name": ERASED_NAME, "phones": [], "emails": [], "tax_id": None,
            "address": None, "district": None, "website": None,
            "legal_representative": None, "business_scope": None, "credit_note": None,
            "source": None, "attributes": {}, "tags": []}


def check_erasable(kind: str) -> None:
    """Only a natural person's record is erased on request."""
    if kind != "person":
        raise ValidationFailed("only a customer who is a person is erased on request; a "
                               "company's contact persons are erased one by one",
                               code="not_a_person")


def customer_is_erased(record: Mapping[str, Any]) -> bool:
    """Erased already (a second request changes nothing)."""
    return all(record.get(name) == value for name, value in erased_customer_fields().items())


def identifying_values(record: Mapping[str, Any]) -> list[str]:
    """The values by which a person customer (or contact) is recognised in text that
    does not point at the record — name, phones, e-mails, ID or tax number, address,
    website, WeChat openid — to be scrubbed wherever they were copied. Free text and
    attributes are cleared on the record but not searched for: a common word among them
    would scrub everyone's text."""
    return erasable(strings(*(record.get(name) for name in (
        "name", "phones", "emails", "tax_id", "address", "website",
        "legal_representative", "wechat_openid"))))
