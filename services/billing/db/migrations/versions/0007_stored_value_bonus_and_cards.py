"""stored value (BIL-09, issue #27): the top-up bonus held apart from the principal, and
accounts per member card

An account is the customer's own (one per currency, ``card_id`` null) or a member
card's (one per card and currency): the unique constraint on (customer, currency)
becomes two partial unique indexes. The entries' new columns are added with constant
defaults, which PostgreSQL keeps in the catalogue without touching a row (the entries'
immutability trigger stays as it is).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MONEY = sa.Numeric(20, 4)
# names the unnamed constraints SQLite reflects, so the batch can drop one
CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        op.drop_constraint('stored_value_accounts_customer_id_currency_key',
                           'stored_value_accounts', type_='unique')
        op.add_column('stored_value_accounts', sa.Column('card_id', sa.String(36)))
        op.add_column('stored_value_accounts', sa.Column('card_number', sa.String(30)))
        op.add_column('stored_value_accounts', sa.Column(
            'bonus_balance', MONEY, nullable=False, server_default='0'))
        op.create_check_constraint('ck_stored_value_bonus', 'stored_value_accounts',
                                   'bonus_balance >= 0 AND bonus_balance <= balance')
    else:
        with op.batch_alter_table('stored_value_accounts', recreate='always',
                                  naming_convention=CONVENTION) as batch:
            batch.drop_constraint('uq_stored_value_accounts_customer_id', type_='unique')
            batch.add_column(sa.Column('card_id', sa.String(36)))
            batch.add_column(sa.Column('card_number', sa.String(30)))
            batch.add_column(sa.Column('bonus_balance', MONEY, nullable=False,
                                       server_default='0'))
            batch.create_check_constraint('ck_stored_value_bonus',
                                          'bonus_balance >= 0 AND bonus_balance <= balance')
    op.create_index('uq_stored_value_accounts_customer', 'stored_value_accounts',
                    ['customer_id', 'currency'], unique=True,
                    postgresql_where=sa.text('card_id IS NULL'),
                    sqlite_where=sa.text('card_id IS NULL'))
    op.create_index('uq_stored_value_accounts_card', 'stored_value_accounts',
                    ['card_id', 'currency'], unique=True,
                    postgresql_where=sa.text('card_id IS NOT NULL'),
                    sqlite_where=sa.text('card_id IS NOT NULL'))
    op.add_column('stored_value_entries', sa.Column('bonus_amount', MONEY, nullable=False,
                                                    server_default='0'))
    op.add_column('stored_value_entries', sa.Column('bonus_after', MONEY, nullable=False,
                                                    server_default='0'))


def downgrade() -> None:
    op.drop_column('stored_value_entries', 'bonus_after')
    op.drop_column('stored_value_entries', 'bonus_amount')
    op.drop_index('uq_stored_value_accounts_card', table_name='stored_value_accounts')
    op.drop_index('uq_stored_value_accounts_customer', table_name='stored_value_accounts')
    with op.batch_alter_table('stored_value_accounts') as batch:
        batch.drop_constraint('ck_stored_value_bonus', type_='check')
        batch.drop_column('bonus_balance')
        batch.drop_column('card_number')
        batch.drop_column('card_id')
        batch.create_unique_constraint('stored_value_accounts_customer_id_currency_key',
                                       ['customer_id', 'currency'])
