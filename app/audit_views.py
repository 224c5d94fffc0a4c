"""The audit log's screen and API (SPEC §3.4): read-only for everyone, Admin included.

Machinery below the declarations (app/views.py puts the screen in the menu): an entry's changes
shown with the registers' labels, masked like the records; the filter that finds a record in a
bulk write's span.
"""

import datetime as dt
import functools
import json

from dateutil import parser as dateparser
from flask import current_app, g, request
from flask_appbuilder import ModelRestApi, ModelView
from flask_appbuilder.models.sqla.filters import (
    FilterEqual,
    FilterGreater,
    FilterNotEqual,
    FilterSmaller,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import Boolean, false, inspect

from app import accounts, audit, crypto, fab_hooks, records, reminders
from app.inputs import valid_pk
from app.machinery import Declared, yes_no
from app.masking import MASKERS
from app.models import BUSINESS_MODELS, AuditLog, County, MemberGroup, Township, Village
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


def _maybe_name(model, pk):
    return "" if pk is None else record_name(model, pk)


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
    "size": _l("Size (bytes)"),
    "database": _l("Database"),
    "revision": _l("Schema revision"),
    "backup_last_entry": _l("Last entry in the backup"),
    "replaced_last_entry": _l("Last entry of the replaced database"),
    "replaced_last_hash": _l("Its hash"),
    "report": _l("Report"),
    "year": _l("Year"),
    "half": _l("Half of the year"),
    "step": _l("Signed in through"),
    "left": _l("Recovery codes left"),
    "field": _l("Field"),
    "reason": _l("Reason"),
    "username": _l("Username"),
    "before": _l("Entries before"),
    "deleted": _l("Entries deleted"),
    "anchor": _l("Hash of the last entry deleted"),
    "records": _l("Records"),
}

# The coded values of events: the reports, the halves of a year, the sign-in steps.
REPORT_NAMES = {
    "annual": _l("Annual statistics"),
    "half_year": _l("Half-year summary"),
    "archive": _l("Archive book"),
}
HALVES = {1: _l("January–June"), 2: _l("July–December")}
STEPS = {
    "web": _l("the web page"),
    "api": _l("the API"),
    "enrol": _l("setting up two-factor login"),
    "re-enrol": _l("setting up two-factor login again"),
}

