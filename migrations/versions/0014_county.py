"""县: the County register above the townships, the County role and its accounts (issue 18)

Revision ID: 0014_county
Revises: 0013_optional_email
Create Date: 2026-12-08 10:00:00

Each distinct county a township named in its free-text ``county`` column becomes a County row,
and the township points to it (``county_id``); the text column goes. The County role's row is
added beside the five of 0001, and an account can be bound to a county (``ab_user.county_id``).
Downgrade writes each township's county name back and drops the rest: a County account (its
role and binding gone) is kept, inactive, as 0001 knows no such role.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_county"
down_revision = "0013_optional_email"
branch_labels = None
depends_on = None

# Batch mode rebuilds a SQLite table from its reflection, which does not carry AUTOINCREMENT
# (0009): without it, a deleted row's id would be given again.
AUTOINCREMENT = {"sqlite_autoincrement": True}

county = sa.table("county", sa.column("id", sa.Integer), sa.column("name", sa.String))
township = sa.table(
    "township",
    sa.column("id", sa.Integer),
    sa.column("county", sa.String),
    sa.column("county_id", sa.Integer),
)
role = sa.table("ab_role", sa.column("id", sa.Integer), sa.column("name", sa.String))


def upgrade():
    op.create_table(
        "county",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("division_code", sa.String(length=6), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("township", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("county_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_township_county_id"), ["county_id"], unique=False)
        batch_op.create_foreign_key("fk_township_county_id", "county", ["county_id"], ["id"])

    connection = op.get_bind()
    names = connection.execute(
        sa.select(township.c.county)
        .where(township.c.county.is_not(None), sa.func.trim(township.c.county) != "")
        .distinct()
        .order_by(township.c.county)
    ).scalars()
    for name in [n.strip() for n in names]:
        exists = connection.execute(sa.select(county.c.id).where(county.c.name == name)).scalar()
        if exists is None:
            connection.execute(county.insert().values(name=name))
    connection.execute(
        township.update().values(
            county_id=sa.select(county.c.id)
            .where(county.c.name == sa.func.trim(township.c.county))
            .scalar_subquery()
        )
    )
    with op.batch_alter_table("township", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("county")

    with op.batch_alter_table("ab_user", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("county_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_ab_user_county_id"), ["county_id"], unique=False)
        batch_op.create_foreign_key("fk_ab_user_county_id", "county", ["county_id"], ["id"])

    if connection.execute(sa.select(role.c.id).where(role.c.name == "County")).first() is None:
        top = connection.execute(sa.select(sa.func.max(role.c.id))).scalar() or 0
        connection.execute(role.insert().values(id=top + 1, name="County"))
        if connection.dialect.name == "postgresql":
            # FAB numbers roles from its own sequence (0001).
            op.execute("SELECT setval('ab_role_id_seq', %d)" % (top + 1))


def downgrade():
    connection = op.get_bind()
    county_role = connection.execute(sa.select(role.c.id).where(role.c.name == "County")).scalar()
    if county_role is not None:
        # A County account stays (the audit log names it) but is switched off, role-less.
        connection.execute(
            sa.text(
                "UPDATE ab_user SET active = :off WHERE id IN "
                "(SELECT user_id FROM ab_user_role WHERE role_id = :r)"
            ),
            {"off": False, "r": county_role},
        )
        connection.execute(
            sa.text("DELETE FROM ab_user_role WHERE role_id = :r"), {"r": county_role}
        )
        connection.execute(role.delete().where(role.c.id == county_role))

    with op.batch_alter_table("ab_user", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint("fk_ab_user_county_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_ab_user_county_id"))
        batch_op.drop_column("county_id")

    with op.batch_alter_table("township", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("county", sa.String(length=64), nullable=True))
    connection.execute(
        township.update().values(
            county=sa.select(county.c.name)
            .where(county.c.id == township.c.county_id)
            .scalar_subquery()
        )
    )
    with op.batch_alter_table("township", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint("fk_township_county_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_township_county_id"))
        batch_op.drop_column("county_id")
    op.drop_table("county")
