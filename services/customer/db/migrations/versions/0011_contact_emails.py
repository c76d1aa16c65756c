"""a contact's email addresses, a list like a customer's

A contact had ``phones`` (a list) but one ``email``, while a customer has ``phones`` and
``emails``: the contact's address moves into ``emails``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 12:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('contacts', sa.Column('emails', sa.JSON(), nullable=False,
                                        server_default='[]'))
    array = "json_build_array" if op.get_bind().dialect.name == "postgresql" else "json_array"
    op.execute(f"UPDATE contacts SET emails = {array}(email) WHERE email IS NOT NULL")
    with op.batch_alter_table('contacts') as batch:
        batch.alter_column('emails', server_default=None)
        batch.drop_column('email')


def downgrade() -> None:
    op.add_column('contacts', sa.Column('email', sa.String(length=320), nullable=True))
    first = ("emails ->> 0" if op.get_bind().dialect.name == "postgresql"
             else "json_extract(emails, '$[0]')")
    op.execute(f"UPDATE contacts SET email = {first}")
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('emails')
