"""Which fields a customer list shows (sparse fieldsets, CUS-01).

A page of customers carries a summary of each — what a list view or a search box shows —
unless the caller names the fields it wants (``fields=name,owner,classification.tier``, or
``*`` for whole records), as CRM APIs do for lists (HubSpot's ``properties``, Zoho's
``fields``): the whole record is one ``GET /customers/{id}`` away, and every field of 50
rows is paid for by the database, the service, the broker, the gateway and the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from crm_platform.errors import ValidationFailed

# Stored under the same name as shown (the rest are composed from stored columns), in the
# order a customer shows them.
PLAIN_FIELDS = (
    "id", "code", "name", "kind", "phones", "emails", "tax_id", "industry", "address",
    "website", "legal_representative", "registered_capital", "business_scope", "size",
    "source", "credit_note", "category_ids", "tags", "attributes", "owner_id",
    "owner_team_id", "status", "merged_into_id", "version", "created_by", "created_at",
    "updated_at",
)
CLASSIFICATION_FIELDS = (
    "tier", "rfm_recency", "rfm_frequency", "rfm_monetary", "lifecycle", "stage",
    "volume_class", "paid_revenue", "paid_orders", "last_purchase_at", "last_visit_at",
    "last_followup_at",
)
REGION_COLUMNS = ("province", "city", "district", "region_band")
REGION_FIELDS = ("province", "city", "district", "band")
COMPOSED_FIELDS = ("region", "owner", "in_pool", "classification")
# the owner's name, read with the customer from the staff copy
OWNER_NAME_COLUMN = "owner_display_name"

# A list item unless the caller asks otherwise: who and what the customer is, whose it is,
# how it stands, and what a client needs to update it (version).
SUMMARY_FIELDS = (
    "id", "code", "name", "kind", "phones", "emails", "industry", "region", "owner",
    "in_pool", "status", "tags", "classification.tier", "classification.lifecycle",
    "classification.stage", "classification.last_followup_at", "version", "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class Selection:
    """The fields of each list item: plain ones in ``plain``, the composed ones by flag,
    the classification's parts in ``classification`` (empty: no classification)."""

    plain: tuple[str, ...]
    region: bool
    owner: bool
    in_pool: bool
    classification: tuple[str, ...]

    @property
    def columns(self) -> frozenset[str]:
        """The stored columns (and the owner's name) these fields are made of."""
        needed = set(self.plain) | set(self.classification)
        if self.region:
            needed |= set(REGION_COLUMNS)
        if self.owner or self.in_pool:
            needed.add("owner_id")
        if self.owner:
            needed.add(OWNER_NAME_COLUMN)
        return frozenset(needed)


KNOWN_NAMES = frozenset((*PLAIN_FIELDS, *COMPOSED_FIELDS,
                         *(f"classification.{name}" for name in CLASSIFICATION_FIELDS)))


@lru_cache(maxsize=256)
def selection(fields: str | None) -> Selection:
    """The selection a ``fields`` parameter names: comma-separated field names of a
    customer, ``classification.<part>`` for a part of its classification, ``*`` for all;
    none given: the summary. ``id`` always comes. An unknown name is refused (a typo
    would otherwise go unnoticed as a missing field)."""
    if fields is None:
        names = set(SUMMARY_FIELDS)
    else:
        names = {name.strip() for name in fields.split(",") if name.strip()}
        if not names:
            raise ValidationFailed("fields names no field", code="invalid_fields")
        if "*" in names:
            names = set(KNOWN_NAMES)
        unknown = sorted(names - KNOWN_NAMES)
        if unknown:
            raise ValidationFailed(
                f"unknown field(s): {', '.join(unknown)}; a customer has "
                f"{', '.join((*PLAIN_FIELDS, *COMPOSED_FIELDS))} and "
                "classification.<part>", code="invalid_fields")
    parts = (CLASSIFICATION_FIELDS if "classification" in names else
             tuple(p for p in CLASSIFICATION_FIELDS if f"classification.{p}" in names))
    names.add("id")  # an item always says which customer it is
    return Selection(
        plain=tuple(name for name in PLAIN_FIELDS if name in names),
        region="region" in names, owner="owner" in names, in_pool="in_pool" in names,
        classification=parts)


SUMMARY = selection(None)
WHOLE = selection("*")
