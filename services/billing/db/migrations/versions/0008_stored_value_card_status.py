"""stored value (BIL-09, issue #27): a card account follows its card's status

``card_status`` and ``card_version`` on an account of a member card, kept from
``member_card.changed``: a frozen or cancelled card's account takes no top-up and pays
nothing. Existing card accounts start as their card was when they were opened (active:
a cancelled card's account could not be opened) at version 0, so the card's next event
sets them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('stored_value_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_status', sa.String(20)))
        batch_op.add_column(sa.Column('card_version', sa.Integer(), nullable=False,
                                      server_default='0'))
    op.execute("UPDATE stored_value_accounts SET card_status = 'active' "
               "WHERE card_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('stored_value_accounts', schema=None) as batch_op:
        batch_op.drop_column('card_version')
        batch_op.drop_column('card_status')
