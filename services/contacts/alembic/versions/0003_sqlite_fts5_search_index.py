"""search: an FTS5 trigram index on SQLite

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00

SQLite answers `q` from an FTS5 index with the trigram tokenizer over `contacts.search_text` (an
external-content table keyed by `contacts.rowid`, kept in step by triggers), as PostgreSQL does from
its pg_trgm GIN index. The statements are written out here, not imported from the models, so that this
revision keeps meaning what it meant; `contacts.models.SQLITE_SEARCH_DDL` makes the same for create_all.
"""

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE contacts_fts USING fts5("
    "search_text, content='contacts', content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN "
    "INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
    "CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN "
    "INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); END",
    "CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN "
    "INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); "
    "INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for statement in SQLITE_SEARCH_DDL:
            op.execute(statement)
        op.execute("INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')")  # the contacts already there


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for trigger in ('contacts_fts_insert', 'contacts_fts_delete', 'contacts_fts_update'):
            op.execute(f'DROP TRIGGER IF EXISTS {trigger}')
        op.execute('DROP TABLE IF EXISTS contacts_fts')
