"""The visibility rule in SQL (``db/queries.visible_condition``, used by lists, searches,
counts and the 360 view) shows exactly what the rule in Python (``domain/access.py``,
used by direct reads) allows: every level × owner × grant (by name, role, team; live
or expired) × reader (owner, named, manager, archive manager, admin, teammate, scoped
reader), on PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from crm_platform.db import session_factory
from sqlalchemy import select

from services.docs.db import queries
from services.docs.db.models import Document, Grant
from services.docs.domain import access
from tests.support.infra import migrated_engine

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)

READERS = {
    "owner": access.Reader("owner", frozenset({"sales_rep"}), "all", None, "t1"),
    "named": access.Reader("named", frozenset({"sales_rep"}), "all", None, "t2"),
    "teammate": access.Reader("mate", frozenset({"sales_rep"}), "all", None, "t1"),
    "finance": access.Reader("fin", frozenset({"finance"}), "all", None, None),
    "manager": access.Reader("boss", frozenset({"sales_manager"}), "all", None, "t0",
                             frozenset({"owner", "mate"})),
    "archivist": access.Reader("arc", frozenset({"archivist"}), "all", None, None),
    "admin": access.Reader("adm", frozenset({"admin"}), "all", None, None),
    "own scope": access.Reader("viewer", frozenset({"viewer"}), "own",
                               frozenset({"viewer"}), None),
    "team scope": access.Reader("lead", frozenset({"sales_rep"}), "team",
                                frozenset({"lead", "owner"}), "t1"),
}
GRANTS: dict[str, list[tuple[str, str, datetime | None]]] = {
    "none": [],
    "named live": [("user", "named", None)],
    "named lent": [("user", "named", NOW + timedelta(days=1))],
    "named expired": [("user", "named", NOW - timedelta(seconds=1))],
    "role finance": [("role", "finance", None)],
    "team t2": [("team", "t2", None)],
    "team t1 expired": [("team", "t1", NOW - timedelta(days=1))],
}


def test_lists_show_what_a_direct_read_allows() -> None:
    with migrated_engine("docs", "crm_docs_vis") as engine:
        sessions = session_factory(engine)
        facts: dict[str, access.DocumentFacts] = {}
        with sessions() as s:
            for level, grants in itertools.product(access.LEVELS, GRANTS):
                doc_id = str(uuid.uuid4())
                s.add(Document(id=doc_id, title=f"{level} {grants}", category="contract",
                               owner_id="owner", level=level, tags=[], meta={},
                               status="active", legal_hold=False,
                               retention_start=date(2026, 1, 1), search_text="",
                               tag_index="", created_by="owner", created_at=NOW,
                               updated_at=NOW, version=1))
                s.flush()
                for kind, grantee, expires in GRANTS[grants]:
                    s.add(Grant(id=str(uuid.uuid4()), document_id=doc_id, kind=kind,
                                grantee_id=grantee, expires_at=expires, granted_by="owner",
                                created_at=NOW))
                facts[doc_id] = access.DocumentFacts(
                    "owner", level, tuple(access.Grant(k, g, e)  # type: ignore[arg-type]
                                          for k, g, e in GRANTS[grants]))
            s.commit()
        with sessions() as s:
            for name, reader in READERS.items():
                in_sql = set(s.scalars(select(Document.id).where(
                    queries.visible_condition(reader, NOW))))
                in_python = {i for i, f in facts.items() if access.can_read(f, reader, NOW)}
                assert in_sql == in_python, name
            # and the rule bites: the admin sees no secret document it is not named on
            admin_sees = set(s.scalars(select(Document.level).where(
                queries.visible_condition(READERS["admin"], NOW))))
            assert "secret" not in admin_sees
