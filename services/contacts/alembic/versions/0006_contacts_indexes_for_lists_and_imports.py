"""contacts indexes: live contacts by (created_at, id); deletion and merge indexes only where set

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 12:00:00

Lists and searches are of live contacts, newest first, paged by (created_at, id): one partial index on
exactly that replaces the index on created_at alone, so a search for a common word walks live rows in
page order. `deleted_at` and `merged_into` are NULL on nearly every row, and no query looks for NULL
through them: their indexes now hold only the rows where they are set, which an import never writes.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _where(condition: str) -> dict:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index('ix_contacts_created_at', table_name='contacts')
    op.drop_index('ix_contacts_deleted_at', table_name='contacts')
    op.drop_index('ix_contacts_merged_into', table_name='contacts')
    op.create_index('ix_contacts_live_created', 'contacts', ['created_at', 'id'], **_where('deleted_at IS NULL'))
    op.create_index('ix_contacts_deleted_at', 'contacts', ['deleted_at'], **_where('deleted_at IS NOT NULL'))
    op.create_index('ix_contacts_merged_into', 'contacts', ['merged_into'], **_where('merged_into IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_contacts_merged_into', table_name='contacts')
    op.drop_index('ix_contacts_deleted_at', table_name='contacts')
    op.drop_index('ix_contacts_live_created', table_name='contacts')
    op.create_index('ix_contacts_merged_into', 'contacts', ['merged_into'], unique=False)
    op.create_index('ix_contacts_deleted_at', 'contacts', ['deleted_at'], unique=False)
    op.create_index('ix_contacts_created_at', 'contacts', ['created_at'], unique=False)
