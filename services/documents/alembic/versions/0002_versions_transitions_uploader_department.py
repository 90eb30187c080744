"""versions, transitions, uploader department

Every existing document becomes version 1 of itself, so that each document has its versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:21:25.801848
"""

from alembic import op
import sqlalchemy as sa
import crm_kernel.db


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_transitions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=32), nullable=True),
        sa.Column("created_at", crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("document_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_transitions_document_id"), ["document_id"], unique=False)

    op.create_table(
        "document_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "number"),
    )
    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_versions_document_id"), ["document_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_versions_sha256"), ["sha256"], unique=False)

    # The content each document already has is its first version (the document id serves as the version id).
    op.execute(
        "INSERT INTO document_versions (id, document_id, number, filename, content_type, sha256, size, uploaded_by, created_at) "
        "SELECT id, id, 1, filename, content_type, sha256, size, uploaded_by, created_at FROM documents"
    )

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uploaded_by_department_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("current_version", sa.Integer(), server_default="1", nullable=False))
        batch_op.create_index(batch_op.f("ix_documents_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_documents_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_documents_uploaded_by_department_id"), ["uploaded_by_department_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_uploaded_by_department_id"))
        batch_op.drop_index(batch_op.f("ix_documents_status"))
        batch_op.drop_index(batch_op.f("ix_documents_kind"))
        batch_op.drop_column("current_version")
        batch_op.drop_column("uploaded_by_department_id")

    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_versions_sha256"))
        batch_op.drop_index(batch_op.f("ix_document_versions_document_id"))

    op.drop_table("document_versions")
    with op.batch_alter_table("document_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_transitions_document_id"))

    op.drop_table("document_transitions")
