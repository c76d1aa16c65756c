"""amounts of sixteen digits before the point, as sales' and the clients' amounts have

Sales keeps money in NUMERIC(18, 2) and ``crm_platform.money`` accepts amounts below
10^16, but billing's NUMERIC(19, 4) held only 15 digits before the point: a confirmed
order of 10^15 or more failed billing's plan handler on every retry, and a payment of
that size was a 500. Widening the precision keeps the scale, so PostgreSQL changes the
type without rewriting the tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 07:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# table -> its amount columns, and whether each may be NULL
AMOUNTS: dict[str, dict[str, bool]] = {
    "credit_profiles": {"credit_limit": True},
    "expenses": {"amount": False},
    "invoices": {"amount": False, "tax_amount": False, "paid_amount": False},
    "payment_plans": {"amount": False},
    "payments": {"amount": False, "unallocated_amount": False, "refunded_amount": False},
    "allocations": {"amount": False},
    "dunning_log": {"outstanding": False},
    "installments": {"amount": False},
    "refunds": {"amount": False},
}


def _retype(old: sa.Numeric, new: sa.Numeric) -> None:
    for table, columns in AMOUNTS.items():
        # batch: SQLite (the laptop default) changes a column by copying the table
        with op.batch_alter_table(table) as batch:
            for column, nullable in columns.items():
                batch.alter_column(column, type_=new, existing_type=old,
                                   existing_nullable=nullable)


def upgrade() -> None:
    _retype(sa.Numeric(19, 4), sa.Numeric(20, 4))


def downgrade() -> None:
    _retype(sa.Numeric(20, 4), sa.Numeric(19, 4))
