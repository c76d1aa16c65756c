"""users' locale: the language messages to them are written in (NTF-04)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 09:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("users", sa.Column("locale", sa.String(10), nullable=False,
                                     server_default="zh-CN"))


def downgrade() -> None:
    op.drop_column("users", "locale")
