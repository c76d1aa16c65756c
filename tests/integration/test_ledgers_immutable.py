"""The points ledger (CUS-17) and stored-value entries (BIL-09) only grow, and no
balance goes below zero, in the database itself (migrations customer 0014, billing 0005):
a bug or a hand-written UPDATE cannot rewrite what was posted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from tests.support.infra import migrated_engine

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _refused(engine: Engine, sql: str) -> str:
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(sql))
    return str(caught.value)


def test_points_entries_cannot_change_and_a_card_cannot_go_below_zero() -> None:
    with migrated_engine("customer", "crm_ledger_customer") as engine:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO customers (id, code, name, kind, phones, emails, category_ids, "
                "tags, attributes, status, lifecycle, stage, volume_class, paid_revenue, "
                "paid_orders, last_activity_at, search_text, search_bigrams, "
                "search_digit_grams, search_letter_grams, version, created_at, updated_at) "
                "VALUES ('c1', 'C1', '会员', 'company', '[]', '[]', '[]', '[]', '{}', "
                "'active', 'new', 'prospect', 'occasional', 0, 0, :now, '', '{}', '{}', "
                "'{}', 1, :now, :now)"), {"now": NOW})
            conn.execute(text(
                "INSERT INTO member_cards (id, number, customer_id, status, balance, "
                "qualifying_points, version, created_at, updated_at) "
                "VALUES ('k1', 'M1', 'c1', 'active', 10, 10, 1, :now, :now)"), {"now": NOW})
            conn.execute(text(
                "INSERT INTO points_entries (id, card_id, customer_id, kind, points, "
                "qualifying, balance_after, created_at) "
                "VALUES ('e1', 'k1', 'c1', 'adjust', 10, true, 10, :now)"), {"now": NOW})
        assert "immutable" in _refused(engine, "UPDATE points_entries SET points = 99")
        assert "immutable" in _refused(engine, "DELETE FROM points_entries")
        assert "ck_member_cards_balance" in _refused(
            engine, "UPDATE member_cards SET balance = -1")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT points FROM points_entries")).scalar() == 10


def test_stored_value_entries_cannot_change_and_a_balance_cannot_go_below_zero() -> None:
    with migrated_engine("billing", "crm_ledger_billing") as engine:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO stored_value_accounts (id, customer_id, currency, balance, "
                "version, created_at, updated_at) VALUES ('a1', 'c1', 'CNY', 5, 1, :now, "
                ":now)"), {"now": NOW})
            conn.execute(text(
                "INSERT INTO stored_value_entries (id, account_id, kind, amount, "
                "balance_after, created_at) VALUES ('e1', 'a1', 'top_up', 5, 5, :now)"),
                {"now": NOW})
        assert "immutable" in _refused(engine, "UPDATE stored_value_entries SET amount = 9")
        assert "immutable" in _refused(engine, "DELETE FROM stored_value_entries")
        assert "ck_stored_value_balance" in _refused(
            engine, "UPDATE stored_value_accounts SET balance = -0.01")
        # the top-up bonus held is part of the balance, never below zero (#27)
        assert "ck_stored_value_bonus" in _refused(
            engine, "UPDATE stored_value_accounts SET bonus_balance = 5.01")
        assert "ck_stored_value_bonus" in _refused(
            engine, "UPDATE stored_value_accounts SET bonus_balance = -0.01")
