"""contact imports and their changes: listed with their reports, and undone as a whole

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 07:00:00

Every CSV import is recorded with who ran it, how it matched rows, its status and its report; every
contact it created or changed is recorded with the values it replaced and the version it left, so
that the import can be undone while nobody has changed those contacts since.
"""

from alembic import op
import sqlalchemy as sa

import crm_kernel.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'contact_imports',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('actor', sa.String(length=32), nullable=True),
        sa.Column('department_id', sa.String(length=32), nullable=True),
        sa.Column('mode', sa.String(length=10), nullable=False),
        sa.Column('match_by', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('report', sa.JSON(), nullable=False),
        sa.Column('problem', sa.Text(), nullable=True),
        sa.Column('created_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('undone_at', crm_kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('undo_report', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_contact_imports_actor', 'contact_imports', ['actor'])
    op.create_index('ix_contact_imports_department_id', 'contact_imports', ['department_id'])
    op.create_index('ix_contact_imports_created_at', 'contact_imports', ['created_at'])
    op.create_table(
        'contact_import_changes',
        sa.Column('import_id', sa.String(length=32), nullable=False),
        sa.Column('contact_id', sa.String(length=32), nullable=False),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('version_after', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['import_id'], ['contact_imports.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('import_id', 'contact_id'),
    )


def downgrade() -> None:
    op.drop_table('contact_import_changes')
    op.drop_index('ix_contact_imports_created_at', table_name='contact_imports')
    op.drop_index('ix_contact_imports_department_id', table_name='contact_imports')
    op.drop_index('ix_contact_imports_actor', table_name='contact_imports')
    op.drop_table('contact_imports')
