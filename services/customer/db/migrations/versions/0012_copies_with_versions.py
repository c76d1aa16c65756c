"""staff and team copies keep the snapshot's version (crm_platform.read_models)

Rows copied before get version 0, so the next event of each record applies.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import crm_platform.db


revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('source_version', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('copied_at', crm_platform.db.UTCDateTime(),
                                      nullable=False, server_default=sa.func.now()))
    with op.batch_alter_table('staff_teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_version', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('copied_at', crm_platform.db.UTCDateTime(),
                                      nullable=False, server_default=sa.func.now()))


def downgrade() -> None:
    with op.batch_alter_table('staff_teams', schema=None) as batch_op:
        batch_op.drop_column('copied_at')
        batch_op.drop_column('source_version')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('copied_at')
        batch_op.drop_column('source_version')
        batch_op.drop_column('phone')
        batch_op.drop_column('email')
