"""The records against the log (issue 15): ``flask audit verify --records``, ``backup verify``.

The hash chain shows tampering with the log; this shows tampering with the records. Every
write of an audited model is logged with its values, so replaying a register's entries —
insert: the values; update: the changed fields' new values; delete: gone; a bulk insert's
batch entry: each of its rows — gives what each record should hold now. Each register is
checked on its own, as three streams merged in record id order (the table, the per-record
entries, the batch entries one batch at a time), so memory stays flat at a million members.

What is compared: every column the log keeps; a password hash through the keyed fingerprint
the log keeps of it (``crypto.fingerprint``; an entry written before, "***", names no value);
and the many-to-many lists (an account's roles and groups, a meeting's attendees) a record's
entries name: an insert entry names them all since the chain was keyed, an update entry the
ones it changed; a list no entry names is not compared. Not compared, and said so:
bookkeeping the log leaves out (``NOISE_FIELDS``, lookup hashes) and columns computed by the
database. Encrypted fields
are compared as their plain text (an entry holds its own ciphertext, or plain text from
before migration 0006); values as the listener writes them (dates as ISO text, decimals as
text, booleans) are compared by their column's type.

A record whose insert entry is in the log must hold ``None`` (or its column default) in every
kept field its entries never named: the listener writes every field that had a value. A
record whose insert entry was pruned (``flask audit prune``) is compared on the fields its
remaining entries name; a record with no entry left at all is not checked if its id is at or
below the highest record id the prune removed entries of (the prune entry says, per register)
— it is counted as "entries pruned", not named as unaudited.
"""

import datetime as dt
import decimal
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

import orjson
from cryptography.exceptions import InvalidTag
from flask_appbuilder import Model
from flask_babel import gettext as _
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, inspect, select, text

from app import audit, crypto
from app.accounts import MASKED_FIELDS

# What a finding says of a record: its values differ from the log's, it has no entry, the log
# has it and the database not, the log deleted it and the database still has it.
KINDS = ("differs", "unaudited", "missing", "deleted")
# Findings kept with their details (the rest are counted).
SHOWN = 50
# Rows fetched from the driver at a time, through a server-side cursor on PostgreSQL (given
# per statement: on a Connection, execution_options() would change every later statement).
CHUNK = 5000
STREAM = {"stream_results": True}


@dataclass
class Finding:
    """One record that does not agree with the log."""

    model: str
    record_id: int
    kind: str  # one of KINDS
    # (field, expected, found, private): private values are never shown.
    fields: list = field(default_factory=list)


@dataclass
class RecordsReport:
    """What a check of the records against the log found."""

    checked: int = 0
    registers: int = 0
    pruned: int = 0
    counts: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    findings: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    @property
    def bad(self) -> int:
        return sum(self.counts.values())

    def add(self, finding: Finding) -> None:
        self.counts[finding.kind] += 1
        if len(self.findings) < SHOWN:
            self.findings.append(finding)


def audited_models() -> list:
    """Every audited model, by the name its entries carry."""
    models = {}
    for mapper in Model.registry.mappers:
        if audit.audited(mapper.class_):
            models[mapper.class_.__name__] = mapper.class_
    return [models[name] for name in sorted(models)]


# --- Values as the log writes them, and as the database holds them ---


def _unseal(value):
    try:
        return crypto.unseal(value)
    except (InvalidTag, ValueError):
        # Not a ciphertext this key opens: never equal to a real value.
        return ("unreadable", value)


def _datetime(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)


def _canonical(column):
    """A function giving one form to a stored value and to the log's value of ``column``."""
    kind = column.type
    if isinstance(kind, crypto.Encrypted):
        return _unseal
    if isinstance(kind, Boolean):
        return lambda v: None if v is None else bool(v)
    if isinstance(kind, DateTime):
        return _datetime
    if isinstance(kind, Date):
        return lambda v: v.isoformat() if isinstance(v, dt.date) else v
    if isinstance(kind, Numeric):
        return _decimal
    if isinstance(kind, Integer):
        return lambda v: v if v is None or isinstance(v, int) else _int(v)
    return lambda v: v


def _decimal(value):
    if value is None:
        return None
    try:
        return decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        return str(value)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


