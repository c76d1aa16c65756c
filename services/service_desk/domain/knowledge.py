"""Knowledge base (知识库, SVC-06): articles, standard answers and the product defect
library, each in versions with an effective window.

Each version is drafted, published, and eventually retired. A version is in effect on
a day when it is published and the day is in ``[effective_from, effective_to)``.
Publishing a version ends the window of the published versions it overlaps: an earlier
one runs until the new one takes effect, and one that would only take effect later is
retired (the new version replaces it).

Search works on terms: Chinese text has no spaces, so a run of Chinese characters gives
its overlapping pairs (发动机异响 → 发动 动机 机异 异响) and a single character stands
for itself; other text gives its lower-cased words. An article matches a query when it
shares a term with it, and ranks by how many it shares (title terms count double), so
"发动机异响" finds an article that only speaks of "异响".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from crm_platform.errors import ValidationFailed
from crm_platform.states import StateMachine

KB_VERSION = StateMachine("knowledge base version", {
    "edit": ("draft", None),
    "publish": ("draft", "published"),
    "retire": ("published", "retired"),
})

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"[{_CJK}]+|[^\\W{_CJK}_]+", re.UNICODE)
_IS_CJK = re.compile(f"[{_CJK}]")
MAX_TERMS = 2000  # of one version's text; a longer text's later terms are not indexed
MAX_QUERY_TERMS = 32


def terms(text: str, *, limit: int = MAX_TERMS) -> list[str]:
    """The distinct search terms of ``text``, in order of first appearance."""
    found: dict[str, None] = {}
    for run in _RUNS.findall(text.lower()):
        if _IS_CJK.match(run):
            pieces = [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
        else:
            pieces = [run[:40]]
        for piece in pieces:
            found.setdefault(piece, None)
            if len(found) >= limit:
                return list(found)
    return list(found)


def query_terms(q: str) -> list[str]:
    found = terms(q, limit=MAX_QUERY_TERMS)
    if not found:
        raise ValidationFailed("search for some words or characters", code="empty_query",
                               extra={"errors": [{"field": "q", "message": "no terms"}]})
    return found


def check_window(effective_from: date, effective_to: date | None) -> None:
    if effective_to is not None and effective_to <= effective_from:
        raise ValidationFailed("effective_to is after effective_from",
                               code="invalid_effective_window",
                               extra={"errors": [{"field": "effective_to",
                                                  "message": "not after effective_from"}]})


def in_effect(status: str, effective_from: date, effective_to: date | None,
              day: date) -> bool:
    return status == "published" and effective_from <= day and (
        effective_to is None or day < effective_to)


@dataclass(frozen=True)
class Window:
    number: int
    effective_from: date
    effective_to: date | None


@dataclass(frozen=True)
class Superseded:
    """What publishing does to another published version: a new end, or retirement."""

    number: int
    effective_to: date | None
    retire: bool


def supersede(published: Sequence[Window], new: Window) -> list[Superseded]:
    """The published versions the new one overlaps, and what becomes of each."""
    changes = []
    for old in published:
        overlaps = old.effective_to is None or old.effective_to > new.effective_from
        if new.effective_to is not None and old.effective_from >= new.effective_to:
            overlaps = False
        if not overlaps or old.number == new.number:
            continue
        if old.effective_from >= new.effective_from:
            changes.append(Superseded(old.number, old.effective_to, retire=True))
        else:
            changes.append(Superseded(old.number, new.effective_from, retire=False))
    return changes


def score(matched: Iterable[tuple[str, bool]]) -> int:
    """A match's rank from its matched ``(term, in_title)`` pairs."""
    return sum(2 if in_title else 1 for _, in_title in matched)


def draft_from_ticket(subject: str, description: str | None, resolution: str | None,
                      product_model: str | None) -> tuple[str, str]:
    """Title and body of an article drafted from a resolved ticket: the problem as the
    customer told it, and the solution as the agent resolved it."""
    problem = (description or subject).strip()
    solution = (resolution or "").strip()
    product = f"产品型号 / Product: {product_model}\n\n" if product_model else ""
    body = f"{product}问题 / Problem\n{problem}\n\n解决方法 / Solution\n{solution}\n"
    return subject.strip()[:200], body
