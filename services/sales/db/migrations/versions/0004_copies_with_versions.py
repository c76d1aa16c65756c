"""customer, staff and team copies as crm_platform.read_models declares them

The customer copy's ``version`` becomes ``source_version`` (0 for the rows copied
before, so the next event of each customer applies), with the snapshot's code and kind;
staff gain roles, contact details and the new-staff flag; ``teams`` is ``staff_teams``.

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
        _versioned(batch_op)
        batch_op.drop_column('version')
        batch_op.create_index(batch_op.f('ix_customers_owner_team_id'), ['owner_team_id'],
                              unique=False)
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roles', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('is_new_staff', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        _versioned(batch_op)
    op.rename_table('teams', 'staff_teams')
    with op.batch_alter_table('staff_teams', schema=None) as batch_op:
        _versioned(batch_op)


def downgrade() -> None:
    with op.batch_alter_table('staff_teams', schema=None) as batch_op:
        batch_op.drop_column('copied_at')
        batch_op.drop_column('source_version')
    op.rename_table('staff_teams', 'teams')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        for column in ('copied_at', 'source_version', 'is_new_staff', 'phone', 'email',
                       'roles'):
            batch_op.drop_column(column)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_owner_team_id'))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False,
                                      server_default='0'))
        for column in ('copied_at', 'source_version', 'kind', 'code'):
            batch_op.drop_column(column)
