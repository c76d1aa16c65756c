"""stored value (BIL-09): prepaid accounts and their immutable entries

On PostgreSQL a trigger refuses UPDATE and DELETE of entries; an account's balance
cannot go below zero.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 22:10:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import crm_platform.db

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MONEY = sa.Numeric(20, 4)


def upgrade() -> None:
    op.create_table(
        'stored_value_accounts',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('customer_id', sa.String(36), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('balance', MONEY, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(36), nullable=True),
        sa.Column('created_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('customer_id', 'currency'),
        sa.CheckConstraint('balance >= 0', name='ck_stored_value_balance'),
    )
    op.create_index('ix_stored_value_accounts_created', 'stored_value_accounts',
                    ['created_at', 'id'])
    op.create_table(
        'stored_value_entries',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('account_id', sa.String(36), nullable=False),
        sa.Column('kind', sa.String(15), nullable=False),
        sa.Column('amount', MONEY, nullable=False),
        sa.Column('balance_after', MONEY, nullable=False),
        sa.Column('method', sa.String(20), nullable=True),
        sa.Column('reference', sa.String(100), nullable=True),
        sa.Column('reason', sa.String(500), nullable=True),
        sa.Column('invoice_id', sa.String(36), nullable=True),
        sa.Column('payment_id', sa.String(36), nullable=True),
        sa.Column('created_by', sa.String(36), nullable=True),
        sa.Column('created_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['stored_value_accounts.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stored_value_entries_account', 'stored_value_entries',
                    ['account_id', 'created_at', 'id'])
    op.create_index('ix_stored_value_entries_payment_id', 'stored_value_entries',
                    ['payment_id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
            CREATE FUNCTION stored_value_entries_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'stored value entries are immutable';
            END $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER stored_value_entries_immutable BEFORE UPDATE OR DELETE
            ON stored_value_entries FOR EACH ROW
            EXECUTE FUNCTION stored_value_entries_immutable()""")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS stored_value_entries_immutable "
                   "ON stored_value_entries")
        op.execute("DROP FUNCTION IF EXISTS stored_value_entries_immutable()")
    op.drop_table('stored_value_entries')
    op.drop_table('stored_value_accounts')
