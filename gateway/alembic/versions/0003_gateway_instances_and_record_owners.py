"""gateway instances (heartbeats) and the owner of an idempotency record

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 01:40:00
"""

import sqlalchemy as sa
from alembic import op

import crm_kernel.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_instances",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("heartbeat_at", crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gateway_instances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_instances_heartbeat_at"), ["heartbeat_at"], unique=False)
    # Nullable: records made before have no owner, and keep waiting for their lease to end.
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_column("owner")
    with op.batch_alter_table("gateway_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_instances_heartbeat_at"))
    op.drop_table("gateway_instances")
