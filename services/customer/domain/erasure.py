"""Erasure of a person's data on their request (PIPL art. 47, GDPR art. 17; #26 S8).

An erased contact keeps its id, its customer and its place in the records that point at
it (an order's contact, a ticket's requester), so history stays whole; what identifies
the person — name, phones, e-mails, birthday, hobbies, notes, WeChat openid — is
replaced or cleared. The erasure itself stays on record (who, when, which contact) in
the audit log and the event, never with the data it removed. The same values are what
every other service's copy of the contact becomes (``contact.erased``)."""

from __future__ import annotations

from typing import Any

ERASED_NAME = "(erased)"


def erased_contact_fields() -> dict[str, Any]:
    """The values an erased contact's personal fields take. Marketing is switched off:
    a person who asked to be forgotten did not ask to be written to."""
    return {"name": ERASED_NAME, "title": None, "phones": [], "emails": [],
            "birthday": None, "hobbies": None, "notes": None, "wechat_openid": None,
            "is_decision_maker": False, "marketing_opt_out": True}


def is_erased(name: str) -> bool:
    return name == ERASED_NAME
