"""audit log: append-only, hash-chained

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:05:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade():
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=128), nullable=True),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("endpoint", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("township_id", sa.Integer(), nullable=True),
        sa.Column("village_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_model_record", ["model", "record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_ts"), ["ts"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_username"), ["username"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_township_id"), ["township_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_village_id"), ["village_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_group_id"), ["group_id"], unique=False)
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": GENESIS}])
    # The database refuses UPDATE and DELETE on the log; the statements live in app.audit.
    from app.audit import TRIGGERS_ON

    for statement in TRIGGERS_ON[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade():
    from app.audit import TRIGGERS_OFF

    for statement in TRIGGERS_OFF[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table("audit_head")
    op.drop_table("audit_log")
