"""The handover machinery (``crm_platform.handover``) over the sales service's own
declaration, on PostgreSQL and SQLite: open work moves with its team, version and
timestamp, closed work stays, and the funnel rollups follow the opportunities."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from crm_platform.db import session_factory
from crm_platform.uow import UnitOfWork
from sqlalchemy import Engine, select

from services.sales.db import rollups
from services.sales.db.models import (
    MESSAGING,
    Campaign,
    Lead,
    OpenPipelineTotal,
    Opportunity,
    Staff,
)
from services.sales.use_cases import handover
from tests.support.infra import engine_fixture

pytestmark = pytest.mark.integration

LEAVER, SUCCESSOR, TEAM = "u-leaver", "u-successor", "t-north"
THEN = datetime(2026, 1, 5, tzinfo=UTC)


engine = engine_fixture("sales", "crm_handover")


def _uow(engine: Engine) -> UnitOfWork:
    return UnitOfWork(session_factory(engine), MESSAGING, "sales")


def _lead(status: str) -> Lead:
    return Lead(id=str(uuid.uuid4()), name=f"线索-{status}", status=status, owner_id=LEAVER,
                owner_team_id="t-old", created_by=LEAVER, created_at=THEN, updated_at=THEN,
                version=3)


def _opportunity(status: str) -> Opportunity:
    return Opportunity(id=str(uuid.uuid4()), name=f"商机-{status}", customer_id="c-1",
                       owner_id=LEAVER, amount=Decimal("1000.00"), currency="CNY",
                       stage_id="s-1", status=status, created_at=THEN, updated_at=THEN,
                       closed_at=None if status == "open" else THEN, version=1)


def test_open_work_moves_and_closed_work_stays(engine: Engine) -> None:
    leads = {status: _lead(status) for status in
             ("new", "contacted", "qualified", "disqualified", "converted")}
    opportunities = {status: _opportunity(status) for status in ("open", "won")}
    campaigns = {ended: Campaign(id=str(uuid.uuid4()), name="展会", kind="exhibition",
                                 currency="CNY", budget=Decimal("0"), owner_id=LEAVER,
                                 end_date=date(2025, 1, 1) if ended else None)
                 for ended in (True, False)}
    with _uow(engine) as uow:
        s = uow.session
        s.add_all([*leads.values(), *opportunities.values(), *campaigns.values(),
                   Staff(id=SUCCESSOR, display_name="接手人", team_id=TEAM, is_active=True),
                   Staff(id=LEAVER, display_name="离职者", is_active=True)])
        s.flush()
        for o in opportunities.values():
            rollups.move(s, None, rollups.snapshot(o))
        uow.commit()

    with _uow(engine) as uow:
        handover.on_user_deactivated(uow, {"id": LEAVER, "successor_id": SUCCESSOR})
        uow.commit()

    with _uow(engine) as uow:
        s = uow.session
        for status, lead in leads.items():
            row = s.get(Lead, lead.id)
            assert row is not None
            if status in ("new", "contacted", "qualified"):
                assert (row.owner_id, row.owner_team_id, row.version) == (SUCCESSOR, TEAM, 4)
                assert row.updated_at > THEN
            else:
                assert (row.owner_id, row.owner_team_id, row.version) == (LEAVER, "t-old", 3)
        moved = s.get(Opportunity, opportunities["open"].id)
        kept = s.get(Opportunity, opportunities["won"].id)
        assert moved is not None and moved.owner_id == SUCCESSOR
        assert kept is not None and kept.owner_id == LEAVER
        funnel = {row.owner_id: row.count for row in s.scalars(select(OpenPipelineTotal))}
        assert funnel.get(LEAVER, 0) == 0 and funnel[SUCCESSOR] == 1
        running, ended = (s.get(Campaign, campaigns[False].id),
                          s.get(Campaign, campaigns[True].id))
        assert running is not None and running.owner_id == SUCCESSOR
        assert ended is not None and ended.owner_id == LEAVER
        leaver = s.get(Staff, LEAVER)
        assert leaver is not None and leaver.is_active is False
