"""contacts' locale and WeChat openid (how notifications reach them, NTF-01, NTF-04)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("locale", sa.String(10), nullable=False,
                                        server_default="zh-CN"))
    op.add_column("contacts", sa.Column("wechat_openid", sa.String(64)))


def downgrade() -> None:
    op.drop_column("contacts", "wechat_openid")
    op.drop_column("contacts", "locale")
