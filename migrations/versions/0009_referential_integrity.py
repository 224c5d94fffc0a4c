"""records never cross villages: orphans reported, SQLite tables rebuilt with AUTOINCREMENT

Revision ID: 0009_referential_integrity
Revises: 0008_twofactor
Create Date: 2026-12-05 09:00:00

SQLite ran without foreign keys until issue 15, and gave a deleted record's id to the next
record of its table. A database may therefore hold rows that name a record that is gone, or a
member group of another village. Such a database is not upgraded: every such row is listed
(table, id, what it names) and nothing changes until they are moved or deleted. Then every
SQLite table numbered by ``id`` is rebuilt with AUTOINCREMENT (SQLite's documented way to alter
a table: create, copy, drop, rename), so that no id is ever given twice.
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0009_referential_integrity"
down_revision = "0008_twofactor"
branch_labels = None
depends_on = None

# Attachments name their record by register and id, not by a foreign key.
ATTACHMENT_OWNERS = {
    "Activity": "activity",
    "Document": "document",
    "Venue": "venue",
    "TaskAssignment": "task_assignment",
}
# Numbered by the audit chain itself (app/audit.py), never by the database.
OWN_NUMBERS = {"audit_log", "alembic_version"}
SHOWN = 50


def _orphans(connection) -> list[str]:
    """One line per row that names a missing record or another village's group."""
    inspector = sa.inspect(connection)
    found = []
    for table in inspector.get_table_names():
        key = inspector.get_pk_constraint(table)["constrained_columns"] or ["rowid"]
        shown_key = ", ".join(f"c.{k}" for k in key)
        columns = {c["name"] for c in inspector.get_columns(table)}
        for fk in inspector.get_foreign_keys(table):
            if len(fk["constrained_columns"]) != 1:
                continue
            column, parent = fk["constrained_columns"][0], fk["referred_table"]
            target = fk["referred_columns"][0]
            rows = connection.execute(
                sa.text(
                    f"SELECT {shown_key}, c.{column} FROM {table} c "
                    f"LEFT JOIN {parent} p ON p.{target} = c.{column} "
                    f"WHERE c.{column} IS NOT NULL AND p.{target} IS NULL"
                )
            )
            for *ids, missing in rows:
                found.append(
                    f"{table} {'/'.join(map(str, ids))}: {column} = {missing}, "
                    f"no such {parent} (it was deleted)"
                )
        if {"village_id", "group_id"} <= columns and table != "member_group":
            rows = connection.execute(
                sa.text(
                    f"SELECT {shown_key}, c.village_id, c.group_id, g.village_id "
                    f"FROM {table} c JOIN member_group g ON g.id = c.group_id "
                    "WHERE c.village_id <> g.village_id"
                )
            )
            for *ids, village, group, other in rows:
                found.append(
                    f"{table} {'/'.join(map(str, ids))}: village_id = {village} but group_id = "
                    f"{group}, a group of village {other}"
                )
    if "attachment" in inspector.get_table_names():
        for owner, table in ATTACHMENT_OWNERS.items():
            rows = connection.execute(
                sa.text(
                    f"SELECT a.id, a.owner_id FROM attachment a LEFT JOIN {table} o "
                    "ON o.id = a.owner_id WHERE a.owner_model = :owner AND o.id IS NULL"
                ),
                {"owner": owner},
            )
            for pk, owner_id in rows:
                found.append(f"attachment {pk}: owner {owner} {owner_id}, no such {table}")
    return found


def refuse_orphans(connection) -> None:
    found = _orphans(connection)
    if not found:
        return
    listed = "\n".join(f"  {line}" for line in found[:SHOWN])
    more = f"\n  … and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    raise RuntimeError(
        f"0009_referential_integrity: {len(found)} row(s) refer to records that do not exist or "
        "to a member group of another village, so a recycled id could show them to another "
        f"village. Nothing was upgraded.\n{listed}{more}\n"
        "Give each row an existing record of its own village (or delete the row), for example "
        "in the sqlite3 or psql shell, then run `flask db upgrade` again."
    )


def _numbered_tables(connection, forward: bool) -> dict[str, str]:
    """name → CREATE TABLE statement of each table numbered by its ``id``, rewritten to
    number forward (AUTOINCREMENT) or back to SQLite's default."""
    rewritten = {}
    rows = connection.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
    )
    for name, sql in rows:
        if name in OWN_NUMBERS or name.startswith("sqlite_"):
            continue
        if forward and re.search(r"\n\s*PRIMARY KEY \(id\)", sql):
            new, found = re.subn(
                r"(\(\s*)id INTEGER NOT NULL,",
                r"\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,",
                sql,
                count=1,
            )
            if not found:
                continue
            new = re.sub(r",\s*\n\s*PRIMARY KEY \(id\)(?=\s*[,\n)])", "", new, count=1)
        elif not forward and "PRIMARY KEY AUTOINCREMENT" in sql:
            new = sql.replace(
                "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", "id INTEGER NOT NULL,", 1
            )
            new = re.sub(r"\n\)\s*$", ", \n\tPRIMARY KEY (id)\n)", new)
        else:
            continue
        if new != sql:
            rewritten[name] = new
    return rewritten


def _rebuild(connection, forward: bool) -> None:
    """SQLite's twelve steps for altering a table (foreign keys are off while migrating:
    migrations/env.py), for every table numbered by ``id``."""
    for name, sql in _numbered_tables(connection, forward).items():
        extras = connection.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE tbl_name = :name "
                "AND type IN ('index', 'trigger') AND sql IS NOT NULL"
            ),
            {"name": name},
        ).scalars()
        extras = list(extras)
        # Generated columns (a survey's rate) are computed again, not copied.
        copied = [
            f'"{row[1]}"'
            for row in connection.execute(sa.text(f'PRAGMA table_xinfo("{name}")'))
            if row[6] == 0
        ]
        columns = ", ".join(copied)
        temporary = f"{name}__0009"
        create = re.sub(
            r"^CREATE TABLE\s+\"?" + re.escape(name) + r"\"?", f'CREATE TABLE "{temporary}"', sql
        )
        connection.execute(sa.text(create))
        connection.execute(
            sa.text(f'INSERT INTO "{temporary}" ({columns}) SELECT {columns} FROM "{name}"')
        )
        connection.execute(sa.text(f'DROP TABLE "{name}"'))
        connection.execute(sa.text(f'ALTER TABLE "{temporary}" RENAME TO "{name}"'))
        for statement in extras:
            connection.execute(sa.text(statement))
    broken = connection.execute(sa.text("PRAGMA foreign_key_check")).fetchall()
    if broken:
        raise RuntimeError(f"0009_referential_integrity: foreign keys broken by the rebuild: {broken}")


def upgrade():
    connection = op.get_bind()
    refuse_orphans(connection)
    if connection.dialect.name == "sqlite":
        _rebuild(connection, forward=True)


def downgrade():
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _rebuild(connection, forward=False)