# An account's fields (FAB's user table, without labels of ours in its column info).
ACCOUNT_LABELS = {
    "username": _l("Username"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "email": _l("Email"),
    "active": _l("Account enabled"),
    "password": _l("Password"),
    "password_change_required": _l("Must change the password"),
    "roles": _l("Roles"),
    "groups": _l("Account groups"),
    "created_by_fk": _l("Created by"),
    "changed_by_fk": _l("Changed by"),
}

# Many-to-many lists (their labels are the forms' ones, app/views.py).
LIST_LABELS = {
    "contact_heads": _l("Contact household heads"),
    "attendees": _l("Members attending"),
    "participants": _l("Members who took part"),
}


def _coded(names):
    def show(value):
        return str(names.get(value, value))

    return show


def _named_field(value):
    """A field an event names (the reveal of ``id_number``), by its label."""
    for fields in MODEL_FIELDS.values():
        if value in fields:
            return str(fields[value][0])
    return str(value)


def _role_names(value):
    """An account's roles (ids in the log) by their labels."""
    ids = value if isinstance(value, list) else [value]
    role = current_app.appbuilder.sm.role_model
    names = []
    for pk in ids:
        item = current_app.appbuilder.session.get(role, pk) if valid_pk(pk) else None
        name = item.name if item is not None else f"#{pk}"
        names.append(str(accounts.ROLE_LABELS.get(name, name)))
    return "、".join(names)


def _account_name(value):
    user = current_app.appbuilder.sm.user_model
    return record_name(user, value)


def _names(model):
    """A list of record ids, by the records' names."""

    def show(value):
        ids = value if isinstance(value, list) else [value]
        return "、".join(record_name(model, pk) for pk in ids)

    return show


EVENT_SHOWN = {
    "kind": roster_title,
    "report": _coded(REPORT_NAMES),
    "half": _coded(HALVES),
    "step": _coded(STEPS),
    "field": _named_field,
}


def _model_fields(model, tables):
    """One register's field name → (label, how to show a value), from its declarations."""
    shown = {}
    for key, column in records.columns(model).items():
        label = column.info.get("label") or ACCOUNT_LABELS.get(key)
        if label is None:
            continue
        choices = column.info.get("choices")
        targets = [tables.get(fk.column.table.name) for fk in column.foreign_keys]
        if choices is not None:
            show = _coded(choices.labels)
        elif isinstance(column.type, Boolean):
            show = yes_no
        elif key in ("created_by_fk", "changed_by_fk"):
            show = _account_name
        elif targets and targets[0] is not None:
            show = functools.partial(record_name, targets[0])
        else:
            show = str
        shown[key] = (label, show)
    for rel in inspect(model).relationships:
        if rel.secondary is None:
            continue
        if rel.key == "roles":
            shown[rel.key] = (ACCOUNT_LABELS["roles"], _role_names)
        else:
            label = LIST_LABELS.get(rel.key) or ACCOUNT_LABELS.get(rel.key, rel.key)
            shown[rel.key] = (label, _names(rel.mapper.class_))
    return shown


def _all_fields():
    tables = {model.__tablename__: model for model in BUSINESS_MODELS}
    fields = {model.__name__: _model_fields(model, tables) for model in BUSINESS_MODELS}
    fields["ScopedUser"] = _model_fields(accounts.ScopedUser, tables)
    return fields


MODEL_FIELDS = _all_fields()
ROW_ACTIONS = {"insert", "update", "delete"}


def _any_field(key):
    for fields in MODEL_FIELDS.values():
        if key in fields:
            return fields[key]
    return None


def field_display(model, action, key):
    """How an entry shows one of its keys: (label, how to show a value). A row change is read
    with its register's declarations; an event (an export, an import, a sign-in) with what
    events say, then with any register's field of that name (a roster's columns)."""
    own = MODEL_FIELDS.get(model or "", {}).get(key)
    if action in ROW_ACTIONS and own is not None:
        return own
    if key in EVENT_LABELS:
        return EVENT_LABELS[key], EVENT_SHOWN.get(key, str)
    return own or _any_field(key) or (key, str)


def _shown(display, key, value):
    """One value of an entry, as the records show it: labels, masked for the user's role."""
    value = crypto.unseal(value)
    if value is None or value == "" or value == []:
        return ""
    if key in audit.SECRET_FIELDS:
        return "***"  # the log's keyed fingerprint of a password hash: for verify, not readers
    if key in MASKERS and accounts.masks(key):
        return MASKERS[key](value)
    show = display[1]
    if isinstance(value, list) and show is str:
        return ", ".join(map(str, value))
    try:
        return show(value)
    except (TypeError, ValueError, LookupError):
        return str(value)


def _record_filter():
    """The record the audit list is filtered to (a record's history), if any."""
    value = request.args.get(f"_flt_{reminders.NUMBER_EQUAL}_record_id", "")
    return int(value) if valid_pk(value) else None


class EntryChanges(str):
    """An entry's changes as the screen reads them: the JSON, with the entry's register and
    action, so that each field is read with its own register's labels and choices."""

    model = None
    action = None

    @classmethod
    def of(cls, value, model, action):
        changes = cls(value)
        changes.model, changes.action = model, action
        return changes


def changes_table(value):
    """An entry's {field: [before, after]} as a small table: labels, masked like the records."""
    if not value:
        return ""
    model, action = getattr(value, "model", None), getattr(value, "action", None)
    try:
        changes = json.loads(value)
    except ValueError:
        return value
    if not isinstance(changes, dict):
        return str(value)
    if "rows" in changes and "fields" in changes:
        return batch_table(changes, model, action)
    return _pairs_table(changes, model, action)


def _in_declared_order(model):
    """Sort key: a register's fields in the order its form declares them, the rest after."""
    order = {key: i for i, key in enumerate(MODEL_FIELDS.get(model or "", {}))}
    return lambda item: (order.get(item[0], len(order)), item[0])


def _pairs_table(changes, model, action):
    """Label and value of each field; an update's before and after, under their headings."""
    both = action == "update"
    rows = []
    for key, pair in sorted(changes.items(), key=_in_declared_order(model)):
        if not isinstance(pair, list) or len(pair) != 2:
            pair = [None, pair]
        display = field_display(model, action, key)
        cells = [_shown(display, key, v) for v in pair]
        if not any(cells):
            continue
        if both:
            rows.append(
                Markup('<tr><th>{}</th><td>{}</td><td class="audit-after">{}</td></tr>').format(
                    display[0], *cells
                )
            )
        else:
            value = cells[0] if action == "delete" else cells[1]
            rows.append(Markup("<tr><th>{}</th><td>{}</td></tr>").format(display[0], value))
    head = ""
    if both:
        head = Markup("<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>").format(
            _("Field"), _("Before"), _("After")
        )
    return Markup('<table class="table table-condensed audit-changes">{}{}</table>').format(
        head, Markup("").join(rows)
    )


def batch_table(changes, model=None, action=None):
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
        return _pairs_table(pairs, model, action)
    if request.endpoint != "AuditLogView.show":
        return Markup('<span class="audit-batch">{}</span>').format(caption)
    shared = _pairs_table({k: [None, v] for k, v in same.items() if v is not None}, model, action)
    displays = [field_display(model, action, k) for k in fields]
    cell = Markup("<td>{}</td>")
    header = Markup("").join(Markup("<th>{}</th>").format(d[0]) for d in displays)
    body = Markup("").join(
        Markup("<tr><th>#{}</th>{}</tr>").format(
            row[0],
            Markup("").join(
                cell.format(_shown(d, k, v))
                for d, k, v in zip(displays, fields, row[1:], strict=True)
            ),
        )
        for row in rows
    )
    return Markup(
        '<div class="audit-batch table-responsive"><p>{}</p>{}<p>{}</p>'
        '<table class="table table-condensed audit-changes"><tr><th></th>{}</tr>{}</table></div>'
    ).format(caption, shared, _("Row by row:"), header, body)


# The log keeps UTC; the township reads Beijing time (China keeps no summer time).
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def beijing_time(value):
    """An entry's time (UTC in the log) as Beijing time."""
    if not value:
        return ""
    moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def account_label(value):
    """The writer: an account's username, or the command line's own name (``system``)."""
    return accounts.role_label("system") if value == "system" else (value or "")


def scope_label(value):
    """An entry's scope (``village:3``) by the place's name; ``all`` as every township."""
    level, _sep, pk = (value or "").partition(":")
    if not pk:
        return str(SCOPE_LEVELS.get(level, level))
    model = {"county": County, "township": Township, "village": Village, "group": MemberGroup}.get(
        level
    )
    if model is None or not valid_pk(pk):
        return value
    item = current_app.appbuilder.session.get(model, int(pk))
    if item is None:
        return value
    return f"{item.village.name} {item.name}" if model is MemberGroup else item.name


SCOPE_LEVELS = {"all": _l("All townships"), "none": _l("No scope assigned")}


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


class _InBeijingTime:
    """A search of an entry's time typed in Beijing time, compared with the log's UTC. Without
    an ``arg_name`` of its own: FAB's map of those names keeps pointing at its own filters (the
    API searches UTC as it answers it)."""

    arg_name = None

    def apply(self, query, value):
        moment = value if isinstance(value, dt.datetime) else _parsed(value)
        if moment is None:
            return query.filter(false())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BEIJING)
        return super().apply(query, moment.astimezone(dt.UTC).replace(tzinfo=None))


