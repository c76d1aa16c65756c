"""a call saved as a follow-up on its customer links to it; a call list from care
reminders names its care rule

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 23:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('calls', sa.Column('followup_id', sa.String(36), nullable=True))
    op.add_column('call_lists', sa.Column('care_rule_id', sa.String(36), nullable=True))


def downgrade() -> None:
    op.drop_column('call_lists', 'care_rule_id')
    op.drop_column('calls', 'followup_id')
