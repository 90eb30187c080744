"""Reporting read models (facts per entity, snapshots, deal stages, users, freshness) and plans.

`facts` (one row per event) becomes `kpi_facts` (one row per entity and KPI, replaced as the entity
changes). Existing facts are carried over as they are; `python -m reporting.rebuild` re-derives
everything from the services' event history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:15:55.295564
"""

from alembic import op
import sqlalchemy as sa
import crm_kernel.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deal_stages',
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('deal_id', sa.String(length=32), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('entered_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('deal_stages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deal_stages_deal_id'), ['deal_id'], unique=False)

    op.create_table('entity_snapshots',
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('as_of', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('entity', sa.JSON(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )
    op.create_table('freshness',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_occurred_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('kpi_facts',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('kpi', sa.String(length=50), nullable=False),
    sa.Column('occurred_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('department_id', sa.String(length=32), nullable=True),
    sa.Column('dimensions', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kpi_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kpi_facts_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kpi_facts_kpi'), ['kpi'], unique=False)
        batch_op.create_index(batch_op.f('ix_kpi_facts_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_kpi_facts_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_kpi_facts_user_id'), ['user_id'], unique=False)

    op.create_table('plans',
    sa.Column('metric', sa.String(length=50), nullable=False),
    sa.Column('period', sa.String(length=30), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=True),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('value', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('deleted_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plans_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_period'), ['period'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_updated_at'), ['updated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_user_id'), ['user_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_department_id'), ['department_id'], unique=False)

    op.execute(
        "INSERT INTO kpi_facts (id, source, kpi, occurred_at, user_id, department_id, dimensions) "
        "SELECT kpi || ':event:' || event_id, 'event:' || event_id, kpi, occurred_at, user_id, department_id, "
        "dimensions FROM facts"
    )
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_facts_department_id'))
        batch_op.drop_index(batch_op.f('ix_facts_kpi'))
        batch_op.drop_index(batch_op.f('ix_facts_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_facts_user_id'))

    op.drop_table('facts')


def downgrade() -> None:
    op.create_table('facts',
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('kpi', sa.String(length=50), nullable=False),
    sa.Column('occurred_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('department_id', sa.String(length=32), nullable=True),
    sa.Column('dimensions', sa.JSON(), nullable=False),
    sa.Column('recorded_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_facts_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_facts_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_facts_kpi'), ['kpi'], unique=False)
        batch_op.create_index(batch_op.f('ix_facts_department_id'), ['department_id'], unique=False)

    # Facts of kinds the old table never held are dropped; the rest go back one row per event.
    op.execute(
        "INSERT INTO facts (event_id, kpi, occurred_at, user_id, department_id, dimensions, recorded_at) "
        "SELECT substr(source, 7), kpi, occurred_at, user_id, department_id, dimensions, occurred_at "
        "FROM kpi_facts WHERE source LIKE 'event:%'"
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_department_id'))

    op.drop_table('users')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plans_user_id'))
        batch_op.drop_index(batch_op.f('ix_plans_updated_at'))
        batch_op.drop_index(batch_op.f('ix_plans_period'))
        batch_op.drop_index(batch_op.f('ix_plans_department_id'))
        batch_op.drop_index(batch_op.f('ix_plans_created_at'))

    op.drop_table('plans')
    with op.batch_alter_table('kpi_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kpi_facts_user_id'))
        batch_op.drop_index(batch_op.f('ix_kpi_facts_source'))
        batch_op.drop_index(batch_op.f('ix_kpi_facts_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_kpi_facts_kpi'))
        batch_op.drop_index(batch_op.f('ix_kpi_facts_department_id'))

    op.drop_table('kpi_facts')
    op.drop_table('freshness')
    op.drop_table('entity_snapshots')
    with op.batch_alter_table('deal_stages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deal_stages_deal_id'))

    op.drop_table('deal_stages')
