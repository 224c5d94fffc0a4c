"""accounts: a password change required after an administrator set the password

Revision ID: 0007_password_change
Revises: 0006_encrypt_ids
Create Date: 2026-11-26 04:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0007_password_change"
down_revision = "0006_encrypt_ids"
branch_labels = None
depends_on = None


def upgrade():
    # Existing accounts (the demo's included) keep working: nobody is asked for a new password.
    op.add_column(
        "ab_user",
        sa.Column(
            "password_change_required", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade():
    with op.batch_alter_table("ab_user") as batch_op:
        batch_op.drop_column("password_change_required")
