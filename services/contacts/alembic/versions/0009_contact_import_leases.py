"""contact import leases: a running import renews its claim with every batch

Revision ID: 0009
Revises: 0008

An import whose process was killed stayed `running` for ever, and a running import cannot be undone.
Now a running import holds `lease_until`, renewed with every batch it commits; a sweep marks an
import whose lease has passed as failed (interrupted), so it can be undone. Imports recorded before
this revision have no lease: the sweep reads theirs as `created_at` plus the lease.
"""

import sqlalchemy as sa
from alembic import op

from crm_kernel.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contact_imports", sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_imports") as batch:
        batch.drop_column("lease_until")
