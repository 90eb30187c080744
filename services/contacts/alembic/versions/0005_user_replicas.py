"""user replicas: each user's department, from the gateway's user events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 11:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_replicas',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_user_replicas_department_id'), 'user_replicas', ['department_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_user_replicas_department_id'), table_name='user_replicas')
    op.drop_table('user_replicas')
