"""accounts: e-mail is optional (NULL when not given, so that accounts without one do not clash)

Revision ID: 0013_optional_email
Revises: 0012_volunteer_service
Create Date: 2026-12-05 21:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0013_optional_email"
down_revision = "0012_volunteer_service"
branch_labels = None
depends_on = None


def upgrade():
    # Batch mode rebuilds the table from its reflection, which does not carry SQLite's
    # AUTOINCREMENT (0009): without it, ab_user would give a deleted account's id again.
    with op.batch_alter_table("ab_user", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(320), nullable=True)
    # The placeholders `flask users create` used to make (USERNAME@localhost) stay: the audit
    # log holds them as the accounts' state (flask audit verify --records); an administrator
    # clears them on the form.


def downgrade():
    # NOT NULL again: an account without an address gets the old placeholder.
    op.execute(
        "UPDATE ab_user SET email = username || '@localhost' WHERE email IS NULL OR email = ''"
    )
    with op.batch_alter_table("ab_user", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(320), nullable=False)
