"""accounts: a session epoch that every session cookie and JWT must match

Revision ID: 0010_session_epoch
Revises: 0009_referential_integrity
Create Date: 2026-12-05 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010_session_epoch"
down_revision = "0009_referential_integrity"
branch_labels = None
depends_on = None


def upgrade():
    # 0 for every existing account: sessions and tokens issued before carry none, read as 0,
    # and keep working until the account's first sign-out, password or role change.
    op.add_column(
        "ab_user",
        sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade():
    # Batch mode rebuilds the table from its reflection, which does not carry SQLite's
    # AUTOINCREMENT (0009): without it, ab_user would give a deleted account's id again.
    with op.batch_alter_table("ab_user", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("session_epoch")
