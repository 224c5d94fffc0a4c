"""The audit log's screen and API (SPEC §3.4): read-only for everyone, Admin included.

Machinery below the declarations (app/views.py puts the screen in the menu): an entry's changes
shown with the registers' labels, masked like the records; the filter that finds a record in a
bulk write's span.
"""

import functools
import json

from flask import current_app, g, request
from flask_appbuilder import ModelRestApi, ModelView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import Boolean

from app import accounts, audit, crypto, records, reminders
from app.inputs import valid_pk
from app.machinery import Declared, yes_no
from app.masking import MASKERS
from app.models import BUSINESS_MODELS, AuditLog, Village
from app.resources import RESOURCES
from app.speed import AuditLogInterface


def record_name(model, pk):
    """A record's human name (its ``__repr__``) for display, looked up once per request."""
    names = g.setdefault("record_names", {})
    key = (model.__name__, pk)
    if key not in names:
        item = current_app.appbuilder.session.get(model, pk) if valid_pk(pk) else None
        names[key] = str(item) if item is not None else f"#{pk}"
    return names[key]


def village_name(village_id):
    return "" if village_id is None else record_name(Village, village_id)


def roster_title(kind):
    """A roster KIND by its register's name (花名册), as the import and export pages say it."""
    resource = RESOURCES.get(kind)
    return getattr(resource, "title", None) or kind


# What an import, export or other event entry says, besides register fields.
EVENT_LABELS = {
    "kind": _l("Register"),
    "file": _l("File"),
    "format": _l("Format"),
    "rows": _l("Rows"),
    "sha256": "SHA-256",
    "inserted": _l("Inserted"),
    "updated": _l("Updated"),
    "unchanged": _l("Unchanged"),
    "rejected": _l("Rejected rows"),
    "bytes": _l("Size (bytes)"),
    "database": _l("Database"),
    "revision": _l("Schema revision"),
    "backup_last_entry": _l("Last entry in the backup"),
    "replaced_last_entry": _l("Last entry of the replaced database"),
    "replaced_last_hash": _l("Its hash"),
}


def _field_display():
    """Field name → (label, how to show a value), from the audited models' declarations."""
    shown = {key: (label, str) for key, label in EVENT_LABELS.items()}
    shown["kind"] = (EVENT_LABELS["kind"], roster_title)
    tables = {model.__tablename__: model for model in BUSINESS_MODELS}
    for model in BUSINESS_MODELS:
        for key, column in records.columns(model).items():
            if key in shown or "label" not in column.info:
                continue
            choices = column.info.get("choices")
            targets = [tables.get(fk.column.table.name) for fk in column.foreign_keys]
            if choices is not None:
                show = choices.label
            elif isinstance(column.type, Boolean):
                show = yes_no
            elif targets and targets[0] is not None:
                show = functools.partial(record_name, targets[0])
            else:
                show = str
            shown[key] = (column.info["label"], show)
    return shown


FIELD_DISPLAY = _field_display()