def _parsed(value):
    try:
        return dateparser.parse(str(value)) if value and len(str(value)) <= 40 else None
    except (ValueError, OverflowError, TypeError):
        return None


class BeijingEqual(_InBeijingTime, FilterEqual):
    pass


class BeijingGreater(_InBeijingTime, FilterGreater):
    pass


class BeijingSmaller(_InBeijingTime, FilterSmaller):
    pass


class BeijingNotEqual(_InBeijingTime, FilterNotEqual):
    pass


class AuditFilterConverter(fab_hooks.RecordSpanFilterConverter):
    """The record search finding bulk writes; the time searched in Beijing time."""

    conversion_table = (
        ("is_beijing_time", [BeijingEqual, BeijingGreater, BeijingSmaller, BeijingNotEqual]),
        *fab_hooks.RecordSpanFilterConverter.conversion_table,
    )


class AuditScreenInterface(AuditLogInterface):
    """The screen's interface: an entry's changes carry its register and action to their
    formatter (``EntryChanges``); the time is searched in Beijing time."""

    filter_converter_class = AuditFilterConverter

    def is_beijing_time(self, col_name):
        return col_name == "ts"

    @staticmethod
    def _with_entry(item, values):
        if "changes" in values and values["changes"]:
            values["changes"] = EntryChanges.of(values["changes"], item.model, item.action)
        return values

    def get_values(self, lst, list_columns):
        for item in lst:
            yield self._with_entry(
                item, {col: self._get_attr_value(item, col) for col in list_columns}
            )

    def get_values_item(self, item, show_columns):
        values = super().get_values_item(item, show_columns)
        if "changes" in show_columns:
            i = show_columns.index("changes")
            if values[i]:
                values[i] = EntryChanges.of(values[i], item.model, item.action)
        return values


class AuditLogView(Declared, ModelView):
    """The audit log: list and detail only — there is no way to add, edit or delete an entry."""

    datamodel = AuditScreenInterface(AuditLog)
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
    list_template = "audit_list.html"
    show_template = "audit_show.html"

    def __init__(self, **kwargs):
        self._declare()
        self.label_columns["records"] = _l("Record")
        self.label_columns["ts"] = _l("Time (Beijing time)")
        self.formatters_columns.update(
            changes=changes_table,
            ts=beijing_time,
            role=role_labels,
            username=account_label,
            scope=scope_label,
            village_id=village_name,
            township_id=functools.partial(_maybe_name, Township),
            group_id=functools.partial(_maybe_name, MemberGroup),
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