class _Register:
    """One audited model: the columns compared, how, and what the log does not keep."""

    def __init__(self, model):
        self.model = model
        self.name = model.__name__
        mapper = inspect(model)
        self.table = mapper.local_table
        self.keys, self.columns, self.skipped = [], [], []
        for key, column in mapper.columns.items():
            if key == "id" or column.table is not self.table:
                continue
            if column.computed is not None:
                self.skipped.append((key, "computed"))
            elif not audit._kept(model, key):
                # Bookkeeping (sign-in counts, lookup hashes).
                self.skipped.append((key, "not kept"))
            else:
                self.keys.append(key)
                self.columns.append(column)
        # (key, canonical form, default) of each compared column, in the order of ``rows``.
        self.fields = [
            (
                key,
                _fingerprinted if key in audit.SECRET_FIELDS else _canonical(c),
                c.default.arg if c.default is not None and c.default.is_scalar else None,
            )
            for key, c in zip(self.keys, self.columns, strict=True)
        ]
        # Many-to-many lists: (key, table, its column of this record, its column of the other).
        self.lists = [
            (
                rel.key,
                rel.secondary,
                rel.synchronize_pairs[0][1],
                rel.secondary_synchronize_pairs[0][1],
            )
            for rel in mapper.relationships
            if rel.secondary is not None and audit._kept(model, rel.key)
        ]
        self.private = (
            set(crypto.encrypted_columns(model))
            | _masked(self.name, self.keys)
            | (audit.SECRET_FIELDS & set(self.keys))
        )
        self.derive = getattr(model, "derive_columns", None)
        self.sealed = set(crypto.encrypted_columns(model))

    def rows(self, connection):
        """(id, value, …) of every row in id order, values as stored (ciphertext sealed)."""
        quote = connection.dialect.identifier_preparer.quote
        names = [quote(c.name) for c in [self.table.c.id, *self.columns]]
        if connection.dialect.name == "postgresql":
            # Dates as the ISO text the log holds (SQLite stores them so): one comparison.
            names = [
                f"to_char({name}, 'YYYY-MM-DD')" if isinstance(c.type, Date) else name
                for name, c in zip(names, [self.table.c.id, *self.columns], strict=True)
            ]
        names = ", ".join(names)
        result = connection.exec_driver_sql(
            f"SELECT {names} FROM {quote(self.table.name)} ORDER BY {quote('id')}",
            execution_options=STREAM,
        )
        while chunk := result.fetchmany(CHUNK):
            yield from map(tuple, chunk)

    def list_rows(self, connection) -> dict:
        """key → {record id: [other ids, sorted]} of each many-to-many list (small tables)."""
        found = {}
        for key, table, mine, other in self.lists:
            lists: dict = {}
            for record_id, other_id in connection.execute(
                select(mine, other).select_from(table).order_by(mine, other)
            ):
                lists.setdefault(record_id, []).append(other_id)
            found[key] = lists
        return found

    def expected_defaults(self, state: dict) -> dict:
        """What a field never named by a record's entries holds: None, its default, or (a
        derived column, ``special``) what the record's other values give."""
        if self.derive is None:
            return {}
        values = {k: [_unseal(v) if k in self.sealed else v] for k, v in state.items()}
        self.derive(values)
        return {k: v[0] for k, v in values.items() if k not in state}


def _fingerprinted(value):
    """A stored password hash as the log keeps it (its keyed fingerprint); the log's own
    value (a fingerprint, or "***" from before fingerprints) as it is."""
    if value is None or value == UNNAMED or str(value).startswith(crypto.FINGERPRINT):
        return value
    return crypto.fingerprint(value)


# What entries written before fingerprints hold for a password: a change, no value.
UNNAMED = "***"


def _masked(model_name, keys) -> set:
    """Fields some role sees masked: their values are not printed either."""
    return {k for k in keys if k in MASKED_FIELDS or f"{model_name}.{k}" in MASKED_FIELDS}


# --- The log, per register ---


def _row_entries(connection, name):
    """(record id, [(entry id, action, {field: value after}, None), …]) of the per-record
    entries, by record id."""
    result = connection.execute(
        text(
            "SELECT record_id, id, action, changes FROM audit_log WHERE model = :model "
            "AND record_last IS NULL AND record_id IS NOT NULL "
            "AND action IN ('insert', 'update', 'delete') ORDER BY record_id, id"
        ),
        {"model": name},
        execution_options=STREAM,
    )

    def events():
        while chunk := result.fetchmany(CHUNK):
            for record_id, entry_id, action, changes in chunk:
                after = {}
                if action != "delete" and changes:
                    after = {k: v[1] for k, v in orjson.loads(changes).items()}
                yield record_id, (entry_id, action, after, None)

    for record_id, group in groupby(events(), key=itemgetter(0)):
        yield record_id, [event for _record_id, event in group]


