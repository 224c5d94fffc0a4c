"""县: the County register above the townships, the County role and its accounts (issue 18)

Revision ID: 0014_county
Revises: 0013_optional_email
Create Date: 2026-12-08 10:00:00

Each distinct county a township named in its free-text ``county`` column becomes a County row,
and the township points to it (``county_id``); the text column goes. The County role's row is
added beside the five of 0001, and an account can be bound to a county (``ab_user.county_id``).
Downgrade writes each township's county name back and drops the rest: a County account (its
role and binding gone) is kept, inactive, as 0001 knows no such role.

Both ways the changes to the records are appended to the audit log (keyed, by ``system``, as
0011 appends its own entry), so that ``flask audit verify --records`` still finds every county
and every township as the log says.
"""

import datetime as dt
import json

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

# An entry's columns at this revision (app.audit.HASHED_FIELDS then), as in 0011.
COLUMNS = (
    "id",
    "ts",
    "user_id",
    "username",
    "role",
    "scope",
    "ip",
    "endpoint",
    "action",
    "model",
    "record_id",
    "township_id",
    "village_id",
    "group_id",
    "changes",
)


def _log(bind, endpoint, entries):
    """Append ``entries`` — (action, model, record id, township id, changes) — to the chain."""
    from app import audit

    if not entries:
        return
    # The chain's lock first (as every writer takes it), then its head.
    bind.execute(sa.text("UPDATE audit_head SET last_id = last_id WHERE id = 1"))
    last_id, prev = bind.execute(
        sa.text("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
    ).one()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    for action, model, record_id, township_id, changes in entries:
        last_id += 1
        entry = dict.fromkeys(COLUMNS)
        entry.update(
            id=last_id,
            ts=now,
            username="system",
            role="system",
            endpoint=endpoint,
            action=action,
            model=model,
            record_id=record_id,
            township_id=township_id,
            changes=json.dumps(changes, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        )
        digest = audit.entry_mac(entry, prev)
        bind.execute(
            sa.text(
                f"INSERT INTO audit_log ({', '.join(COLUMNS)}, prev_hash, hash) "
                f"VALUES ({', '.join(':' + c for c in COLUMNS)}, :prev_hash, :hash)"
            ),
            {**entry, "prev_hash": prev, "hash": digest},
        )
        prev = digest
    bind.execute(
        sa.text("UPDATE audit_head SET last_id = :id, last_hash = :hash WHERE id = 1"),
        {"id": last_id, "hash": prev},
    )


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
    named = connection.execute(
        sa.select(township.c.id, township.c.county, township.c.county_id)
        .where(township.c.county_id.is_not(None))
        .order_by(township.c.id)
    ).all()
    made = connection.execute(sa.select(county.c.id, county.c.name).order_by(county.c.id)).all()
    _log(
        connection,
        "flask db upgrade",
        [("insert", "County", pk, None, {"name": [None, name]}) for pk, name in made]
        + [
            ("update", "Township", pk, pk, {"county": [text, None], "county_id": [None, cid]})
            for pk, text, cid in named
        ],
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
    named = connection.execute(
        sa.select(township.c.id, township.c.county, township.c.county_id)
        .where(township.c.county_id.is_not(None))
        .order_by(township.c.id)
    ).all()
    dropped = connection.execute(
        sa.text("SELECT id, name, division_code FROM county ORDER BY id")
    ).all()
    _log(
        connection,
        "flask db downgrade",
        [
            ("update", "Township", pk, pk, {"county": [None, text], "county_id": [cid, None]})
            for pk, text, cid in named
        ]
        + [
            ("delete", "County", pk, None, {k: [v, None] for k, v in fields.items() if v})
            for pk, fields in (
                (r.id, {"name": r.name, "division_code": r.division_code}) for r in dropped
            )
        ],
    )
    with op.batch_alter_table("township", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint("fk_township_county_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_township_county_id"))
        batch_op.drop_column("county_id")
    op.drop_table("county")
