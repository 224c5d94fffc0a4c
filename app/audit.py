"""The audit log (SPEC §3.4): one session listener, one ``record()``, one bulk-write helper.

Every insert, update and delete of an audited model is written by ``after_flush`` in the same
transaction as the change, whatever the door (forms, list actions, REST, CLI). Bulk writes go
through ``bulk_insert`` / ``bulk_update``, which write their audit rows themselves; an ORM bulk
statement on an audited model that bypasses them is refused. Sign-ins, exports and reveals call
``record()``.

Each entry carries an HMAC-SHA256 over its content and the previous entry's hash, keyed from
``ID_ENCRYPTION_KEY`` (``crypto.audit_mac``): a key that is not in the database, so someone with
the database file alone cannot append or rewrite an entry that verifies (issue 15, class 8).
Entries written before the key (migration 0011) carry a plain SHA-256 (``entry_hash``); they
verify as such only before the chain's first keyed entry, and the migration writes one
(``chain_keyed``) right after them, whose HMAC covers their last hash. Writers first lock the
single ``audit_head`` row (an UPDATE: a row lock on PostgreSQL, the write lock on SQLite), so
concurrent writers queue and the chain stays linear.
"""

import datetime as dt
import decimal
import hashlib
import json
from operator import itemgetter

import click
import orjson
from flask import current_app, g, has_request_context, request
from sqlalchemy import Boolean, Date, DateTime, event, func, inspect, select, text, update
from sqlalchemy.orm import Session

from app import accounts, crypto
from app.audit_tables import AuditHead, AuditLog
from app.models import MemberGroup, Township, Village

GENESIS = "0" * 64
SYSTEM_USER = "system"
# Never copied into the log: a keyed fingerprint of the value is (``crypto.fingerprint``).
SECRET_FIELDS = {"password"}
# Bookkeeping that changes on every sign-in: not a change anyone made.
NOISE_FIELDS = {"last_login", "login_count", "fail_login_count", "changed_on", "created_on"}
HASHED_FIELDS = (
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


def audited(model) -> bool:
    return bool(getattr(model, "__audited__", False))


def plain(value):
    """A JSON-friendly form of a column value (json.dumps calls it for what it cannot write)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _text(value) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _payload(entry: dict, prev_hash: str) -> bytes:
    """The entry's fields (unit-separated, None marked) and the previous hash.

    A batch entry's ``record_last`` joins the hashed fields; entries written before batches
    existed (no ``record_last``) hash exactly as they did then.
    """
    fields = [_text(entry.get(name)) for name in HASHED_FIELDS]
    if entry.get("record_last") is not None:
        fields.append(_text(entry["record_last"]))
    return "\x1f".join(fields + [prev_hash]).encode("utf-8")


def entry_hash(entry: dict, prev_hash: str) -> str:
    """The unkeyed SHA-256 of entries written before migration 0011: anyone can compute it,
    so it is accepted only for the entries before the chain's first keyed one."""
    return hashlib.sha256(_payload(entry, prev_hash)).hexdigest()


def entry_mac(entry: dict, prev_hash: str, keyed=None) -> str:
    """The HMAC-SHA256 every entry carries since migration 0011 (``keyed``: a fresh
    ``crypto.audit_mac()`` to copy, fetched once by a caller hashing many entries)."""
    digest = (keyed or crypto.audit_mac()).copy()
    digest.update(_payload(entry, prev_hash))
    return digest.hexdigest()


# --- Who is acting ---


def actor(user=None, username=None) -> dict:
    """User, role, scope, IP and endpoint of the current request or CLI command."""
    if user is None and has_request_context():
        user = getattr(g, "user", None)
        if user is not None and not getattr(user, "is_authenticated", False):
            user = None
    info = {"user_id": None, "username": username, "role": None, "scope": None}
    if user is not None:
        scope = accounts.user_scope(user)
        own = {
            "county": scope.county_id,
            "township": scope.township_id,
            "village": scope.village_id,
            "group": scope.group_id,
        }
        info.update(
            user_id=user.id,
            username=user.username,
            role=",".join(sorted(accounts.role_names(user))),
            scope=f"{scope.level}:{own[scope.level]}" if scope.level in own else scope.level,
            township_id=scope.township_id,
            village_id=scope.village_id,
            group_id=scope.group_id,
        )
    if has_request_context():
        info["ip"] = request.remote_addr
        info["endpoint"] = f"{request.method} {request.path}"[:200]
    else:
        ctx = click.get_current_context(silent=True)
        info["endpoint"] = ctx.command_path[:200] if ctx else None
        if user is None:
            info.update(username=SYSTEM_USER, role=SYSTEM_USER)
    return info


# --- Writing entries ---


def write_entries(connection, entries: list[dict]) -> None:
    """Chain and insert ``entries`` under the head lock, in the caller's transaction."""
    if not entries:
        return
    # The lock is taken before the head is read: no other writer can slip in between.
    _lock_chain(connection)
    last_id, prev = connection.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)
    ).one()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    keyed = crypto.audit_mac()
    rows = []
    for entry in entries:
        last_id += 1
        entry = {**entry, "id": last_id, "ts": entry.get("ts") or now}
        digest = entry_mac(entry, prev, keyed)
        row = tuple(entry.get(name) for name in HASHED_FIELDS)
        rows.append(row + (entry.get("record_last"), prev, digest))
        prev = digest
    # Straight to the driver: no per-row processing needed.
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    columns = HASHED_FIELDS + ("record_last", "prev_hash", "hash")
    placeholders = ", ".join([marker] * len(columns))
    connection.exec_driver_sql(
        f"INSERT INTO audit_log ({', '.join(columns)}) VALUES ({placeholders})", rows
    )
    connection.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_id=last_id, last_hash=prev)
    )


