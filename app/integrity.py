"""Records never cross villages (SPEC §4, issue 15): foreign keys on every SQLite connection,
and a record still referenced is not deleted out from under its references.

``holders`` counts what still refers to a record — every foreign key that points at its table,
read from the metadata, so a new model needs nothing here — and ``refusal`` turns the count
into the message every door gives (HTML delete, REST DELETE, the accounts screen), the same on
SQLite and PostgreSQL. What goes with a record is not counted: link rows whose foreign key says
``ON DELETE CASCADE`` (a meeting's attendees, a group's contact heads), children the mapper
deletes with it (a task's village assignments), and its attachments (``app.uploads``).
"""

from flask_appbuilder import Model
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import Engine

# Labels of referencing tables that are not a business register.
TABLE_LABELS = {"ab_user": _l("Accounts")}


def enforce_foreign_keys(dbapi_connection, _record):
    """SQLite checks foreign keys only when each connection asks: every engine's connections
    do (the app's, the CLI's, backups'), so no row can point at a record that is gone."""
    if type(dbapi_connection).__module__.startswith(("sqlite3", "pysqlite")):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def number_forward(metadata) -> None:
    """SQLite gives a freed id to the next row unless the table says AUTOINCREMENT: then an id
    is never given twice, as PostgreSQL's sequences never do (migration 0009 rebuilt the
    tables so). The audit log's ids are the chain's own."""
    for table in metadata.tables.values():
        key = list(table.primary_key.columns)
        if [c.name for c in key] == ["id"] and key[0].autoincrement is not False:
            table.dialect_options["sqlite"]["autoincrement"] = True


def install() -> None:
    """Foreign keys on every SQLite connection; ids numbered forward in every table."""
    number_forward(Model.metadata)
    if not event.contains(Engine, "connect", enforce_foreign_keys):
        event.listen(Engine, "connect", enforce_foreign_keys)


def _models_by_table() -> dict:
    return {mapper.local_table.name: mapper.class_ for mapper in Model.registry.mappers}


def _owned(model) -> set:
    """(table, column) pairs that the mapper itself deletes or unlinks with a ``model`` row."""
    owned = set()
    for rel in inspect(model).relationships:
        if rel.secondary is not None:
            owned.update((rel.secondary.name, c.name) for c in rel.secondary.columns)
        elif "delete" in rel.cascade:
            owned.update((c.table.name, c.name) for c in rel.remote_side)
    return owned


def holders(session, item) -> list[tuple[str, int]]:
    """(label, count) of the rows that still refer to ``item``, biggest register first."""
    table = type(item).__table__
    owned = _owned(type(item))
    models = _models_by_table()
    counts: dict[str, int] = {}
    for other in Model.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is not table or fk.ondelete == "CASCADE":
                continue
            if (other.name, fk.parent.name) in owned:
                continue
            where = fk.parent == getattr(item, fk.column.key)
            if other is table:
                where = where & (other.c.id != item.id)
            count = session.execute(select(func.count()).select_from(other).where(where)).scalar()
            if count:
                model = models.get(other.name)
                label = str(TABLE_LABELS.get(other.name) or getattr(model, "__label__", other.name))
                counts[label] = counts.get(label, 0) + count
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


class StillReferenced(Exception):
    """A delete refused because other records still refer to the record."""


def refusal(session, item) -> str | None:
    """Why ``item`` may not be deleted yet, naming what still holds it; None when nothing does."""
    with session.no_autoflush:
        held = holders(session, item)
    if not held:
        return None
    listed = _(", ").join(_("%(label)s (%(count)d)", label=label, count=n) for label, n in held)
    return _(
        "%(name)s cannot be deleted: %(holders)s still refer to it. "
        "Move or delete them first, or keep it.",
        name=str(item),
        holders=listed,
    )
