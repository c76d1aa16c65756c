"""Expenses (BIL-08): draft → submitted → approved, or rejected (with a comment) and then
edited and submitted again. Approved expenses are final. The approver is a manager of
the submitter's team (or a team above it), or someone with company-wide approval
(finance, admin); never the submitter."""

from __future__ import annotations

from typing import Literal

from crm_platform.errors import Forbidden, ValidationFailed
from crm_platform.states import StateMachine

ExpenseStatus = Literal["draft", "submitted", "approved", "rejected"]
ExpenseAction = Literal["submit", "approve", "reject"]
ExpenseKind = Literal["company", "personal"]
ExpenseCategory = Literal["travel", "lodging", "venue", "rent", "pr", "promotion", "other"]
ExpenseChannel = Literal["direct", "channel"]

EXPENSE = StateMachine("expense", {
    "edit": ("draft rejected", None),
    "submit": ("draft rejected", "submitted"),
    "approve": ("submitted", "approved"),
    "reject": ("submitted", "rejected"),
})


def check_submitter(submitter_id: str, actor_id: str) -> None:
    if submitter_id != actor_id:
        raise Forbidden("only the submitter submits or edits an expense",
                        code="not_the_submitter")


def check_approver(submitter_id: str, approver_id: str, manages_submitter: bool,
                   company_wide: bool) -> None:
    if approver_id == submitter_id:
        raise Forbidden("nobody approves their own expense", code="own_expense")
    if not (manages_submitter or company_wide):
        raise Forbidden("only the submitter's team manager approves this expense",
                        code="not_the_approver")


def check_decision(action: ExpenseAction, comment: str | None) -> None:
    if action == "reject" and not (comment or "").strip():
        raise ValidationFailed("say why the expense is rejected", code="comment_required")
