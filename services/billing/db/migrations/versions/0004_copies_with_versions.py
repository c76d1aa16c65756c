"""customer, staff and team copies as crm_platform.read_models declares them

The customer copy keeps its ``source_version`` and gains the snapshot's code and kind;
``updated_at`` is ``copied_at``; staff and teams gain the version of the snapshot held
(0 for the rows copied before, so the next event of each record applies) and staff the
contact details and new-staff flag.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import crm_platform.db


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _versioned(batch_op: object) -> None:
    batch_op.add_column(sa.Column('source_version', sa.Integer(), nullable=False,  # type: ignore[attr-defined]
                                  server_default='0'))
    batch_op.add_column(sa.Column('copied_at', crm_platform.db.UTCDateTime(),  # type: ignore[attr-defined]
                                  nullable=False, server_default=sa.func.now()))


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=True))
        batch_op.alter_column('updated_at', new_column_name='copied_at')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('is_new_staff', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        _versioned(batch_op)
    with op.batch_alter_table('staff_teams', schema=None) as batch_op:
        _versioned(batch_op)


def downgrade() -> None:
    with op.batch_alter_table('staff_teams', schema=None) as batch_op:
        batch_op.drop_column('copied_at')
        batch_op.drop_column('source_version')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        for column in ('copied_at', 'source_version', 'is_new_staff', 'phone', 'email'):
            batch_op.drop_column(column)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.alter_column('copied_at', new_column_name='updated_at')
        batch_op.drop_column('kind')
        batch_op.drop_column('code')
