"""document replicas: who uploaded them and from which department, so timelines show each to whom it may

Hand-written: two nullable columns and an index; rows already there stay visible to admins only
until their next `document.updated` (or a rebuild by replay) fills them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("document_replicas", sa.Column("uploaded_by", sa.String(length=32), nullable=True))
    op.add_column("document_replicas", sa.Column("department_id", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_document_replicas_department_id"), "document_replicas", ["department_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_document_replicas_department_id"), table_name="document_replicas")
    with op.batch_alter_table("document_replicas") as batch:
        batch.drop_column("department_id")
        batch.drop_column("uploaded_by")
