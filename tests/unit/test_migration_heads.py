"""Each database's migrations form one line: two branches adding a migration with the
same parent (work merged from two places) would leave ``upgrade head`` ambiguous."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from crm_platform.migrations import alembic_config, installed_components


@pytest.mark.parametrize("component", installed_components())
def test_one_head(component: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(component, "sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"{component} has several heads {heads}: renumber the newest"
