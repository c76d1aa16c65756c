"""credit reserved by a confirmation until its payment plan is made

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 13:00:00
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
        'credit_reservations',
        sa.Column('order_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('amount', sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reserved_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('order_id'),
    )
    op.create_index(op.f('ix_credit_reservations_customer_id'), 'credit_reservations',
                    ['customer_id'])
    op.create_index(op.f('ix_credit_reservations_reserved_at'), 'credit_reservations',
                    ['reserved_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_credit_reservations_reserved_at'), table_name='credit_reservations')
    op.drop_index(op.f('ix_credit_reservations_customer_id'), table_name='credit_reservations')
    op.drop_table('credit_reservations')