def _dumps(value) -> str:
    """Compact JSON, keys sorted, Chinese as is; orjson writes a 1,000-row batch entry in a
    fraction of the time the standard library takes (issue 3's cost budget)."""
    return orjson.dumps(value, default=plain, option=orjson.OPT_SORT_KEYS).decode()


def _changes_json(changes: dict | None):
    if changes is None:
        return None
    return _dumps(changes)


class _Townships:
    """village id → township id, looked up once per flush."""

    def __init__(self, connection):
        self.connection = connection
        self.cache = {}

    def __call__(self, village_id):
        if village_id is None:
            return None
        if village_id not in self.cache:
            self.cache[village_id] = self.connection.execute(
                select(Village.township_id).where(Village.id == village_id)
            ).scalar()
        return self.cache[village_id]

    def village_of_group(self, group_id):
        return self.connection.execute(
            select(MemberGroup.village_id).where(MemberGroup.id == group_id)
        ).scalar()


def _where(model, values: dict, townships) -> dict:
    """The township, village and group a record belongs to, for scoping its entries."""
    if model is Township:
        return {"township_id": values.get("id")}
    scope = getattr(model, "__scope__", {})
    village_id = values.get(scope.get("village", "village_id"))
    group_id = values.get(scope.get("group", "group_id"))
    if village_id is None and group_id is not None:
        # Bound to a group alone (a group leader's account): its village and township see it.
        village_id = townships.village_of_group(group_id)
    township_id = values.get(scope.get("township", "township_id")) or townships(village_id)
    return {"township_id": township_id, "village_id": village_id, "group_id": group_id}


def make_entry(action, model, record_id, changes, where, who) -> dict:
    entry = {k: who.get(k) for k in ("user_id", "username", "role", "scope", "ip", "endpoint")}
    entry.update(
        action=action,
        model=model.__name__,
        record_id=record_id,
        changes=_changes_json(changes),
        **where,
    )
    return entry


def _column_values(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in inspect(type(obj)).columns}


