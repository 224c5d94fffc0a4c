"""branches (a village's optional branch), township tasks with their per-village assignments,
knowledge and satisfaction surveys (issue 9)

Revision ID: 0005_branches_tasks_surveys
Revises: 0004
Create Date: 2026-11-26 03:37:00.871213

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_branches_tasks_surveys"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "branch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("head", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["township.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("township_id", "name"),
    )
    with op.batch_alter_table("branch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_branch_township_id"), ["township_id"], unique=False)

    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("assigned_on", sa.Date(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("file_stored", sa.String(length=64), nullable=True),
        sa.Column("file_type", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["township.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_stored"),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_due_date"), ["due_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_township_id"), ["township_id"], unique=False)

    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("answered_well", sa.Integer(), nullable=False),
        sa.Column(
            "rate",
            sa.Numeric(precision=5, scale=1),
            sa.Computed(
                "CASE WHEN asked > 0 THEN ROUND(answered_well * 100.0 / asked, 1) END",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column("surveyed_on", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["village.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("village_id", "year", "kind"),
    )
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_village_id"), ["village_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_year"), ["year"], unique=False)

    op.create_table(
        "task_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["village.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "village_id"),
    )
    with op.batch_alter_table("task_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_assignment_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_assignment_task_id"), ["task_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_task_assignment_village_id"), ["village_id"], unique=False
        )

    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.add_column(sa.Column("branch_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_village_branch_id"), ["branch_id"], unique=False)
        batch_op.create_foreign_key("fk_village_branch_id", "branch", ["branch_id"], ["id"])


def downgrade():
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.drop_constraint("fk_village_branch_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_village_branch_id"))
        batch_op.drop_column("branch_id")

    with op.batch_alter_table("task_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_assignment_village_id"))
        batch_op.drop_index(batch_op.f("ix_task_assignment_task_id"))
        batch_op.drop_index(batch_op.f("ix_task_assignment_status"))

    op.drop_table("task_assignment")
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_year"))
        batch_op.drop_index(batch_op.f("ix_survey_village_id"))
        batch_op.drop_index(batch_op.f("ix_survey_kind"))

    op.drop_table("survey")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_township_id"))
        batch_op.drop_index(batch_op.f("ix_task_due_date"))

    op.drop_table("task")
    with op.batch_alter_table("branch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branch_township_id"))

    op.drop_table("branch")
