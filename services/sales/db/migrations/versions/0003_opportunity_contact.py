"""the contact an opportunity is with (a converted lead's contact person)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 10:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('opportunities', sa.Column('contact_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    op.drop_column('opportunities', 'contact_id')
