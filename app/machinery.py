"""The machinery under every register's screens and API: ``RecordView`` (HTML) and ``RecordApi``
(REST) read each model's declarations — labels, choices, checks and ``__scope__`` — and hold the
one write path (``records.prepare_write``, then ``write_errors``) and the masking of the screens.

Below the declarations (app/views.py, app/tasks.py) and above the services: nothing here imports
a screen.
"""

import dataclasses

from flask import abort, current_app, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder import ModelRestApi, ModelView, expose
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.filters import FilterRelationOneToManyEqual as RelationEqual
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import (
    Boolean,
    UniqueConstraint,
    extract,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import BadRequest
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from app import (
    accounts,
    audit,
    crypto,
    fab_hooks,
    inputs,
    integrity,
    records,
    reminders,
    security,
    speed,
)
from app.inputs import valid_pk
from app.masking import MASKERS
from app.models import Township, Village
from app.speed import SQLAInterface

MASKED_CHANGE_MESSAGE = _l(
    "You see this field masked and cannot change it: the president or secretary can"
)


def masked_edit_errors(model, sent: dict, old: dict | None) -> dict:
    """An edit may send a field the user sees masked back as it was shown, or blank (the stored
    value stays); any other value is refused — the stored one too, so that the answer tells a
    right guess of the hidden digits from a wrong one no more than it tells anything else."""
    errors = {}
    for key, masker in MASKERS.items():
        if key not in sent or not old or old.get(key) in (None, ""):
            continue
        if not accounts.masks(key, model=model):
            continue
        if sent[key] not in (None, "") and sent[key] != masker(old[key]):
            errors[key] = MASKED_CHANGE_MESSAGE
    return errors


class FieldErrors(BadRequest):
    """A write refused, with a message per field (answered as 400 by the API)."""

    def __init__(self, errors):
        super().__init__()
        self.errors = {key: str(message) for key, message in errors.items()}


def yes_no(value):
    if value is None:
        return ""
    return _("Yes") if value else _("No")


def names_list(values):
    return "、".join(str(v) for v in values or [])


def unique_errors(model, values: dict, session) -> dict:
    """A write that would break one of the model's unique constraints (a duplicate survey, a
    branch name taken): field → message, the model's own (``__unique__``) or a general one."""
    errors = {}
    messages = getattr(model, "__unique__", {})
    with session.no_autoflush:
        for constraint in model.__table__.constraints:
            if not isinstance(constraint, UniqueConstraint):
                continue
            keys = tuple(column.key for column in constraint.columns)
            if any(values.get(key) is None for key in keys):
                continue
            query = select(model.id).where(*(getattr(model, key) == values[key] for key in keys))
            if values.get("id") is not None:
                query = query.where(model.id != values["id"])
            if session.execute(query.limit(1)).first() is None:
                continue
            key, message = messages.get(
                keys, (keys[-1], _l("A record with these values already exists"))
            )
            errors.setdefault(key, message)
    return errors


def write_errors(model, values: dict, old, user, session, check=None) -> dict:
    """What the views check after ``records.prepare_write``: unique constraints, then the
    screen's or API's own ``write_check`` (who may date or reopen a village's task report,
    issue 9: app/tasks.py)."""
    errors = unique_errors(model, values, session)
    if not errors and check is not None:
        errors = check(values, old, user, session)
    return errors


class Declared(fab_hooks.ListHooks):
    """What views and APIs derive from a model's column declarations (FAB's list hooks:
    app/fab_hooks.py)."""

    # A computed list column sorted by a column of the database: list column → what to order by.
    sort_by: dict = {}

    def page_size_limit(self) -> int:
        """A page holds at most ``inputs.max_page_size()`` rows, whatever psize_… asks: one
        request must not render and decrypt every row in scope (issue 15). The list arguments
        were checked before the view ran (``inputs.check_request``): search values a column
        holds, and a sort column the list offers and the user does not see masked."""
        return inputs.max_page_size()

    def can_sort(self, column) -> bool:
        """Sort links only on columns the database can order by (a computed one answered 500)."""
        return column in self.sort_by or inputs.sortable(self.datamodel, column)

    def _declare(self):
        model = self.datamodel.obj
        labels = {}
        formatters = {}
        for key, column in records.columns(model).items():
            if "label" in column.info:
                labels[key] = column.info["label"]
            choices = column.info.get("choices")
            if choices is not None:
                formatters[key] = self._blank_or(choices.label)
            elif isinstance(column.type, Boolean):
                formatters[key] = yes_no
            elif column.nullable:
                formatters[key] = self._blank_or(str)
            if key in MASKERS and any(
                rule in accounts.MASKED_FIELDS for rule in (key, f"{model.__name__}.{key}")
            ):
                formatters[key] = self._blank_or(self._masked(key, model, formatters.get(key)))
        for rel in inspect(model).relationships:
            if rel.uselist:
                # Members who attended, took part…: a list of names, not a Python list.
                formatters.setdefault(rel.key, names_list)
            else:
                # An empty reference shows nothing, not the word None.
                formatters.setdefault(rel.key, self._blank_or(str))
        for rel in records.columns(model):
            if rel.endswith("_id") and rel[:-3] not in labels and rel in labels:
                labels[rel[:-3]] = labels[rel]
        labels.setdefault("id", _l("No."))
        self.label_columns = {**labels, **(self.label_columns or {})}
        self.formatters_columns = {
            **formatters,
            **(getattr(self, "formatters_columns", None) or {}),
        }
        rel_filters = {
            rel: [["id", security.ScopeFilter, None]] for rel in self._scoped_relations(model)
        }
        # Views call them *_form_query_rel_fields, APIs *_query_rel_fields.
        for name in (
            "add_form_query_rel_fields",
            "edit_form_query_rel_fields",
            "add_query_rel_fields",
            "edit_query_rel_fields",
        ):
            setattr(self, name, {**rel_filters, **(getattr(self, name, None) or {})})
        self.search_form_query_rel_fields = {
            **rel_filters,
            **(getattr(self, "search_form_query_rel_fields", None) or {}),
        }
        # Search by a coded column with a list of labels, not free text against the codes.
        search = {
            key: SelectField(
                column.info["label"],
                choices=list(column.info["choices"].pairs),
                widget=Select2Widget(),
            )
            for key, column in records.columns(model).items()
            if "choices" in column.info
        }
        extra = getattr(self, "search_form_extra_fields", None) or {}
        self.search_form_extra_fields = {**search, **extra}
        self.base_filters = security.SCOPE_FILTER + list(self.base_filters or [])
        self.class_permission_name = model.__name__
        extra = getattr(self, "extra_args", None) or {}
        self.extra_args = {
            **extra,
            "history_url": self._history_url,
            "reveal_url": self._reveal_url,
            "summaries": self._summaries,
        }
        what = getattr(model, "__label__", None)
        if what is not None:
            self.list_title = what
            self.show_title = _l("%(what)s: details", what=what)
            self.add_title = _l("Add to %(what)s", what=what)
            self.edit_title = _l("Edit %(what)s", what=what)

    def _unmasked(self, columns):
        """``columns`` less those the user sees masked: sorting or searching by one would
        give back what the mask hides (the order or the presence of the hidden values)."""
        model = self.datamodel.obj
        return [c for c in columns or [] if not accounts.masks(c, model=model)]

    def _reveal_url(self, pk):
        """Where a President asks for the full ID number of this record (a POST), while the
        detail page shows it masked; None for the other roles, when it is shown already, and
        where there is none to show (a register without ID numbers, a record without one)."""
        model = self.datamodel.obj
        if "id_number" not in records.columns(model) or not reveal_pending("id_number", model):
            return None
        # The record this page shows (loaded, scoped, by FAB's show: no second query).
        item = self.datamodel.session.get(model, int(pk)) if valid_pk(pk) else None
        if item is None or not item.id_number:
            return None
        return url_for(f"{type(self).__name__}.reveal", pk=pk)

    def _summaries(self, pk):
        """(summary, rows) of each of the screen's ``summaries`` with rows for this record."""
        found = [(summary, summary.rows(pk)) for summary in getattr(self, "summaries", ())]
        return [(summary, rows) for summary, rows in found if rows]

    def _history_url(self, pk):
        """The audit log filtered to this record, for those who may read the log."""
        if not accounts.can(accounts.current_user(), accounts.READ, "AuditLog"):
            return None
        return url_for(
            "AuditLogView.list",
            **{
                f"_flt_{reminders.TEXT_EQUAL}_model": self.datamodel.obj.__name__,
                f"_flt_{reminders.NUMBER_EQUAL}_record_id": pk,
            },
        )

    @staticmethod
    def _scoped_relations(model):
        return [
            rel.key
            for rel in inspect(model).relationships
            if hasattr(rel.mapper.class_, "__scope__")
        ]

    @staticmethod
    def _blank_or(show):
        """A formatter that shows nothing for an empty value (not the word None)."""

        def formatter(value):
            return "" if value is None else show(value)

        return formatter

    @staticmethod
    def _masked(key, model, plain=None):
        masker = MASKERS[key]

        def formatter(value):
            if accounts.masks(key, model=model) or reveal_pending(key, model):
                return masker(value)
            return plain(value) if plain else value

        return formatter


# Who sees an ID number masked on a detail page until they ask for it (issue 7): the ask is
# a POST, and every one is in the audit log.
REVEAL_ROLES = {"President"}


def reveal_pending(key, model) -> bool:
    """Whether this detail page shows ``key`` masked behind a reveal button for this user."""
    if key != "id_number" or not has_request_context() or not request.endpoint:
        return False
    if not request.endpoint.endswith((".show", ".reveal")):
        return False
    if g.get("revealed") == (model.__name__, str(request.view_args.get("pk"))):
        return False
    return bool(accounts.role_names(accounts.current_user()) & REVEAL_ROLES)


# --- HTML ---


def _choices(datamodel, filters, name=None):
    """The rows of ``datamodel`` that ``filters`` keep, in primary key order, for the search
    dropdown ``name``. When the scope filter is the only one and pins the model to one row (the
    village of a village's user), that row, from the session (loaded with the account) rather
    than a query. Rows of a village (groups, members, meetings…) read by a scope of more than
    one village are those of the village the search names, if any (``by_village``)."""
    if len(filters.filters) == 1 and isinstance(filters.filters[0], security.ScopeFilter):
        pk = security.pinned_pk(datamodel.obj, accounts.current_scope())
        if pk is not None:
            item = datamodel.session.get(datamodel.obj, pk)
            return [item] if item is not None else []
    query = filters.apply_all(datamodel.session.query(datamodel.obj))
    model = datamodel.obj
    if by_village(model):
        villages, own = searched_ids("village"), searched_ids(name)
        if not villages and not own:
            return []
        query = query.filter(or_(model.village_id.in_(villages), model.id.in_(own)))
    return query.order_by(model.id).all()


# The scopes holding several villages: a village's rows in their search dropdowns wait for a
# searched village, and their lists name each row's village (``RecordView``).
SEVERAL_VILLAGES = ("all", *accounts.SCOPE_LEVELS[: accounts.SCOPE_LEVELS.index("village")])


def by_village(model) -> bool:
    """Whether a search dropdown of ``model`` offers only the rows of the searched village:
    ``model`` is a village's (it has a village) and the reader's scope is above a village
    (``SEVERAL_VILLAGES``: a township's, even one of a single village, a county's, all). A
    county's groups are some ten thousand, named alike in every village (第一组): as options
    they were most of a County's list page and of no use to choose from."""
    level = accounts.current_scope().level
    return "village_id" in model.__table__.c and level in SEVERAL_VILLAGES


def searched_ids(column) -> list[int]:
    """The ids the request's search compares ``column`` to (``_flt_0_village=12``): valid ids
    only, anything else is no choice; at most 20 (a search names one, a crafted URL more)."""
    if column is None or not has_request_context():
        return []
    values = request.args.getlist(f"_flt_{reminders.RELATION_EQUAL}_{column}")
    return sorted({int(v) for v in values if valid_pk(v)})[:20]


def one_village(filters) -> bool:
    """Whether a list's ``filters`` keep it to one village: a related list of a record's page
    (a village's, a group's, a term's: each of one village) or a search naming one village
    (``_flt_0_village=12``)."""
    for flt, value in filters.get_filters_values():
        if flt.is_related_view:
            return True
        values = value if isinstance(value, list) else [value]
        if flt.column_name == "village" and isinstance(flt, RelationEqual) and len(values) == 1:
            return True
    return False


@dataclasses.dataclass(frozen=True)
class Summary:
    """A table under a record's detail page: per year, totals of another register's rows that
    name the record (a household's assistance, a member's volunteer hours). Only the rows the
    reader may read are counted; a reader who may not read the register sees no table."""

    # The table's HTML id and caption.
    key: str
    title: object
    model: type
    # The column naming the record (household_id), the date the year is taken from.
    column: str
    date: str
    # (header, aggregate, column, format): ("count", None) counts the rows; ("sum", "money")
    # adds a column up.
    measures: tuple

    def rows(self, pk) -> list[list[str]]:
        if not valid_pk(pk) or not accounts.can(
            accounts.current_user(), accounts.READ, self.model.__name__
        ):
            return []
        model = self.model
        year = extract("year", getattr(model, self.date))
        totals = [
            func.count() if how == "count" else getattr(func, how)(getattr(model, column))
            for _header, how, column, _format in self.measures
        ]
        found = current_app.appbuilder.session.execute(
            select(year, *totals)
            .where(
                # The template passes the pk as the URL gave it: text, which PostgreSQL won't
                # compare with a number.
                getattr(model, self.column) == int(pk),
                security.scope_criteria(model, accounts.current_scope()),
            )
            .group_by(year)
            .order_by(year.desc())
        ).all()
        formats = [fmt for *_rest, fmt in self.measures]
        return [
            [str(int(y)), *(fmt.format(v or 0) for fmt, v in zip(formats, values, strict=True))]
            for y, *values in found
        ]


class RecordView(fab_hooks.FormHooks, Declared, ModelView):
    """A scoped CRUD screen: the scope filter on every lookup, checked writes, masked fields."""

    # A register's own check of a write, after the generic ones: (values, old, user, session)
    # → field → message (a staticmethod).
    write_check = None

    method_permission_name = {
        "list": "read",
        "show": "read",
        "reveal": "read",
        "add": "add",
        "edit": "edit",
        "delete": "delete",
    }
    exclude_route_methods = {"download", "action"}
    page_size = 25
    show_template = "record_show.html"
    # The tables under the detail page (``Summary``), in order.
    summaries = ()
    list_widget = speed.RecordListWidget
    search_widget = speed.RecordSearchWidget

    @expose("/reveal/<pk>", methods=["POST"])
    @has_access
    def reveal(self, pk):
        """The detail page with the full ID number, for a President; the reveal is audited."""
        model = self.datamodel.obj
        if "id_number" not in records.columns(model) or not reveal_pending("id_number", model):
            abort(403)
        item = self.datamodel.get(pk, self._base_filters) if valid_pk(pk) else None
        if item is None:
            abort(404)
        audit.record(
            "reveal",
            model=model,
            record_id=item.id,
            village_id=item.village_id,
            details={"field": "id_number"},
        )
        g.revealed = (model.__name__, str(pk))
        return self.show(pk)

    def __init__(self, **kwargs):
        self._declare()
        self._declare_form_fields()
        super().__init__(**kwargs)

    def _init_properties(self):
        """Every list also sorts by the order of entry (``_oc_…=id``): a roster import's link
        shows the rows just imported first (app/roster_views.rows_url)."""
        super()._init_properties()
        if "id" not in self.order_columns:
            self.order_columns = [*self.order_columns, "id"]

    def related_view_readable(self, view) -> bool:
        """FAB renders a related list's rows whatever the user's rights: only those the user
        may read are shown."""
        return accounts.can(accounts.current_user(), accounts.READ, view.class_permission_name)

    def _declare_form_fields(self):
        model = self.datamodel.obj
        extra = {}
        for key, column in records.columns(model).items():
            choices = column.info.get("choices")
            if isinstance(column.type, Boolean):
                # FAB makes a NOT NULL boolean "required", so an unticked box would fail.
                extra[key] = BooleanField(
                    column.info["label"], default=bool(column.default and column.default.arg)
                )
            if choices is None:
                continue
            options = list(choices.pairs)
            if column.nullable:
                options = [("", "—")] + options
            extra[key] = SelectField(
                column.info["label"],
                choices=options,
                default=column.default.arg if column.default is not None else None,
                validators=[Optional() if column.nullable else DataRequired()],
                widget=Select2Widget(),
            )
        self.add_form_extra_fields = {**extra, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**extra, **(self.edit_form_extra_fields or {})}

    def added_list_columns(self, pks, filters) -> dict:
        """A reader of several villages sees each row's village (its township first for a
        county's or the administrator's: 二郎镇 龙王村) — a list's 第一组 is in every village.
        Not where ``filters`` already name the one village (a village's page, its search)."""
        model = self.datamodel.obj
        if not pks or "village" in self.list_columns or not by_village(model):
            return {}
        if one_village(filters):
            return {}
        names = dict(
            self.datamodel.session.execute(
                select(model.id, reminders.village_name(accounts.current_scope()))
                .join(Village, Village.id == model.village_id)
                .join(Township, Township.id == Village.township_id)
                .where(model.id.in_(pks))
            ).all()
        )
        return {"village": [names.get(pk) for pk in pks]}

    # A search dropdown (village, group…) loads its scoped choices with one SELECT and writes
    # them in one pass; a village's rows wait for a village to be searched (``by_village``).
    rel_choices = staticmethod(_choices)

    @staticmethod
    def rel_widget(name, interface):
        model = interface.obj

        def hint():
            if by_village(model) and not searched_ids("village"):
                return _("Search by village first: its choices are then offered here")
            return None

        return speed.RelationSelect(hint=hint)

    def forms_ready(self):
        self.add_form = self._checked(self.add_form, editing=False)
        self.edit_form = self._checked(self.edit_form, editing=True)

    def _checked(self, form_class, editing):
        """The form class, validating the whole record as it would be written."""
        view = self

        class CheckedForm(form_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                view.shape_form(self, editing)

            def validate(self, extra_validators=None):
                fab_hooks.read_multiple_choices(self)
                if not super().validate(extra_validators):
                    return False
                old = view._old_values() if editing else None
                values = dict(old or {})
                values.update(view._form_values(self))
                model, user = view.datamodel.obj, accounts.current_user()
                session = view.datamodel.session
                errors = masked_edit_errors(model, view._form_values(self), old)
                errors = errors or records.prepare_write(model, values, old, user, session)
                errors = errors or write_errors(model, values, old, user, session, view.write_check)
                for key, message in errors.items():
                    target = key[:-3] if key.endswith("_id") and key[:-3] in self else key
                    if target in self:
                        self[target].errors = list(self[target].errors) + [str(message)]
                    else:
                        flash(str(message), "danger")
                return not errors

        CheckedForm.__name__ = form_class.__name__
        return CheckedForm

    def shape_form(self, form, editing):
        """Offer only what the user may set (issue 17): a group leader's records belong to her
        member group, the one choice, chosen already. A register narrows its own choices
        further (a member's status)."""
        field = form._fields.get("group")
        scope = accounts.current_scope()
        if scope.level != "group" or not hasattr(field, "allow_blank"):
            return
        field.allow_blank = False
        if field.data is None and not field.raw_data:
            related = self.datamodel.get_related_model("group")
            field.data = self.datamodel.session.get(related, scope.group_id)

    def edited_item(self):
        """The record an edit form is for (FAB loaded it, scoped, before making the form)."""
        pk = request.view_args.get("pk")
        if pk is None or not valid_pk(pk):
            return None
        return self.datamodel.get(pk, self._base_filters)

    # Saving a new record opens its page instead of the list (an activity: its photos).
    show_after_add = False

    def post_add(self, item):
        super().post_add(item)
        g.added_pk = item.id

    def post_add_redirect(self):
        pk = g.pop("added_pk", None)
        if self.show_after_add and pk is not None:
            return redirect(url_for(f"{type(self).__name__}.show", pk=pk))
        return super().post_add_redirect()

    def _old_values(self):
        pk = request.view_args.get("pk")
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return records.item_values(item)

    def _form_values(self, form):
        values = {}
        keys = records.columns(self.datamodel.obj)
        for name, value in form.data.items():
            if name in keys:
                values[name] = value
            elif f"{name}_id" in keys:
                values[f"{name}_id"] = getattr(value, "id", None)
        return values

    def filter_allowed(self, column, operator) -> bool:
        """Searching by a field the user sees masked would reveal it: such filters are dropped.
        So are partial searches on an encrypted field (the database holds no plain text to
        match): an ID number is found by its full number. The search form offers neither."""
        model = self.datamodel.obj
        return not accounts.masks(column, model=model) and crypto.filter_allowed(
            model, column, operator
        )

    def _admin_only_fields(self, form) -> list:
        """The form's fields of the model's ``__admin_only__`` columns when the user may not
        set them: not shown, and their stored values kept whatever is posted."""
        model = self.datamodel.obj
        keys = getattr(model, "__admin_only__", ())
        if not keys or accounts.can(accounts.current_user(), accounts.ADMIN_ONLY, model.__name__):
            return []
        names = [key[:-3] if key.endswith("_id") and key[:-3] in form else key for key in keys]
        return [name for name in names if name in form]

    def hidden_on_edit(self, form) -> list:
        return self._admin_only_fields(form)

    def prefill_form(self, form, pk):
        """A field the user sees masked shows its masked value, or nothing where the field
        cannot hold one (a birth date shown as its year): either way, sent back it keeps the
        stored value (records.unmask)."""
        for key, masker in MASKERS.items():
            if key in form and accounts.masks(key, model=self.datamodel.obj):
                shown = masker(form[key].data)
                form[key].data = shown if isinstance(form[key], StringField) else None

    def _write(self, item, is_new):
        old = None
        if not is_new:
            # The form data is already on item; the stored values are in its history.
            state = inspect(item)
            old = {
                attr.key: (attr.history.deleted[0] if attr.history.deleted else attr.value)
                for attr in state.attrs
                if attr.key in records.columns(type(item))
            }
        values = records.item_values(item)
        user, session = accounts.current_user(), self.datamodel.session
        errors = records.prepare_write(type(item), values, old, user, session)
        errors = errors or write_errors(type(item), values, old, user, session, self.write_check)
        if errors:
            raise FieldErrors(errors)
        records.apply_values(item, values, self.datamodel.session)

    def pre_add(self, item):
        self._write(item, True)

    def pre_update(self, item):
        self._write(item, False)

    def pre_delete(self, item):
        """A record still referenced stays (FAB flashes the message and deletes nothing)."""
        refused = integrity.refusal(self.datamodel.session, item)
        if refused:
            raise integrity.StillReferenced(refused)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        """FAB loads action rows without the view's filters (FAB-NOTES 2): reload them scoped."""
        name = request.form.get("action", "")
        if name not in self.actions:
            abort(404)
        if not self.appbuilder.sm.has_access(
            self.get_action_permission_name(name), self.class_permission_name
        ):
            abort(403)
        items = []
        for pk in request.form.getlist("rowid"):
            if not valid_pk(pk):
                abort(404)
            item = self.datamodel.get(int(pk), self._base_filters)
            if item is None:
                abort(404)
            items.append(item)
        return self.actions[name].func(items)


def flag(value, label):
    """A red label for a true flag (overdue), nothing otherwise."""
    return Markup('<span class="label label-danger">{}</span>').format(label) if value else ""


# --- REST API (SPEC §6) ---

API_ERRORS = {
    "Missing data for required field.": _l("This field is required"),
    "Unknown field.": _l("Unknown field"),
    "Not a valid integer.": _l("Not a whole number"),
    "Not a valid date.": _l("Not a valid date (use 2024-03-05)"),
    "Not a valid boolean.": _l("Not true or false"),
    "Not a valid string.": _l("Not text"),
    "Field may not be null.": _l("This field is required"),
}


def _translate_errors(messages):
    if isinstance(messages, dict):
        return {key: _translate_errors(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return "；".join(str(_translate_errors(m)) for m in messages)
    return str(API_ERRORS.get(messages, messages))


class RecordApi(fab_hooks.RestApiHooks, Declared, ModelRestApi):
    """A scoped REST resource: same scope, checks and masking as the screens."""

    # As RecordView.write_check.
    write_check = None

    method_permission_name = {
        "get": "read",
        "get_list": "read",
        "info": "read",
        "post": "add",
        "put": "edit",
        "delete": "delete",
    }
    allow_browser_login = True
    # Scope fills these when a writer leaves them out.
    optional_on_write = ("village_id", "group_id")

    def __init__(self, **kwargs):
        self._declare()
        super().__init__(**kwargs)

    def _write(self, item, old):
        values = records.item_values(item)
        user, session = accounts.current_user(), self.datamodel.session
        errors = records.prepare_write(type(item), values, old, user, session)
        errors = errors or write_errors(type(item), values, old, user, session, self.write_check)
        if errors:
            raise FieldErrors(errors)
        records.apply_values(item, values, self.datamodel.session)

    def _guarded(self, call):
        try:
            return call()
        except FieldErrors as exc:
            self.datamodel.session.rollback()
            return self.response_400(message=exc.errors)
        except IntegrityError:
            # Checked before writing (unique_errors); this is a write that raced another.
            self.datamodel.session.rollback()
            return self.response_400(message=str(_l("A record with these values already exists")))
        except DataError:
            # Checked before writing too (records.number_errors): a last line of defence.
            self.datamodel.session.rollback()
            return self.response_400(message=str(_l("A value is past what its field holds")))

    def post_headless(self):
        self._old = None
        errors = inputs.scale_errors(self.datamodel.obj, request.get_json(silent=True))
        if errors:
            return self.response_400(message={k: str(m) for k, m in errors.items()})
        return self._guarded(super().post_headless)

    def put_headless(self, pk):
        if not valid_pk(pk):
            return self.response_404()
        item = self.datamodel.get(pk, self._base_filters)
        self._old = records.item_values(item) if item is not None else None
        sent = request.get_json(silent=True)
        errors = inputs.scale_errors(self.datamodel.obj, sent)
        if errors:
            return self.response_400(message={k: str(m) for k, m in errors.items()})
        if isinstance(sent, dict) and self._old is not None:
            errors = masked_edit_errors(self.datamodel.obj, sent, self._old)
            if errors:
                return self.response_400(message={k: str(m) for k, m in errors.items()})
            for key in MASKERS:
                # Sent back as it was shown (masked, or blank): the stored value stays.
                if key in sent and self._old.get(key) not in (None, ""):
                    if accounts.masks(key, model=self.datamodel.obj):
                        del sent[key]
        return self._guarded(lambda: super(RecordApi, self).put_headless(pk))

    def get_headless(self, pk, **kwargs):
        if not valid_pk(pk):
            return self.response_404()
        return super().get_headless(pk, **kwargs)

    def delete_headless(self, pk):
        if not valid_pk(pk):
            return self.response_404()
        item = self.datamodel.get(pk, self._base_filters)
        refused = integrity.refusal(self.datamodel.session, item) if item is not None else None
        if refused:
            return self.response(409, message=refused)
        return super().delete_headless(pk)

    def pre_add(self, item):
        self._write(item, None)

    def pre_update(self, item):
        self._write(item, self._old)

    def filter_refusal(self, column, operator):
        if accounts.masks(column, model=self.datamodel.obj):
            # Searching by a field the user sees masked would reveal it.
            return _("You may not search by this field")
        if not crypto.filter_allowed(self.datamodel.obj, column, operator):
            return _("This field is encrypted: search by the full value only")
        return None

    def order_refusal(self, column):
        if accounts.masks(column, model=self.datamodel.obj):
            # Sorting by a field the user sees masked would reveal it.
            return _("You may not sort by this field")
        return None

    def response_422(self, message=None):
        """Bad input is a 400 here, its messages keyed by field in the user's language."""
        return self.response_400(message=_translate_errors(message))

    def _mask(self, row):
        for key, masker in MASKERS.items():
            if key in row and row[key] and accounts.masks(key, model=self.datamodel.obj):
                row[key] = masker(row[key])

    def response(self, code, **kwargs):
        """Every answer that carries records is masked here, in one place: a GET's, and the
        dump of the stored row that FAB's POST and PUT answer with (it holds the full ID
        number and birth date after ``records.unmask``; issue 15)."""
        result = kwargs.get(API_RESULT_RES_KEY)
        for row in result if isinstance(result, list) else [result]:
            if isinstance(row, dict):
                self._mask(row)
        return super().response(code, **kwargs)


def api(model, name, columns, search=None, read_only=(), routes=None, **attrs):
    """A RecordApi class for ``model`` at /api/v1/<name>/ with the given columns (``attrs``:
    more class attributes, a ``write_check``)."""
    cols = ["id"] + columns
    writable = [c for c in columns if c != "id" and c not in read_only]
    extra = {"include_route_methods": routes} if routes else {}
    return type(
        f"{model.__name__}Api",
        (RecordApi,),
        {
            **extra,
            "datamodel": SQLAInterface(model),
            "resource_name": name,
            "list_columns": cols,
            "show_columns": cols,
            "add_columns": writable,
            "edit_columns": writable,
            "search_columns": search or [c for c in columns if c not in MASKERS][:6],
            # Not by an encrypted column (its order is the ciphertext's); nor, per request, by
            # one the user sees masked (RecordApi._handle_order_args).
            "order_columns": ["id"]
            + [c for c in columns if c not in crypto.encrypted_columns(model)],
            "base_order": ("id", "asc"),
            **attrs,
        },
    )


def form_api_columns(view) -> list:
    """A screen's form columns as the API names them: a relationship ``village`` is its
    ``village_id``; a list of records (participants) is not a column of the API."""
    relationships = inspect(view.datamodel.obj).relationships
    columns = []
    for name in view.edit_columns or view.add_columns:
        if name not in relationships:
            columns.append(name)
            continue
        relationship = relationships[name]
        if relationship.direction.name == "MANYTOONE" and len(relationship.local_columns) == 1:
            columns.append(next(iter(relationship.local_columns)).key)
    return columns


def derived_api(register):
    """The RecordApi of a register's block: its columns from the screen's forms unless the block
    gives ``api_columns``; ``api_search`` and ``api_read_only`` where they differ too."""
    extra = register.extra
    columns = extra.get("api_columns") or form_api_columns(register.view)
    # The screen's own check of a write holds for the API too.
    check = extra.get("write_check", getattr(register.view, "write_check", None))
    if check is not None and not isinstance(check, staticmethod):
        check = staticmethod(check)
    return api(
        register.model,
        register.rest,
        columns,
        search=extra.get("api_search"),
        read_only=extra.get("api_read_only", ()),
        **({"write_check": check} if check is not None else {}),
    )
