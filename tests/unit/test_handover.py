"""Every record a user holds, in every service, is declared as handed over or as staying
with its author (issue #28, defect 5): a service's new table that names a holder — an
owner, an assignee, a submitter — fails here until its handover is decided."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from crm_platform.handover import Handover, Owned, holder_columns, is_holder_column

SERVICES = sorted(p.parents[1].name for p in
                  (Path(__file__).resolve().parents[2] / "services").glob("*/db/models.py"))


def _declaration(service: str) -> Handover:
    try:
        module = importlib.import_module(f"services.{service}.use_cases.handover")
    except ModuleNotFoundError:
        pytest.fail(f"services/{service} declares no handover: add use_cases/handover.py "
                    "with HANDOVER (see crm_platform.handover)")
    declaration = module.HANDOVER
    assert isinstance(declaration, Handover)
    return declaration


def test_every_service_is_checked() -> None:
    assert {"customer", "sales", "billing"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_every_held_record_is_handed_over_or_stays_for_a_reason(service: str) -> None:
    metadata = importlib.import_module(f"services.{service}.db.models").Base.metadata
    declaration = _declaration(service)
    assert declaration.undeclared(metadata) == [], (
        f"{service}: these columns name the user holding a record, but the service's "
        "HANDOVER neither moves them nor says why they stay")
    assert declaration.unknown(metadata) == [], f"{service}: declared but not in the tables"
    for column, reason in declaration.stays.items():
        assert len(reason.strip()) > 20, f"{service}: {column} stays without a reason"


def test_the_records_the_issue_names_move() -> None:
    moved = {service: {o.table for o in _declaration(service).moves} for service in SERVICES}
    assert {"customers", "followups", "visit_plans"} <= moved["customer"]
    assert {"leads", "opportunities", "quotes", "orders"} <= moved["sales"]
    assert "expenses" in moved["billing"]


@pytest.mark.parametrize("name", ["owner_id", "assignee_id", "submitter_id", "author_id",
                                  "user_id", "technician_id", "account_owner_id", "assignee"])
def test_a_holder_column_is_recognised(name: str) -> None:
    assert is_holder_column(name)


@pytest.mark.parametrize("name", ["created_by", "decided_by", "approver_id", "actor_id",
                                  "owner_team_id", "submitter_team_id", "reviewer_id",
                                  "customer_id", "manager_id", "username"])
def test_history_and_other_columns_are_not_holders(name: str) -> None:
    assert not is_holder_column(name)


def test_a_declaration_names_either_states_or_a_condition() -> None:
    from services.sales.db.models import Lead

    with pytest.raises(ValueError):
        Owned(Lead)
    with pytest.raises(ValueError):
        Owned(Lead, states=frozenset({"new"}), open_when=lambda _today: Lead.status == "new")


def test_holder_columns_of_a_table() -> None:
    from services.billing.db.models import Expense

    assert holder_columns([Expense.__table__]) == ["expenses.submitter_id"]
