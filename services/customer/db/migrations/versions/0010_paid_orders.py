"""paid orders: an order counts for the customer's classification once it is paid

``paid_orders`` counted every confirmed order, paid or not (a customer showed two paid
orders and no paid revenue). It now counts the orders billing allocated money to, kept
per order in ``paid_orders`` so a refund can take one back. Counts made before this
revision cannot be told apart; where no money was ever received they are reset.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 11:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'paid_orders',
        sa.Column('order_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.PrimaryKeyConstraint('order_id'),
    )
    op.create_index(op.f('ix_paid_orders_customer_id'), 'paid_orders', ['customer_id'])
    op.execute("UPDATE customers SET paid_orders = 0 WHERE paid_revenue = 0 AND paid_orders <> 0")


def downgrade() -> None:
    op.drop_index(op.f('ix_paid_orders_customer_id'), table_name='paid_orders')
    op.drop_table('paid_orders')
