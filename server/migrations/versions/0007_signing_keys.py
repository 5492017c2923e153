"""The lease-signing key set: next, current and retired keys, kept in the database.

A server of this version imports its existing key file (signing-key.pem, or
--signing-key) as the first key at its first start; see signing_keys.open_signer.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("current_from", sa.BigInteger(), nullable=False),
        sa.Column("endorsed_by", sa.String(length=64), nullable=True),
        sa.Column("endorsement", sa.String(length=100), nullable=True),
        sa.Column("listed_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
        sa.UniqueConstraint("current_from"),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
