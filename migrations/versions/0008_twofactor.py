"""two-factor login: enrolled authenticators and hashed recovery codes

Revision ID: 0008_twofactor
Revises: 0007_password_change
Create Date: 2026-11-26 04:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0008_twofactor"
down_revision = "0007_password_change"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_twofactor",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id"), primary_key=True),
        # Sealed with the instance key (app/crypto.py), never the plain secret.
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("enrolled_on", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_on", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_recovery_code_user_id", "recovery_code", ["user_id"])


def downgrade():
    op.drop_index("ix_recovery_code_user_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_table("user_twofactor")