def _kept(model, key) -> bool:
    if key.endswith("_hash") and key[: -len("_hash")] in crypto.encrypted_columns(model):
        # An encrypted field's lookup hash: bookkeeping, not a change anyone made.
        return False
    return key not in NOISE_FIELDS and key not in getattr(model, "__audit_exclude__", ())


def _redacted(key, value, model=None):
    if key in SECRET_FIELDS and value is not None:
        # A keyed fingerprint of the stored hash, never the hash: ``verify --records`` can
        # tell a password hash written behind the app's back (entries before: "***").
        return crypto.fingerprint(value)
    if model is not None and key in crypto.encrypted_columns(model):
        # Encrypted in the log as in the register: never a plain ID number (issue 7).
        return crypto.audit_value(value)
    return value


def _diff(obj) -> dict:
    """Field → [before, after] for every changed column and many-to-many collection."""
    state = inspect(obj)
    model = type(obj)
    changes = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if not _kept(model, key):
            continue
        history = state.attrs[key].history
        if history.added or history.deleted:
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before != after:
                changes[key] = [_redacted(key, before, model), _redacted(key, after, model)]
    for rel in state.mapper.relationships:
        if rel.secondary is None or not _kept(model, rel.key):
            continue
        history = state.attrs[rel.key].history
        if history.added or history.deleted:
            before = sorted(o.id for o in list(history.unchanged) + list(history.deleted))
            after = sorted(o.id for o in list(history.unchanged) + list(history.added))
            changes[rel.key] = [before, after]
    return changes


def _lists(obj) -> dict:
    """Each many-to-many list of a new record (an account's roles): ids, sorted, [] too, so
    that ``verify --records`` knows what the record was inserted with."""
    model = type(obj)
    return {
        rel.key: [None, sorted(o.id for o in getattr(obj, rel.key))]
        for rel in inspect(model).relationships
        if rel.secondary is not None and _kept(model, rel.key)
    }


def after_flush(session, _flush_context):
    """Audit every insert, update and delete of an audited model in this flush."""
    pending = [("insert", o) for o in session.new] + [("update", o) for o in session.dirty]
    pending += [("delete", o) for o in session.deleted]
    pending = [(a, o) for a, o in pending if audited(type(o))]
    if not pending:
        return
    connection = session.connection()
    townships = _Townships(connection)
    who = actor()
    entries = []
    for action, obj in pending:
        model = type(obj)
        values = _column_values(obj)
        if action == "insert":
            changes = {
                k: [None, _redacted(k, v, model)]
                for k, v in values.items()
                if v is not None and _kept(model, k) and k != "id"
            }
            changes.update(_lists(obj))
        elif action == "delete":
            changes = {
                k: [_redacted(k, v, model), None]
                for k, v in values.items()
                if v is not None and _kept(model, k) and k != "id"
            }
        else:
            changes = _diff(obj)
            if not changes:
                continue
        entries.append(
            make_entry(action, model, obj.id, changes, _where(model, values, townships), who)
        )
    write_entries(connection, entries)


def refuse_unaudited_bulk(orm_execute_state):
    """ORM bulk writes bypass the listener (FAB-NOTES): only the helpers below may issue them."""
    if not (
        orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete
    ):
        return
    if orm_execute_state.execution_options.get("audited"):
        return
    if orm_execute_state.is_update:
        # FAB's sign-in bookkeeping (login_count) is not a change anyone made.
        values = getattr(orm_execute_state.statement, "_values", None) or {}
        if values and {getattr(k, "key", k) for k in values} <= NOISE_FIELDS:
            return
    mapper = orm_execute_state.bind_mapper
    if mapper is not None and audited(mapper.class_):
        raise RuntimeError(
            f"Bulk write on {mapper.class_.__name__} without an audit trail: "
            "use app.audit.bulk_insert / bulk_update"
        )


def install(session_class=Session) -> None:
    """Hook the listener to every session (once per process)."""
    if not event.contains(session_class, "after_flush", after_flush):
        event.listen(session_class, "after_flush", after_flush)
        event.listen(session_class, "do_orm_execute", refuse_unaudited_bulk)


