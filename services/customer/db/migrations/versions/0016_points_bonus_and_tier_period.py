"""membership (CUS-17, issue #27): campaign bonus rules, an earn entry's bonus part, the
value a card's tier was last set from

The new ledger columns are added with constant defaults, which PostgreSQL stores in the
catalogue without rewriting (or updating) a row, so the ledger's immutability trigger
is not touched.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 02:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import crm_platform.db

revision: str = '0016'
down_revision: Union[str, None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'points_bonus_rules',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('campaign_id', sa.String(36), nullable=True),
        sa.Column('campaign_name', sa.String(200), nullable=True),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('multiplier', sa.Numeric(6, 2), nullable=True),
        sa.Column('fixed_points', sa.Integer(), nullable=False),
        sa.Column('min_amount', sa.Numeric(18, 2), nullable=True),
        sa.Column('tiers', sa.JSON(), nullable=False),
        sa.Column('segment_id', sa.String(36), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(36), nullable=True),
        sa.Column('created_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', crm_platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_points_bonus_rules_campaign_id', 'points_bonus_rules',
                    ['campaign_id'])
    op.add_column('points_entries', sa.Column('bonus_points', sa.Integer(), nullable=False,
                                              server_default='0'))
    op.add_column('points_entries', sa.Column('bonus_rules', sa.JSON(), nullable=True))
    op.add_column('member_cards', sa.Column('tier_value', sa.Integer(), nullable=False,
                                            server_default='0'))
    # until now the tier followed the qualifying points of all time
    op.execute("UPDATE member_cards SET tier_value = qualifying_points")


def downgrade() -> None:
    op.drop_column('member_cards', 'tier_value')
    op.drop_column('points_entries', 'bonus_rules')
    op.drop_column('points_entries', 'bonus_points')
    op.drop_index('ix_points_bonus_rules_campaign_id', table_name='points_bonus_rules')
    op.drop_table('points_bonus_rules')
