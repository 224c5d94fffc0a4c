"""ID numbers and sensitive household fields encrypted at rest, keyed hashes for lookup (issue 7)

Revision ID: 0006_encrypt_ids
Revises: 0005_branches_tasks_surveys
Create Date: 2026-11-26 03:50:00

Upgrade: the ID number columns widen to hold ciphertext and get an ``id_number_hash`` beside
them (indexed; the one-active-membership unique index moves to it); the household's family
type, difficulty and notes are encrypted too, its clear ``special`` flag is derived from the
family type; every existing row is encrypted with the app's key (``ID_ENCRYPTION_KEY``).
Downgrade decrypts them back. Rows already encrypted (or already plain, going down) are left.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_encrypt_ids"
down_revision = "0005_branches_tasks_surveys"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'active'")
SPECIAL_FAMILY_TYPES = ("special_lost", "special_disabled", "special_complication")
# table → {column: (plain length, encrypted length or None for text)}
ENCRYPTED = {
    "member": {"id_number": (18, 115)},
    "household": {
        "id_number": (18, 115),
        "family_type": (24, 139),
        "difficulty": (16, 107),
        "notes": (None, None),
    },
    "benefit": {"id_number": (18, 115)},
}
HASHED = ("member", "household", "benefit")


def _rewrite(table_name, change):
    """Apply ``change(column, value)`` to every encrypted value of a table, row by row."""
    columns = list(ENCRYPTED[table_name])
    table = sa.table(
        table_name, sa.column("id", sa.Integer), *(sa.column(c, sa.Text) for c in columns)
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(table.c.id, *(table.c[c] for c in columns))).all()
    updates = []
    for row in rows:
        values = {c: change(c, getattr(row, c)) for c in columns}
        updates.append({"row_id": row.id, **values})
    if not updates:
        return
    statement = sa.update(table).where(table.c.id == sa.bindparam("row_id"))
    bind.execute(statement.values({c: sa.bindparam(c) for c in columns}), updates)


def upgrade():
    from app import crypto

    with op.batch_alter_table("member") as batch_op:
        batch_op.drop_index(
            "uq_member_active_id_number", sqlite_where=ACTIVE, postgresql_where=ACTIVE
        )
        batch_op.drop_index("ix_member_id_number")
    with op.batch_alter_table("household") as batch_op:
        batch_op.drop_index("ix_household_id_number")
        batch_op.drop_index("ix_household_family_type")
    with op.batch_alter_table("benefit") as batch_op:
        batch_op.drop_index("ix_benefit_id_number")
    for table_name, columns in ENCRYPTED.items():
        with op.batch_alter_table(table_name) as batch_op:
            for column, (plain, sealed) in columns.items():
                if sealed is not None:
                    batch_op.alter_column(
                        column, type_=sa.String(sealed), existing_type=sa.String(plain)
                    )
            if table_name in HASHED:
                batch_op.add_column(sa.Column("id_number_hash", sa.String(64), nullable=True))
            if table_name == "household":
                batch_op.add_column(
                    sa.Column("special", sa.Boolean(), nullable=False, server_default=sa.false())
                )

    def seal(_column, value):
        return crypto.audit_value(value)

    for table_name in ENCRYPTED:
        _rewrite(table_name, seal)
        _fill_derived(table_name, crypto)

    with op.batch_alter_table("household") as batch_op:
        batch_op.alter_column("special", server_default=None, existing_type=sa.Boolean())
        batch_op.create_index("ix_household_special", ["special"])
    for table_name in HASHED:
        op.create_index(f"ix_{table_name}_id_number_hash", table_name, ["id_number_hash"])
    op.create_index(
        "uq_member_active_id_number",
        "member",
        ["id_number_hash"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def _fill_derived(table_name, crypto):
    """The lookup hash of each ID number and the household's special flag, from the values
    just encrypted."""
    table = sa.table(
        table_name,
        sa.column("id", sa.Integer),
        sa.column("id_number", sa.Text),
        sa.column("id_number_hash", sa.String),
        *(
            (sa.column("family_type", sa.Text), sa.column("special", sa.Boolean))
            if table_name == "household"
            else ()
        ),
    )
    bind = op.get_bind()
    wanted = [table.c.id, table.c.id_number]
    if table_name == "household":
        wanted.append(table.c.family_type)
    updates = []
    for row in bind.execute(sa.select(*wanted)).all():
        values = {"row_id": row.id, "h": crypto.lookup_hash(crypto.unseal(row.id_number))}
        if table_name == "household":
            values["s"] = crypto.unseal(row.family_type) in SPECIAL_FAMILY_TYPES
        updates.append(values)
    if not updates:
        return
    assigned = {"id_number_hash": sa.bindparam("h")}
    if table_name == "household":
        assigned["special"] = sa.bindparam("s")
    bind.execute(
        sa.update(table).where(table.c.id == sa.bindparam("row_id")).values(assigned), updates
    )


def downgrade():
    from app import crypto

    op.drop_index(
        "uq_member_active_id_number",
        table_name="member",
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    for table_name in HASHED:
        op.drop_index(f"ix_{table_name}_id_number_hash", table_name=table_name)
    op.drop_index("ix_household_special", table_name="household")

    def unseal(_column, value):
        return crypto.unseal(value)

    for table_name in ENCRYPTED:
        _rewrite(table_name, unseal)
    for table_name, columns in ENCRYPTED.items():
        with op.batch_alter_table(table_name) as batch_op:
            if table_name in HASHED:
                batch_op.drop_column("id_number_hash")
            if table_name == "household":
                batch_op.drop_column("special")
            for column, (plain, sealed) in columns.items():
                if sealed is not None:
                    batch_op.alter_column(
                        column, type_=sa.String(plain), existing_type=sa.String(sealed)
                    )
    with op.batch_alter_table("member") as batch_op:
        batch_op.create_index("ix_member_id_number", ["id_number"])
        batch_op.create_index(
            "uq_member_active_id_number",
            ["id_number"],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
    with op.batch_alter_table("household") as batch_op:
        batch_op.create_index("ix_household_id_number", ["id_number"])
        batch_op.create_index("ix_household_family_type", ["family_type"])
    with op.batch_alter_table("benefit") as batch_op:
        batch_op.create_index("ix_benefit_id_number", ["id_number"])
