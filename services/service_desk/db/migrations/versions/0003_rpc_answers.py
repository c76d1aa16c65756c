"""answers of RPCs made under an Idempotency-Key

A call made again with the same key (its answer lost on the way back to the client) is
answered from here and not applied twice.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 23:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import crm_platform.db

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'rpc_answers',
        sa.Column('key', sa.String(64), nullable=False),
        sa.Column('method', sa.String(200), nullable=False),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('created_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index(op.f('ix_rpc_answers_created_at'), 'rpc_answers', ['created_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_rpc_answers_created_at'), table_name='rpc_answers')
    op.drop_table('rpc_answers')
