"""membership (CUS-17): member tiers, member cards, the points ledger

The ledger is append-only: on PostgreSQL a trigger refuses UPDATE and DELETE of its rows
(a mistake is undone by a counter-entry), and a card's balance cannot go below zero.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 22:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import crm_platform.db

revision: str = '0014'
down_revision: Union[str, None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'member_tiers',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('code', sa.String(30), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('threshold', sa.Integer(), nullable=False),
        sa.Column('multiplier', sa.Numeric(6, 2), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
        sa.UniqueConstraint('threshold'),
    )
    op.create_table(
        'member_cards',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('number', sa.String(30), nullable=False),
        sa.Column('customer_id', sa.String(36), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('tier_code', sa.String(30), nullable=True),
        sa.Column('balance', sa.Integer(), nullable=False),
        sa.Column('qualifying_points', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('issued_by', sa.String(36), nullable=True),
        sa.Column('created_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('number'),
        sa.UniqueConstraint('customer_id'),
        sa.CheckConstraint('balance >= 0', name='ck_member_cards_balance'),
    )
    op.create_index('ix_member_cards_created', 'member_cards', ['created_at', 'id'])
    op.create_index('ix_member_cards_tier_code', 'member_cards', ['tier_code'])
    op.create_table(
        'points_entries',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('card_id', sa.String(36), nullable=False),
        sa.Column('customer_id', sa.String(36), nullable=False),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('qualifying', sa.Boolean(), nullable=False),
        sa.Column('balance_after', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(500), nullable=True),
        sa.Column('payment_id', sa.String(36), nullable=True),
        sa.Column('amount', sa.Numeric(18, 2), nullable=True),
        sa.Column('currency', sa.String(3), nullable=True),
        sa.Column('source_event_id', sa.String(64), nullable=True),
        sa.Column('reverses_id', sa.String(36), nullable=True),
        sa.Column('created_by', sa.String(36), nullable=True),
        sa.Column('created_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['member_cards.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_event_id'),
        sa.UniqueConstraint('reverses_id'),
    )
    op.create_index('ix_points_entries_card', 'points_entries',
                    ['card_id', 'created_at', 'id'])
    op.create_index('ix_points_entries_payment_id', 'points_entries', ['payment_id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
            CREATE FUNCTION points_entries_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'points ledger entries are immutable: post a reversal';
            END $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER points_entries_immutable BEFORE UPDATE OR DELETE
            ON points_entries FOR EACH ROW EXECUTE FUNCTION points_entries_immutable()""")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS points_entries_immutable ON points_entries")
        op.execute("DROP FUNCTION IF EXISTS points_entries_immutable()")
    op.drop_table('points_entries')
    op.drop_table('member_cards')
    op.drop_table('member_tiers')
