"""contacts indexes: live contacts by (last_name, id), (first_name, id) and (owner_id, created_at, id)

Revision ID: 0010
Revises: 0009

At a million contacts a page sorted by last or first name sorted every live row (850 ms on
PostgreSQL), and an agent who owns few contacts and has no department walked the whole
(created_at, id) index for them (880 ms for one who owns none): the agent's scope is `owner_id = me`,
which the new owner index answers in page order. It replaces the index on owner_id alone, whose every
question (a list filtered by owner, a scope) is about live contacts. EXPLAIN ANALYZE before and after
in BENCHMARKS.md (issue 17, the contacts list).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index("ix_contacts_owner_id", table_name="contacts")
    op.create_index(
        "ix_contacts_live_owner_created", "contacts", ["owner_id", "created_at", "id"], **_where("deleted_at IS NULL")
    )
    op.create_index("ix_contacts_live_last_name", "contacts", ["last_name", "id"], **_where("deleted_at IS NULL"))
    op.create_index("ix_contacts_live_first_name", "contacts", ["first_name", "id"], **_where("deleted_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_contacts_live_first_name", table_name="contacts")
    op.drop_index("ix_contacts_live_last_name", table_name="contacts")
    op.drop_index("ix_contacts_live_owner_created", table_name="contacts")
    op.create_index("ix_contacts_owner_id", "contacts", ["owner_id"], unique=False)