# --- The public helpers ---


def record(
    action,
    *,
    user=None,
    username=None,
    model=None,
    record_id=None,
    village_id=None,
    group_id=None,
    township_id=None,
    details=None,
    session=None,
    commit=True,
):
    """Log a sign-in, export, reveal or other event that is not a row change."""
    session = session or current_app.appbuilder.session
    who = actor(user=user, username=username)
    if village_id is not None:
        township_id = _Townships(session.connection())(village_id)
    else:
        township_id = township_id or who.get("township_id")
        village_id, group_id = who.get("village_id"), who.get("group_id")
    where = {"township_id": township_id, "village_id": village_id, "group_id": group_id}
    entry = {k: who.get(k) for k in ("user_id", "username", "role", "scope", "ip", "endpoint")}
    entry.update(
        action=action,
        model=model.__name__ if isinstance(model, type) else model,
        record_id=record_id,
        changes=json.dumps(details, ensure_ascii=False, sort_keys=True, default=plain)
        if details is not None
        else None,
        **where,
    )
    write_entries(session.connection(), [entry])
    if commit:
        session.commit()


def _lock_chain(connection) -> None:
    """Take the chain lock: a row lock on PostgreSQL, the write lock on SQLite."""
    connection.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id))


def allocate_ids(connection, model, count: int) -> list[int]:
    """Primary keys for ``count`` new rows, so that a bulk insert needs no RETURNING."""
    table = model.__table__
    if connection.dialect.name == "postgresql":
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        ).scalar()
        return list(
            connection.execute(
                text("SELECT nextval(:seq) FROM generate_series(1, :n)"),
                {"seq": sequence, "n": count},
            ).scalars()
        )
    # SQLite: the caller holds the write lock, so nobody else can take these numbers. They
    # start past every id the table ever gave (AUTOINCREMENT's sqlite_sequence), not only past
    # the live rows: a deleted record's id is never given again (issue 15).
    start = max(
        connection.execute(select(func.max(table.c.id))).scalar() or 0,
        connection.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = :table"), {"table": table.name}
        ).scalar()
        or 0,
    )
    return list(range(start + 1, start + count + 1))


# Rows per batch entry: small enough to read on one page, few enough to cost little.
BATCH_ROWS = 1000


def bulk_insert(session, model, rows: list[dict]) -> list[int]:
    """Insert many rows (dicts with the same keys), audited by batch entries; their ids."""
    if not rows:
        return []
    return bulk_insert_columns(
        session, model, {key: list(map(itemgetter(key), rows)) for key in rows[0]}
    )


def bulk_insert_columns(session, model, columns: dict[str, list]) -> list[int]:
    """Insert many rows given column by column, audited by batch entries; returns their ids.

    One entry per ``BATCH_ROWS`` rows of one village (or township, or group) carries every
    row's values and covers the ids ``record_id`` … ``record_last``, so a record's history
    still finds it. Per-row entries would cost as much as the rows themselves (issue 3:
    auditing may add at most 30 %). Column by column, the work is done by map, zip and the
    encoders in C rather than per row in Python (issue 5: 100k rows within 3x executemany).
    """
    count = len(next(iter(columns.values()), []))
    if not count:
        return []
    connection = session.connection()
    _lock_chain(connection)
    columns = crypto.hash_columns(model, columns)
    # Each place's rows take consecutive ids, so that an entry's span covers its rows only.
    order, spans = _places(model, columns, count)
    if order is not None:
        # itemgetter picks the whole order in C (order holds two places at least).
        pick = itemgetter(*order)
        columns = {key: list(pick(values)) for key, values in columns.items()}
    columns = numbered_columns(connection, model, columns, count)
    # Made once for the driver and the batch entries alike: dates as ISO text, encrypted
    # fields sealed (the entry keeps the row's own ciphertext, never the plain value).
    iso = _iso_columns(model, columns)
    sealed = {
        key: list(map(crypto.seal, columns[key]))
        for key in crypto.encrypted_columns(model)
        if key in columns
    }
    bound = {**_driver_dates(connection, model, iso), **sealed}
    insert_columns(connection, model.__table__, columns, bound)
    logged = {**columns, **sealed}
    write_entries(connection, batch_entries("insert", model, logged, spans, connection, iso))
    if order is None:
        return columns["id"]
    ids = [0] * count
    for position, given in enumerate(order):
        ids[given] = columns["id"][position]
    return ids


