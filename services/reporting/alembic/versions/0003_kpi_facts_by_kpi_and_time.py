"""KPI facts indexed by (kpi, occurred_at): a report's passes over one KPI's facts in a period (won
amounts, durations) read an index range instead of every fact of the period. It replaces the index on
`kpi` alone, which is its leading column.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 07:15:00
"""

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('kpi_facts', schema=None) as batch_op:
        batch_op.create_index('ix_kpi_facts_kpi_occurred_at', ['kpi', 'occurred_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_kpi_facts_kpi'))


def downgrade() -> None:
    with op.batch_alter_table('kpi_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kpi_facts_kpi'), ['kpi'], unique=False)
        batch_op.drop_index('ix_kpi_facts_kpi_occurred_at')
