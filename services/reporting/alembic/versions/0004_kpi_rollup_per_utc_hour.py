"""The KPI rollup (`kpi_rollup`): facts counted per UTC hour, KPI, user, department and breakdown,
kept by the event batches from now on and filled here from the facts already recorded, in one
`INSERT ... SELECT` (the same keys and values as `reporting.rollup.key_of` / `values_of`).

On PostgreSQL the facts' (kpi, occurred_at) index also carries user_id, department_id and dimensions,
so that a report reads one KPI's facts of a period (durations, minutes outside whole hours) from the
index alone instead of one table page per fact.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:50:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = "kpi, hour, user_id, department_id, channel, direction, kind, currency"

# How each engine reads a fact's hour and a value of its JSON dimensions (NULL when absent).
POSTGRESQL = {
    "hour": "floor(extract(epoch FROM occurred_at) / 3600)::bigint",
    "text": "(dimensions->>'{name}')",
    "met": "(dimensions->>'met') = 'true'",
    "units": "round((dimensions->>'amount')::numeric * 10000)::bigint",
    "seconds": "(dimensions->>'seconds')::float8",
}
SQLITE = {
    "hour": "CAST(strftime('%s', occurred_at) AS INTEGER) / 3600",
    "text": "json_extract(dimensions, '$.{name}')",
    "met": "json_extract(dimensions, '$.met') = 1",
    "units": "CAST(round(json_extract(dimensions, '$.amount') * 10000) AS INTEGER)",
    "seconds": "CAST(json_extract(dimensions, '$.seconds') AS REAL)",
}


def backfill(sql: dict) -> str:
    def breakdown(kpi: str, name: str) -> str:
        return f"CASE WHEN kpi = '{kpi}' THEN coalesce({sql['text'].format(name=name)}, '') ELSE '' END AS {name}"

    priced = f"kpi = 'deals_won' AND {sql['text'].format(name='amount')} IS NOT NULL"
    return f"""
INSERT INTO kpi_rollup ({COLUMNS}, count, met, priced, amount, seconds)
SELECT {COLUMNS}, count(*), sum(met), sum(priced), sum(amount), sum(seconds)
FROM (SELECT kpi, {sql['hour']} AS hour, coalesce(user_id, '') AS user_id,
             coalesce(department_id, '') AS department_id,
             {breakdown('interactions', 'channel')}, {breakdown('interactions', 'direction')},
             {breakdown('campaign_responses', 'kind')}, {breakdown('deals_won', 'currency')},
             CASE WHEN kpi = 'sla_compliance' AND {sql['met']} THEN 1 ELSE 0 END AS met,
             CASE WHEN {priced} THEN 1 ELSE 0 END AS priced,
             CASE WHEN {priced} THEN {sql['units']} ELSE 0 END AS amount,
             CASE WHEN kpi IN ('first_response_time', 'resolution_time')
                  THEN coalesce({sql['seconds']}, 0) ELSE 0 END AS seconds
      FROM kpi_facts) AS facts
GROUP BY {COLUMNS}
"""


def upgrade() -> None:
    op.create_table('kpi_rollup',
    sa.Column('kpi', sa.String(length=50), nullable=False),
    sa.Column('hour', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('direction', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('currency', sa.String(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('met', sa.BigInteger(), nullable=False),
    sa.Column('priced', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('kpi', 'hour', 'user_id', 'department_id', 'channel', 'direction', 'kind', 'currency')
    )
    engine = op.get_bind().dialect.name
    op.execute(backfill(POSTGRESQL if engine == "postgresql" else SQLITE))
    if engine == "postgresql":
        op.drop_index('ix_kpi_facts_kpi_occurred_at', table_name='kpi_facts')
        op.create_index(
            'ix_kpi_facts_kpi_occurred_at', 'kpi_facts', ['kpi', 'occurred_at'],
            postgresql_include=['user_id', 'department_id', 'dimensions'],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_kpi_facts_kpi_occurred_at', table_name='kpi_facts')
        op.create_index('ix_kpi_facts_kpi_occurred_at', 'kpi_facts', ['kpi', 'occurred_at'])
    op.drop_table('kpi_rollup')
