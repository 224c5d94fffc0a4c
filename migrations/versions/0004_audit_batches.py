"""audit log: bulk writes as batch entries covering a span of records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (no table rebuild): the append-only triggers stay in place.
    op.add_column("audit_log", sa.Column("record_last", sa.Integer(), nullable=True))
    op.create_index(
        "ix_audit_log_model_batch",
        "audit_log",
        ["model", "record_last"],
        sqlite_where=sa.text("record_last IS NOT NULL"),
        postgresql_where=sa.text("record_last IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_audit_log_model_batch", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("record_last")
    # SQLite rebuilds the table to drop a column, and its triggers go with the old one.
    from app.audit import TRIGGERS_OFF, TRIGGERS_ON

    dialect = op.get_bind().dialect.name
    for statement in TRIGGERS_OFF[dialect] + TRIGGERS_ON[dialect]:
        op.execute(statement)