def _batch_entries(connection, register):
    """(record id, [(entry id, action, values, named)]) of every row of the batch entries, by
    record id: ``values`` in the register's field order (None where the entry names nothing),
    ``named`` the positions it names. Read one entry at a time."""
    spans = connection.execute(
        text(
            "SELECT id, action, record_id, record_last FROM audit_log WHERE model = :model "
            "AND record_last IS NOT NULL AND action IN ('insert', 'update', 'delete') "
            "ORDER BY record_id, id"
        ),
        {"model": register.name},
    ).all()
    # Spans that overlap (only concurrent bulk writes on PostgreSQL) are read together.
    cluster, last = [], 0
    for span in spans:
        if cluster and span.record_id > last:
            yield from _batch_rows(connection, register, cluster)
            cluster = []
        last = max(last, span.record_last) if cluster else span.record_last
        cluster.append(span)
    if cluster:
        yield from _batch_rows(connection, register, cluster)


def _batch_rows(connection, register, spans):
    rows = []
    for span in spans:
        changes = connection.execute(
            text("SELECT changes FROM audit_log WHERE id = :id"), {"id": span.id}
        ).scalar()
        changes = orjson.loads(changes or "{}")
        fields, same = changes.get("fields", []), changes.get("same", {})
        if span.action == "delete":
            rows += [(row[0], (span.id, "delete", (), ())) for row in changes.get("rows", [])]
            continue
        # Each row, and after it the shared values and a None: one C-level pick per row.
        tail = [*same.values(), None]
        width = len(fields) + 1
        shared = {key: width + i for i, key in enumerate(same)}
        places = {key: 1 + i for i, key in enumerate(fields)}
        picks = [places.get(key, shared.get(key, width + len(same))) for key in register.keys]
        named = tuple(i for i, key in enumerate(register.keys) if key in places or key in shared)
        pick = _picker(picks)
        rows += [
            (row[0], (span.id, span.action, pick(row + tail), named))
            for row in changes.get("rows", [])
        ]
    if len(spans) > 1:
        rows.sort(key=lambda r: (r[0], r[1][0]))
    for record_id, group in groupby(rows, key=itemgetter(0)):
        yield record_id, [event for _record_id, event in group]


def _picker(positions):
    """A function picking ``positions`` of a list as a tuple (itemgetter's, for two or more)."""
    if len(positions) > 1:
        return itemgetter(*positions)
    return lambda row: tuple(row[i] for i in positions)


