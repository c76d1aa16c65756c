"""Lifecycles of the archive as data (DOC-02, DOC-04, DOC-05), and the rules around them
that a table cannot say."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from crm_platform.errors import Conflict, Forbidden, ValidationFailed
from crm_platform.states import StateMachine

# A version is immutable; only its status moves. Making one effective supersedes the
# effective one, so a document has at most one valid version at any time.
VERSION = StateMachine("document version", {
    "make_effective": ("draft", "effective"),
    "supersede": ("effective", "obsolete"),
    "destroy": ("draft effective obsolete", "destroyed"),
})

ACCESS_REQUEST = StateMachine("access request", {
    "approve": ("pending", "approved"),
    "reject": ("pending", "rejected"),
})

DESTRUCTION_REQUEST = StateMachine("destruction request", {
    "approve": ("pending", "approved"),
    "reject": ("pending", "rejected"),
})

DOCUMENT = StateMachine("document", {
    "edit": ("active", None),
    "destroy": ("active", "destroyed"),
})

MAX_BORROW_DAYS = 365


def borrow_expiry(decided_at: datetime, days: int) -> datetime:
    """A borrowing approved for ``days`` ends exactly that long after the approval."""
    if not 1 <= days <= MAX_BORROW_DAYS:
        raise ValidationFailed(f"a borrowing lasts 1 to {MAX_BORROW_DAYS} days",
                               code="invalid_days")
    return decided_at + timedelta(days=days)


def check_destruction_approver(requested_by: str, approver_id: str) -> None:
    """Four eyes: the archive manager who approves is not the one who asked."""
    if requested_by == approver_id:
        raise Forbidden("a destruction is approved by another archive manager than the "
                        "one who requested it", code="same_approver")


def check_no_legal_hold(legal_hold: bool) -> None:
    if legal_hold:
        raise Conflict("the document is under legal hold and cannot be destroyed",
                       code="legal_hold")


def retention_due(start: date, years: int | None) -> date | None:
    """The day a document's retention ends (None: kept for ever). 29 February ends on
    28 February in a year without it."""
    if years is None:
        return None
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def retention_cutoff(as_of: date, years: int) -> date:
    """Documents whose retention started on or before this day are due on ``as_of``."""
    try:
        return as_of.replace(year=as_of.year - years)
    except ValueError:  # 29 February back to a year without it
        return as_of.replace(year=as_of.year - years, day=28)
