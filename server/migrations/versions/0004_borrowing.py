"""Borrowing a seat for offline work: a license's `max_borrow_s`, a lease's `borrowed_until`.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Licenses made before borrowing existed allow none (0), as new ones do by default.
    with op.batch_alter_table("licenses") as batch:
        batch.add_column(sa.Column("max_borrow_s", sa.Integer(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("borrowed_until", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("borrowed_until")
    with op.batch_alter_table("licenses") as batch:
        batch.drop_column("max_borrow_s")
