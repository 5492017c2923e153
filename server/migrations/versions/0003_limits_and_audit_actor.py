"""Rate limits per (account, address), per address for device codes, per account for user
codes typed on the approve page; the audit's actor.

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
    op.create_table(
        "user_code_misses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_user_code_misses_account", "user_code_misses", ["account_id", "at"])
    op.create_index("ix_login_failures_email_address", "login_failures",
                    ["email", "address", "at"])
    with op.batch_alter_table("device_codes") as batch:
        batch.add_column(sa.Column("address", sa.String(length=64), nullable=True))
    op.create_index("ix_device_codes_address", "device_codes", ["address", "created_at"])
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=80), nullable=False,
                                   server_default="system"))
    # Events recorded before the actor was: a device's own doing where one is named.
    op.execute("UPDATE audit_events SET actor = 'device:' || device_id "
               "WHERE device_id IS NOT NULL AND event IN ('login', 'logout', 'acquire')")
    op.create_index("ix_audit_events_event", "audit_events", ["event"])
    op.create_index("ix_audit_events_device_id", "audit_events", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_device_id", table_name="audit_events")
    op.drop_index("ix_audit_events_event", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor")
    op.drop_index("ix_device_codes_address", table_name="device_codes")
    with op.batch_alter_table("device_codes") as batch:
        batch.drop_column("address")
    op.drop_index("ix_login_failures_email_address", table_name="login_failures")
    op.drop_index("ix_user_code_misses_account", table_name="user_code_misses")
    op.drop_table("user_code_misses")
