"""Customer record rules: codes, what may change, and the change history."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm_platform import errors
from crm_platform.errors import ValidationFailed
from crm_platform.states import StateMachine

# archived and merged records are final: they keep their history and references
CUSTOMER = StateMachine("customer", {
    "archive": ("active", "archived"),
    "merge": ("active", "merged"),
})

# fields whose change is recorded in the history (everything a user can edit)
TRACKED_FIELDS = (
    "name", "phones", "emails", "tax_id", "industry", "province", "city", "district",
    "region_band", "address", "website", "legal_representative", "registered_capital",
    "business_scope", "size", "source", "credit_note", "category_ids", "tags", "attributes",
)


def customer_code(year: int, sequence: int) -> str:
    return f"C{year}{sequence:07d}"


def check_version(current: int, expected: int | None) -> None:
    errors.check_version(current, expected, "customer")


def clean_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        text = tag.strip()
        if not text:
            continue
        if len(text) > 50:
            raise ValidationFailed(f"tag too long: {text[:20]}…", code="invalid_tag")
        seen.setdefault(text, None)
    return list(seen)


def flatten_fields(data: dict[str, Any]) -> dict[str, Any]:
    """API shape → column shape (region object → columns, phone → phones)."""
    out = dict(data)
    if "region" in out:
        region = out.pop("region") or {}
        out["province"] = region.get("province")
        out["city"] = region.get("city")
        out["district"] = region.get("district")
        out["region_band"] = region.get("band")
    phone = out.pop("phone", None)
    if phone:
        out["phones"] = [phone, *[p for p in out.get("phones", []) if p != phone]]
    email = out.pop("email", None)
    if email:
        out["emails"] = [email, *[e for e in out.get("emails", []) if e != email]]
    if "tags" in out and out["tags"] is not None:
        out["tags"] = clean_tags(out["tags"])
    if isinstance(out.get("registered_capital"), (str, float, int)):
        out["registered_capital"] = Decimal(str(out["registered_capital"]))
    return out


def diff(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"from": old, "to": new}} for tracked fields that really change."""
    out: dict[str, dict[str, Any]] = {}
    for name in TRACKED_FIELDS:
        if name in changes and changes[name] != current.get(name):
            out[name] = {"from": _plain(current.get(name)), "to": _plain(changes[name])}
    return out


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def import_outcome(created: int, duplicates: int, invalid: int) -> tuple[str, str]:
    """What an import did, as ``outcome`` and a sentence: valid rows are created even when
    other rows are left out, and the summary says so rather than leave it to be guessed."""
    total = created + duplicates + invalid
    left_out = ", ".join(part for part in (
        f"{duplicates} duplicate{'s' if duplicates != 1 else ''}" if duplicates else "",
        f"{invalid} invalid" if invalid else "") if part)
    if total == 0:
        return "none_created", "the file has no rows: nothing was imported"
    if created == total:
        return "all_created", f"all {total} rows were imported"
    if created == 0:
        return "none_created", f"no row was imported ({left_out} of {total})"
    return "valid_rows_created", (
        f"{created} of {total} rows were imported and are kept; {left_out} left out "
        "(fix those rows and import them again)")
