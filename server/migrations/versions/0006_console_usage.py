"""The administrator's console and usage: an account's role and disabling, a license's
revocation, a session's scope, and daily usage figures per license.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every account made before the console is a user's; administrators come with it.
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("role", sa.String(length=10), nullable=False,
                                   server_default="user"))
        batch.add_column(sa.Column("disabled_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("licenses") as batch:
        batch.add_column(sa.Column("revoked_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("portal_sessions") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=10), nullable=False,
                                   server_default="portal"))
    op.create_index("ix_leases_released_at", "leases", ["released_at"])
    op.create_table(
        "usage_days",
        sa.Column("license_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("seats_used", sa.Integer(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("seats_total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["license_id"], ["licenses.id"]),
        sa.PrimaryKeyConstraint("license_id", "day"),
    )
    op.create_index("ix_usage_days_day", "usage_days", ["day"])


def downgrade() -> None:
    op.drop_index("ix_usage_days_day", table_name="usage_days")
    op.drop_table("usage_days")
    op.drop_index("ix_leases_released_at", table_name="leases")
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("licenses") as batch:
        batch.drop_column("revoked_at")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("role")
