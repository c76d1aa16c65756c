"""Contacts found by name for the directory (CUS-18), within what the reader may see."""

from __future__ import annotations

from typing import Any

from crm_platform.auth import Caller
from crm_platform.errors import ValidationFailed
from crm_platform.uow import UnitOfWork

from services.customer.db import directory, search
from services.customer.domain.search import name_matches

# customer search pages read to find matching contacts: a customer is found by its
# contacts' names too, then each contact is tested; a term also found in many customers'
# own names may leave contacts of later pages out (the reader narrows the term)
PAGES_READ, PAGE_SIZE = 3, 50
MAX_CONTACTS = 50


def search_contacts(uow: UnitOfWork, caller: Caller, query: dict[str, Any] | None
                    ) -> dict[str, Any]:
    """Contacts whose name (characters, pinyin or initials), phone or e-mail holds the
    term, of customers the caller sees; each with its customer's name."""
    term = str((query or {}).get("q") or "").strip()
    if not term or len(term) > 100:
        raise ValidationFailed("q is 1 to 100 characters", code="validation_failed")
    limit = min(int((query or {}).get("limit") or 20), MAX_CONTACTS)
    s = uow.session
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(PAGES_READ):
        rows, cursor = search.list_customers(
            s, caller, {"q": term, "limit": PAGE_SIZE, "cursor": cursor},
            frozenset({"id", "name"}))
        names = {r.id: r.name for r in rows}
        for c in directory.contacts_of(s, list(names)):
            if name_matches(term, c.name, [*c.phones, *c.emails]):
                found.append({"id": c.id, "name": c.name, "title": c.title,
                              "customer_id": c.customer_id,
                              "customer_name": names[c.customer_id], "phones": c.phones,
                              "emails": c.emails,
                              "link": f"/api/v1/customers/{c.customer_id}/contacts/{c.id}"})
        if len(found) >= limit or cursor is None:
            break
    return {"items": found[:limit]}
