"""idempotent writes: the answer of an upload made with an Idempotency-Key, committed with it

Hand-written (crm_kernel.idempotency.IdempotentWriteMixin, as contacts' 0007 and interactions'
0004): a retried upload whose first reply was lost finds its first answer here instead of making a
second document or version.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from crm_kernel.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotent_writes",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=100), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "method"),
    )
    op.create_index(op.f("ix_idempotent_writes_created_at"), "idempotent_writes", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotent_writes_created_at"), table_name="idempotent_writes")
    op.drop_table("idempotent_writes")