def numbered_columns(connection, model, columns: dict[str, list], count: int) -> dict:
    """The columns with new ids, and the column defaults an INSERT through SQLAlchemy would
    have filled in: what ``insert_columns`` writes."""
    numbered = {"id": allocate_ids(connection, model, count)}
    for column in model.__table__.columns:
        if column.key not in columns and column.default is not None and column.default.is_scalar:
            numbered[column.key] = [column.default.arg] * count
    numbered.update((k, v) for k, v in columns.items() if k != "id")
    return numbered


def _fast_processor(column_type, dialect):
    """The bind processor of a column type, or a cheaper equivalent where the driver would
    produce the same stored value: sqlite3 stores a bool as 1/0 itself, and SQLite's date
    text is the ISO form."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if dialect.name == "sqlite" and process is not None:
        if isinstance(column_type, Boolean):
            return None
        if type(column_type) is Date:
            return _iso_date
    return process


def _iso_date(value):
    return None if value is None else value.isoformat()


def iso_dates(values: list) -> list:
    """``[_iso_date(v) for v in values]``, each distinct date converted once (a register of
    100k rows holds a few thousand distinct dates)."""
    text = {value: value.isoformat() for value in set(values) if value is not None}
    text[None] = None
    return list(map(text.__getitem__, values))


def _iso_columns(model, columns: dict[str, list]) -> dict[str, list]:
    """The date and date-time columns as ISO text (``iso_dates``), secrets left out."""
    return {
        key: iso_dates(values)
        for key, values in columns.items()
        if key not in SECRET_FIELDS and isinstance(model.__table__.c[key].type, Date | DateTime)
    }


def _driver_dates(connection, model, iso: dict[str, list]) -> dict[str, list]:
    """The ISO date columns that are what the driver would be given anyway (SQLite)."""
    dialect = connection.dialect
    return {
        key: values
        for key, values in iso.items()
        if _fast_processor(model.__table__.c[key].type, dialect) is _iso_date
    }


def insert_columns(connection, table, columns: dict[str, list], bound=None) -> None:
    """One executemany straight to the driver, each column converted once by its type's own
    bind processor (what SQLAlchemy would do per row, at a fraction of the cost). Unaudited:
    only ``bulk_insert_columns`` calls it, and the bench as its baseline."""
    dialect = connection.dialect
    keys = list(columns)
    converted = []
    for key in keys:
        process = _fast_processor(table.c[key].type, dialect)
        values = columns[key]
        if bound and key in bound:
            # Already converted by this very processor (bulk_insert_columns).
            converted.append(bound[key])
        elif process is _iso_date:
            converted.append(iso_dates(values))
        else:
            converted.append(list(map(process, values)) if process is not None else values)
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in keys)}) "
        f"VALUES ({', '.join([marker] * len(keys))})"
    )
    connection.exec_driver_sql(statement, list(zip(*converted, strict=True)))


def _places(model, columns: dict[str, list], count: int):
    """(an order that puts each place's rows together, or None when they already are; the
    (start, end) span of each place in that order). A place is the township, village and
    group a row belongs to (what _where reads)."""
    if model is Township:
        return None, [(i, i + 1) for i in range(count)]
    scope = getattr(model, "__scope__", {})
    keys = [scope.get(level, f"{level}_id") for level in ("township", "village", "group")]
    keys = [k for k in keys if k in columns]
    if not keys:
        return None, [(0, count)]
    groups: dict = {}
    for position, place in enumerate(zip(*(columns[k] for k in keys), strict=True)):
        groups.setdefault(place, []).append(position)
    spans, start = [], 0
    for positions in groups.values():
        spans.append((start, start + len(positions)))
        start += len(positions)
    if len(groups) == 1:
        return None, spans
    return [i for positions in groups.values() for i in positions], spans


def batch_entries(
    action, model, columns: dict[str, list], spans, connection, iso=None
) -> list[dict]:
    """The entries of a bulk write: one per ``BATCH_ROWS`` rows of one place.

    ``changes`` is ``{"same": {field: value}, "fields": [...], "rows": [[id, ...], ...]}``:
    a value every row of the entry shares (the village, often the group, status, category)
    is written once under ``same``; the others row by row.
    """
    fields = [k for k in columns if k != "id" and _kept(model, k)]
    # Dates as ISO text, so that the JSON encoder calls back into Python for nothing.
    if iso is None:
        iso = _iso_columns(model, columns)
    sealed = crypto.encrypted_columns(model)
    townships = _Townships(connection)
    who = actor()
    entries = []
    for place_start, place_end in spans:
        first = {key: values[place_start] for key, values in columns.items()}
        where = _where(model, first, townships)
        for start in range(place_start, place_end, BATCH_ROWS):
            end = min(start + BATCH_ROWS, place_end)
            ids = columns["id"][start:end]
            same, varying, chunks = {}, [], []
            for key in fields:
                chunk = iso.get(key, columns[key])[start:end]
                if key in SECRET_FIELDS:
                    chunk = list(map(crypto.fingerprint, chunk))
                elif key in sealed:
                    chunk = list(map(crypto.audit_value, chunk))
                if chunk.count(chunk[0]) == len(chunk):
                    same[key] = chunk[0]
                else:
                    varying.append(key)
                    chunks.append(chunk)
            changes = {
                "same": same,
                "fields": varying,
                "rows": list(zip(ids, *chunks, strict=True)),
            }
            entry = make_entry(action, model, min(ids), changes, where, who)
            entry["record_last"] = max(ids)
            entries.append(entry)
    return entries


def bulk_update(session, model, rows: list[dict], before: dict) -> None:
    """Update many rows (each with its ``id``); ``before`` maps id → the stored values."""
    if not rows:
        return
    connection = session.connection()
    rows = [crypto.hash_row(model, row) for row in rows]
    session.execute(update(model).execution_options(audited=True), rows)
    townships = _Townships(connection)
    who = actor()
    entries = []
    for row in rows:
        old = before[row["id"]]
        changes = {
            k: [_redacted(k, old.get(k), model), _redacted(k, v, model)]
            for k, v in row.items()
            if k != "id" and old.get(k) != v and _kept(model, k)
        }
        if changes:
            merged = {**old, **row}
            entries.append(
                make_entry(
                    "update", model, row["id"], changes, _where(model, merged, townships), who
                )
            )
    write_entries(connection, entries)


# --- Verification and retention ---


KEY_HINT = (
    "not keyed with this program's ID_ENCRYPTION_KEY (or instance/id_encryption_key): the log "
    "was written under another key, or changed"
)


def verify(session) -> tuple[bool, str]:
    """Walk the chain; (True, summary) when intact, (False, the first bad entry) otherwise.

    Every entry must carry its HMAC under this program's key, except a run of unkeyed
    (SHA-256) entries before the first keyed one: those written before migration 0011, which
    the migration's ``chain_keyed`` entry seals. A log with entries and no keyed one at all
    does not verify: it was written under another key, or rewritten by someone without it.
    """
    anchors = set()
    for changes in session.execute(
        select(AuditLog.changes).where(AuditLog.action == "prune")
    ).scalars():
        anchor = json.loads(changes or "{}").get("anchor")
        if anchor:
            anchors.add(anchor)
    prev = None
    count = unkeyed = 0
    keyed_seen = False
    keyed = crypto.audit_mac()
    query = select(AuditLog).order_by(AuditLog.id).execution_options(yield_per=2000)
    for row in session.execute(query).scalars():
        values = {name: getattr(row, name) for name in HASHED_FIELDS}
        values["record_last"] = row.record_last
        if prev is None:
            if row.prev_hash != GENESIS and row.prev_hash not in anchors:
                return False, f"#{row.id}: the chain does not start at the beginning nor at a prune"
        elif row.prev_hash != prev.hash:
            return False, f"#{row.id}: previous hash does not match entry #{prev.id}"
        if entry_mac(values, row.prev_hash, keyed) == row.hash:
            keyed_seen = True
        elif not keyed_seen and entry_hash(values, row.prev_hash) == row.hash:
            unkeyed += 1  # written before migration 0011
        elif keyed_seen:
            return False, f"#{row.id}: content does not match its hash"
        else:
            return False, f"#{row.id}: content does not match its hash, or {KEY_HINT}"
        prev = row
        count += 1
        session.expunge(row)
    if count and not keyed_seen:
        return False, f"#{prev.id}: no entry of the chain is keyed: {KEY_HINT}"
    head = session.execute(select(AuditHead.last_id, AuditHead.last_hash)).one_or_none()
    if (
        prev is not None
        and head is not None
        and (head.last_id, head.last_hash) != (prev.id, prev.hash)
    ):
        return False, f"#{head.last_id}: entries after #{prev.id} are missing"
    if unkeyed:
        return True, f"{count} entries, chain intact ({unkeyed} from before the chain was keyed)"
    return True, f"{count} entries, chain intact"


RETENTION_MONTHS = 6


def prune(session, before: dt.date) -> int:
    """Delete entries older than ``before`` (6 months back at least); the chain stays verifiable."""
    from dateutil.relativedelta import relativedelta

    limit = dt.date.today() - relativedelta(months=RETENTION_MONTHS)
    if before > limit:
        raise ValueError(limit.isoformat())
    connection = session.connection()
    # Lock the head first, then find the contiguous run of old entries.
    _lock_chain(connection)
    cutoff = dt.datetime.combine(before, dt.time())
    # Only the run of old entries at the start of the chain goes: the chain stays one piece.
    first_kept = connection.execute(
        select(func.min(AuditLog.id)).where(AuditLog.ts >= cutoff)
    ).scalar()
    query = select(AuditLog.id, AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)
    if first_kept is not None:
        query = query.where(AuditLog.id < first_kept)
    last_old = connection.execute(query).one_or_none()
    deleted = 0
    records = {}
    if last_old is not None:
        # Per register, the highest record id whose entries go: ``verify --records`` does not
        # call a record at or below it unaudited for having no entry left.
        covered = func.max(func.coalesce(AuditLog.record_last, AuditLog.record_id))
        records = dict(
            connection.execute(
                select(AuditLog.model, covered)
                .where(
                    AuditLog.id <= last_old.id,
                    AuditLog.model.is_not(None),
                    AuditLog.action.in_(("insert", "update", "delete")),
                )
                .group_by(AuditLog.model)
            ).all()
        )
        dialect = connection.dialect.name
        for statement in TRIGGERS_OFF[dialect]:
            connection.exec_driver_sql(statement)
        deleted = connection.execute(
            AuditLog.__table__.delete().where(AuditLog.id <= last_old.id)
        ).rowcount
        for statement in TRIGGERS_ON[dialect]:
            connection.exec_driver_sql(statement)
    record(
        "prune",
        details={
            "before": before.isoformat(),
            "deleted": deleted,
            "anchor": last_old.hash if last_old is not None else None,
            "records": records,
        },
        session=session,
        commit=False,
    )
    session.commit()
    return deleted


# The database itself refuses UPDATE and DELETE on the log (created by migration 0002).
TRIGGERS_ON = {
    "sqlite": [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}
TRIGGERS_OFF = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",
        "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    ],
}
