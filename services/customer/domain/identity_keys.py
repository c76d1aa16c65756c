"""Duplicate guard keys (CUS-04): what makes two customer records the same customer.

- a company: its normalized name, or its tax id;
- any customer: a normalized phone (E.164, default region CN) or email.
Two people may share a name, so a person's name is no key. Every key is stored in a
table with a unique constraint, so the database refuses the second of two racing creates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import phonenumbers
from crm_platform.errors import ValidationFailed
from crm_platform.inputs import phone_problem

# Legal-form suffixes that do not distinguish one company from another (longest first).
_COMPANY_SUFFIXES = sorted(
    [
        "股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "公司", "分公司",
        "co ltd", "co limited", "company limited", "limited", "ltd", "inc", "incorporated",
        "corp", "corporation", "llc", "gmbh", "plc", "co",
    ],
    key=len,
    reverse=True,
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize_company_name(name: str) -> str:
    """Case, width, spaces, punctuation and legal suffixes do not matter.

    ``ＡＢＣ 科技有限公司`` == ``abc科技`` == ``ABC Technology Co., Ltd.`` is *not* claimed
    (translation is out of scope), but ``ABC Tech Co., Ltd.`` == ``abc tech``.
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    # brackets often hold a city: 华为技术(深圳)有限公司 vs 华为技术（深圳）有限公司
    words = _PUNCT.sub(" ", text).strip()
    changed = True
    while changed and words:
        changed = False
        for suffix in _COMPANY_SUFFIXES:
            if words.endswith(suffix) and len(words) > len(suffix):
                before = words[: -len(suffix)]
                # latin suffixes must stand as their own word
                if suffix.isascii() and before and not before.endswith(" "):
                    continue
                words = before.strip()
                changed = True
                break
    return words.replace(" ", "")


# A Chinese mobile number as people type it: 13800138000, 138 0013 8000, 138-0013-8000,
# +86 138 0013 8000. For these, phonenumbers' answer is always +86 and the 11 digits
# (CN's carrier-selection prefixes 11xx, 12xx and 179xx are outside 1[3-9] but 179, which
# falls back), at a fortieth of its cost: parsing was most of an import's key building.
_CN_MOBILE = re.compile(r"(?:\+86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})")


def normalize_phone(raw: str, default_region: str = "CN") -> str:
    """E.164, e.g. ``138 0013 8000`` → ``+8613800138000``; invalid numbers are refused."""
    text = unicodedata.normalize("NFKC", raw).strip()
    problem = phone_problem(text)
    if problem:
        raise ValidationFailed(f"not a phone number: {raw!r}: {problem}", code="invalid_phone")
    if default_region == "CN":
        mobile = _CN_MOBILE.fullmatch(text)
        if mobile is not None and mobile[1] != "179":
            return "+86" + "".join(mobile.groups())
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(f"not a phone number: {raw!r}", code="invalid_phone") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValidationFailed(f"not a possible phone number: {raw!r}", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not _EMAIL.match(text):
        raise ValidationFailed(f"not an email address: {raw!r}", code="invalid_email")
    return text


def normalize_tax_id(raw: str) -> str:
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if not 8 <= len(text) <= 30:
        raise ValidationFailed(f"not a tax id: {raw!r}", code="invalid_tax_id")
    return text


def identity_keys(
    kind: str,
    name: str,
    tax_id: str | None,
    phones: Iterable[str],
    emails: Iterable[str],
) -> set[str]:
    """The keys a customer record claims; each may belong to one customer only."""
    keys: set[str] = set()
    if kind == "company":
        normalized = normalize_company_name(name)
        if normalized:
            keys.add(f"name:{normalized}")
        if tax_id:
            keys.add(f"tax:{normalize_tax_id(tax_id)}")
    keys.update(f"phone:{normalize_phone(p)}" for p in phones if p)
    keys.update(f"email:{normalize_email(e)}" for e in emails if e)
    return keys