def _shown(key, value):
    """One value of an entry, as the records show it: labels, masked for the user's role."""
    value = crypto.unseal(value)
    if value is None or value == "":
        return ""
    if key in audit.SECRET_FIELDS:
        return "***"  # the log's keyed fingerprint of a password hash: for verify, not readers
    if key in MASKERS and accounts.masks(key):
        return MASKERS[key](value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return FIELD_DISPLAY.get(key, (key, str))[1](value)


def _record_filter():
    """The record the audit list is filtered to (a record's history), if any."""
    value = request.args.get(f"_flt_{reminders.NUMBER_EQUAL}_record_id", "")
    return int(value) if valid_pk(value) else None


def changes_table(value):
    """An entry's {field: [before, after]} as a small table: labels, masked like the records."""
    if not value:
        return ""
    try:
        changes = json.loads(value)
    except ValueError:
        return value
    if "rows" in changes and "fields" in changes:
        return batch_table(changes)
    rows = []
    for key, pair in sorted(changes.items()):
        if not isinstance(pair, list) or len(pair) != 2:
            pair = [None, pair]
        label = FIELD_DISPLAY.get(key, (key, str))[0]
        cells = [_shown(key, v) for v in pair]
        rows.append(Markup("<tr><th>{}</th><td>{}</td><td>{}</td></tr>").format(label, *cells))
    return Markup('<table class="table table-condensed audit-changes">{}</table>').format(
        Markup("").join(rows)
    )


def batch_table(changes):
    """A bulk write's rows: the record asked for, all of them on the entry's page, else a count."""
    fields, rows, same = changes["fields"], changes["rows"], changes.get("same", {})
    wanted = _record_filter()
    caption = _("%(n)d records written in one batch", n=len(rows))
    if wanted is not None:
        # A record's history: its own row, as an insert entry shows it.
        row = next((row for row in rows if row[0] == wanted), None)
        if row is None:
            return caption
        values = {**same, **dict(zip(fields, row[1:], strict=True))}
        pairs = {k: [None, v] for k, v in values.items() if v is not None}
        return changes_table(json.dumps(pairs, default=str))
    if request.endpoint != "AuditLogView.show":
        return Markup('<span class="audit-batch">{}</span>').format(caption)
    shared = changes_table(
        json.dumps({k: [None, v] for k, v in same.items() if v is not None}, default=str)
    )
    cell = Markup("<td>{}</td>")
    header = Markup("").join(
        Markup("<th>{}</th>").format(FIELD_DISPLAY.get(k, (k, str))[0]) for k in fields
    )
    body = Markup("").join(
        Markup("<tr><th>#{}</th>{}</tr>").format(
            row[0],
            Markup("").join(
                cell.format(_shown(k, v)) for k, v in zip(fields, row[1:], strict=True)
            ),
        )
        for row in rows
    )
    return Markup(
        '<div class="audit-batch table-responsive"><p>{}</p>{}<p>{}</p>'
        '<table class="table table-condensed audit-changes"><tr><th></th>{}</tr>{}</table></div>'
    ).format(caption, shared, _("Row by row:"), header, body)


def utc_time(value):
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def role_labels(value):
    return "、".join(str(accounts.ROLE_LABELS.get(r, r)) for r in (value or "").split(",") if r)


def _unsealed(value):
    """An entry's changes with encrypted values decrypted (the log keeps them sealed)."""
    if isinstance(value, dict):
        return {k: _unsealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsealed(v) for v in value]
    return crypto.unseal(value)


def masked_changes(value):
    """The changes JSON with ID numbers and phones masked for the roles that see them masked."""
    if not value:
        return value
    changes = _unsealed(json.loads(value))
    if "rows" in changes and "fields" in changes:
        for i, key in enumerate(changes["fields"], start=1):
            if key in MASKERS and accounts.masks(key):
                for row in changes["rows"]:
                    row[i] = MASKERS[key](row[i]) if row[i] else row[i]
        same = changes.get("same", {})
        for key in MASKERS:
            if same.get(key) and accounts.masks(key):
                same[key] = MASKERS[key](same[key])
        return json.dumps(changes, ensure_ascii=False, sort_keys=True)
    for key in MASKERS:
        if key in changes and accounts.masks(key) and isinstance(changes[key], list):
            changes[key] = [MASKERS[key](v) if v else v for v in changes[key]]
    for key in audit.SECRET_FIELDS & changes.keys():
        if isinstance(changes[key], list):
            changes[key] = ["***" if v else v for v in changes[key]]
    return json.dumps(changes, ensure_ascii=False, sort_keys=True)


AUDIT_COLUMNS = [
    "ts",
    "username",
    "role",
    "action",
    "model",
    "records",
    "village_id",
    "changes",
]


class AuditLogView(Declared, ModelView):
    """The audit log: list and detail only — there is no way to add, edit or delete an entry."""

    datamodel = AuditLogInterface(AuditLog)
    include_route_methods = {"list", "show"}
    method_permission_name = {"list": "read", "show": "read"}
    list_columns = AUDIT_COLUMNS
    show_columns = [*audit.HASHED_FIELDS, "record_last", "prev_hash", "hash"]
    search_columns = ["ts", "username", "action", "model", "record_id"]
    # Not by the changes: they hold values a reader may see masked (a birth date).
    order_columns = ["ts", "username", "role", "action", "model", "records", "village_id"]
    base_order = ("id", "desc")
    page_size = 50
    sort_by = {"records": "record_id"}

    def __init__(self, **kwargs):
        self._declare()
        self.label_columns["records"] = _l("Record")
        self.formatters_columns.update(
            changes=changes_table, ts=utc_time, role=role_labels, village_id=village_name
        )
        super().__init__(**kwargs)


class AuditLogApi(Declared, ModelRestApi):
    """GET only: the API offers no way to write the log, to Admin neither."""

    datamodel = AuditLogInterface(AuditLog)
    resource_name = "audit_log"
    include_route_methods = {"get", "get_list", "info"}
    method_permission_name = {"get": "read", "get_list": "read", "info": "read"}
    list_columns = show_columns = ["id"] + AuditLogView.show_columns[1:]
    search_columns = ["ts", "username", "action", "model", "record_id", "village_id"]
    order_columns = ["id", "ts"]
    base_order = ("id", "desc")

    def __init__(self, **kwargs):
        self._declare()
        super().__init__(**kwargs)

    def _mask(self, row):
        if "changes" in row:
            row["changes"] = masked_changes(row["changes"])

    def pre_get(self, data):
        self._mask(data.get("result", {}))

    def pre_get_list(self, data):
        for row in data.get("result", []):
            self._mask(row)