def _merged(first, second):
    """Two (record id, [events]) streams in record id order as one, events joined."""
    a, b = next(first, None), next(second, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            yield a
            a = next(first, None)
        elif a is None or b[0] < a[0]:
            yield b
            b = next(second, None)
        else:
            yield a[0], a[1] + b[1]
            a, b = next(first, None), next(second, None)


def _pruned_up_to(connection) -> dict:
    """Register → the highest record id ``flask audit prune`` removed entries of. A prune
    entry written before it said so: every record below the register's oldest insert entry
    still in the log."""
    marks, legacy = {}, False
    for (changes,) in connection.execute(
        text("SELECT changes FROM audit_log WHERE action = 'prune'")
    ):
        details = orjson.loads(changes or "{}")
        if not details.get("deleted"):
            continue
        if "records" not in details:
            legacy = True
        for name, last in (details.get("records") or {}).items():
            marks[name] = max(marks.get(name, 0), last)
    if legacy:
        for name, first in connection.execute(
            text(
                "SELECT model, min(record_id) FROM audit_log WHERE action = 'insert' "
                "AND model IS NOT NULL GROUP BY model"
            )
        ):
            marks[name] = max(marks.get(name, 0), (first or 1) - 1)
        marks[None] = float("inf")  # a register with no insert entry left at all
    return marks


# --- The check ---


def _fold(register, events) -> tuple[bool, bool, dict]:
    """(exists, complete, {field: value}) of a record after its entries, oldest first."""
    exists = complete = False
    state: dict = {}
    for _entry_id, action, values, named in events:
        if named is not None:
            values = {register.keys[i]: values[i] for i in named}
        if action == "insert":
            exists = complete = True
            state = dict(values)
        elif action == "update":
            exists = True
            state.update(values)
        else:
            exists = complete = False
            state = {}
    return exists, complete, state


def _compare(register: _Register, state: dict, complete: bool, row, lists=None) -> list:
    """The fields of ``row`` (and its many-to-many ``lists``) that differ from the log's
    ``state``."""
    lists = lists or {}
    differ = []
    derived = None
    for position, (key, canon, default) in enumerate(register.fields, 1):
        found = row[position]
        if key in state:
            expected = state[key]
            if expected == found or canon(expected) == canon(found):
                continue
            if expected == UNNAMED and key in audit.SECRET_FIELDS:
                continue  # an entry from before fingerprints: a change, no value
        elif complete:
            if found is None:
                continue
            if derived is None:
                derived = register.expected_defaults(state)
            expected = derived.get(key, default)
            if expected is not None and canon(expected) == canon(found):
                continue
        else:
            continue  # never named by what is left of the log (its insert pruned)
        differ.append((key, canon(expected), canon(found), key in register.private))
    for key, *_table in register.lists:
        if key not in state:
            continue  # named by no entry left (an insert from before the chain was keyed)
        expected = sorted(state[key] or [])
        found = lists.get(key, {}).get(row[0], [])
        if expected != found:
            differ.append((key, expected, found, False))
    return differ


def _check_register(connection, register: _Register, report: RecordsReport, pruned) -> None:
    mark = pruned.get(register.name, pruned.get(None, 0))
    logged = _merged(_row_entries(connection, register.name), _batch_entries(connection, register))
    rows = register.rows(connection)
    lists = register.list_rows(connection)
    row, entry = next(rows, None), next(logged, None)
    seen = row is not None
    while row is not None or entry is not None:
        if entry is None or (row is not None and row[0] < entry[0]):
            if row[0] <= mark:
                report.pruned += 1
            else:
                report.add(Finding(register.name, row[0], "unaudited"))
            row = next(rows, None)
            continue
        record_id, events = entry
        if row is not None and row[0] == record_id:
            found, row = row, next(rows, None)
        else:
            found = None
        entry = next(logged, None)
        if found is not None and len(events) == 1:
            _entry_id, action, values, named = events[0]
            # A row as its bulk insert wrote it (nearly all of a big register): one comparison.
            if action == "insert" and named is not None and values == found[1:]:
                report.checked += 1
                continue
        elif len(events) > 1:
            events.sort(key=itemgetter(0))
        exists, complete, state = _fold(register, events)
        if found is None:
            if exists:
                report.add(Finding(register.name, record_id, "missing"))
        elif not exists:
            report.add(Finding(register.name, record_id, "deleted"))
        else:
            report.checked += 1
            differ = _compare(register, state, complete, found, lists)
            if differ:
                report.add(Finding(register.name, record_id, "differs", differ))
    if seen:
        report.registers += 1


def verify_records(connection) -> RecordsReport:
    """Compare every audited record with its last audited state (see the module's doc)."""
    report = RecordsReport()
    pruned = _pruned_up_to(connection)
    for model in audited_models():
        register = _Register(model)
        report.skipped += [(register.name, key, why) for key, why in register.skipped]
        _check_register(connection, register, report, pruned)
    return report


# --- The report, as the terminal shows it ---


def _shown(value) -> str:
    return "∅" if value is None else repr(value if isinstance(value, str) else str(value))


def _fields(fields) -> str:
    parts = []
    for key, expected, found, private in fields:
        if private:
            parts.append(key)
        else:
            parts.append(
                _(
                    "%(field)s: %(expected)s in the log, %(found)s found",
                    field=key,
                    expected=_shown(expected),
                    found=_shown(found),
                )
            )
    return "; ".join(parts)


def finding_line(finding: Finding) -> str:
    where = {"model": finding.model, "id": finding.record_id}
    if finding.kind == "differs":
        return _(
            "%(model)s #%(id)s differs from the log: %(fields)s",
            fields=_fields(finding.fields),
            **where,
        )
    if finding.kind == "unaudited":
        return _("%(model)s #%(id)s has no entry in the log", **where)
    if finding.kind == "missing":
        return _("%(model)s #%(id)s is in the log but not in the database", **where)
    return _("%(model)s #%(id)s was deleted in the log but is still in the database", **where)


def report_lines(report: RecordsReport) -> list[str]:
    """The findings (the first ``SHOWN``), then a summary; what was not compared, and why."""
    lines = [finding_line(finding) for finding in report.findings]
    if report.bad > len(report.findings):
        lines.append(_("… and %(n)d more records", n=report.bad - len(report.findings)))
    if report.ok:
        lines.append(
            _(
                "%(n)d records in %(m)d registers match the log",
                n=report.checked,
                m=report.registers,
            )
        )
    else:
        lines.append(
            _(
                "%(bad)d records do not match the log (%(differs)d differ, %(unaudited)d "
                "without an entry, %(missing)d missing, %(deleted)d deleted in the log but "
                "present); %(n)d records in %(m)d registers checked",
                bad=report.bad,
                n=report.checked,
                m=report.registers,
                **report.counts,
            )
        )
    if report.pruned:
        lines.append(_("%(n)d records not checked: their entries were pruned", n=report.pruned))
    reasons = {
        "not kept": _("Not compared (the log does not keep them): %(fields)s"),
        "computed": _("Not compared (computed by the database): %(fields)s"),
    }
    for why, message in reasons.items():
        fields = [f"{model}.{key}" for model, key, reason in report.skipped if reason == why]
        if fields:
            lines.append(message % {"fields": ", ".join(fields)})
    return lines
