"""finer statistics on ``customers.search_text``

PostgreSQL estimates ``search_text LIKE '%term%'`` by matching the term against the
column's histogram. With the default 100 entries, a term held by 700 of a million
customers matches either no entry (estimate: 100 rows) or one (estimate: 1%, 10,000
rows) depending on ANALYZE's random sample; in the second case the planner walked
``ix_customers_created`` backwards through the table instead of using the trigram index
(52 ms for an admin, 278 ms behind a rep's visibility filter, against 4 ms). A
1,000-entry histogram estimates such terms within a factor of two, at about a tenth of a
millisecond of planning per search.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 16:10:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE customers ALTER COLUMN search_text SET STATISTICS 1000")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE customers ALTER COLUMN search_text SET STATISTICS -1")
