"""search: finer statistics on search_text for PostgreSQL's planner

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:30:00

A list search is `search_text LIKE '%word%' ... ORDER BY created_at DESC LIMIT 51`. PostgreSQL picks
between the trigram index (fetch every match, then sort) and walking `created_at` backwards until 51
rows match; which is faster depends on how many rows match. With the default statistics target its
estimate for `LIKE '%word%'` is a guess (100 rows of a million for a word that 7,500 match), so broad
words took the index and fetched thousands of rows (48-233 ms on a million contacts). A target of
1,000 gives a pattern sample fine enough to estimate 0.1% matches: the same queries take 5-35 ms.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts ALTER COLUMN search_text SET STATISTICS 1000")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts ALTER COLUMN search_text SET STATISTICS -1")
