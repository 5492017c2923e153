"""Indexes for leases at fleet scale: open leases by expiry (the sweep), by license (the seat
count), and closed leases by when they closed (pruning).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = sa.text("released_at IS NULL")
CLOSED = sa.text("released_at IS NOT NULL")


def upgrade() -> None:
    # Partial indexes hold open leases only: a million devices' leases, not every lease
    # ever issued, and a heartbeat (which only moves expires_at) touches no closed lease's.
    op.create_index("ix_leases_open_expiry", "leases", ["expires_at"],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_leases_open_license", "leases", ["license_id", "expires_at"],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_leases_closed", "leases", ["released_at"],
                    sqlite_where=CLOSED, postgresql_where=CLOSED)
    op.drop_index("ix_leases_live", table_name="leases")


def downgrade() -> None:
    op.create_index("ix_leases_live", "leases", ["license_id", "released_at", "expires_at"])
    op.drop_index("ix_leases_closed", table_name="leases")
    op.drop_index("ix_leases_open_license", table_name="leases")
    op.drop_index("ix_leases_open_expiry", table_name="leases")
