"""Durations' seconds as a column of their own, and a narrow index over the duration facts only.

`kpi_facts.seconds` is generated from `dimensions` (stored on PostgreSQL, virtual on SQLite, which can
add only virtual generated columns), so every writer fills it without knowing it and no fact is
rewritten by code. The partial index holds the duration facts alone, with the columns a median or
p90 reads, so that a report reads them from the index without parsing any JSON.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:10:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# As reporting.models says it (both engines read `->>`: SQLite since 3.38).
DURATIONS = "kpi IN ('first_response_time', 'resolution_time')"
SECONDS = f"CASE WHEN {DURATIONS} THEN CAST(dimensions ->> 'seconds' AS DOUBLE PRECISION) END"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        column = f"seconds DOUBLE PRECISION GENERATED ALWAYS AS ({SECONDS}) STORED"
    else:
        column = f"seconds FLOAT GENERATED ALWAYS AS ({SECONDS}) VIRTUAL"
    op.execute(f"ALTER TABLE kpi_facts ADD COLUMN {column}")
    op.create_index(
        'ix_kpi_facts_durations', 'kpi_facts', ['kpi', 'occurred_at'],
        postgresql_include=['user_id', 'department_id', 'seconds'],
        postgresql_where=sa.text(DURATIONS), sqlite_where=sa.text(DURATIONS),
    )


def downgrade() -> None:
    op.drop_index('ix_kpi_facts_durations', table_name='kpi_facts')
    op.drop_column('kpi_facts', 'seconds')
