"""Screens and REST resources, declared per model; the shared behaviour lives in two base classes.

``RecordView`` (HTML) and ``RecordApi`` (REST) read each model's declarations — labels, choices,
checks and ``__scope__`` — so that a new model needs only its column lists here.
"""

import datetime as dt
import functools
import json

from flask import abort, current_app, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder import IndexView, ModelRestApi, ModelView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_appbuilder.exceptions import InvalidOrderByColumnFABException
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import (
    FilterEqual,
    FilterGreater,
    FilterNotEqual,
    FilterSmaller,
    SQLAFilterConverter,
)
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import (
    Boolean,
    UniqueConstraint,
    and_,
    extract,
    false,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import BadRequest
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from app import accounts, audit, crypto, inputs, integrity, records, reminders, security, speed
from app.inputs import valid_pk
from app.models import (
    BUSINESS_MODELS,
    FAMILY_TYPE,
    SPECIAL_FAMILY_TYPES,
    Activity,
    Agreement,
    Assistance,
    AuditLog,
    Award,
    Benefit,
    Branch,
    Complaint,
    ContactHousehold,
    CouncilSeat,
    CouncilTerm,
    Document,
    FundEntry,
    Household,
    Meeting,
    Member,
    MemberGroup,
    Notice,
    Resolution,
    Survey,
    Task,
    TaskAssignment,
    Township,
    Venue,
    Village,
)
from app.speed import SQLAInterface
from app.validation import mask_birth_date, mask_id_number, mask_phone


def hide_special_type(value):
    # Plain text, not a lazy label: the audit API puts it into JSON (a LazyString was a 500).
    return _("Not disclosed") if value in SPECIAL_FAMILY_TYPES else str(FAMILY_TYPE.label(value))


def hide_text(value):
    return _("Not disclosed") if value else value


# How each maskable field is masked; accounts.MASKED_FIELDS says for whom.
MASKERS = {
    "id_number": mask_id_number,
    "birth_date": mask_birth_date,
    "phone": mask_phone,
    "family_type": hide_special_type,
    "notes": hide_text,
}
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


def write_errors(model, values: dict, old, user, session) -> dict:
    """What the views check after ``records.prepare_write``: unique constraints, and who may
    date or reopen a village's task report (issue 9)."""
    errors = unique_errors(model, values, session)
    if not errors and model is TaskAssignment:
        from app import tasks

        errors = tasks.assignment_errors(values, old, user, session)
    return errors


class Declared:
    """What views and APIs derive from a model's column declarations."""

    # A computed list column sorted by a column of the database: list column → what to order by.
    sort_by: dict = {}

    def _get_list_widget(self, filters, **kwargs):
        """A page holds at most ``inputs.max_page_size()`` rows, whatever psize_… asks: one
        request must not render and decrypt every row in scope (issue 15). The list arguments
        were checked before the view ran (``inputs.check_request``): search values a column
        holds, and a sort column the list offers and the user does not see masked."""
        if kwargs.get("page_size"):
            kwargs["page_size"] = min(kwargs["page_size"], inputs.max_page_size())
        if kwargs.get("order_column") in self.sort_by:
            kwargs["order_column"] = self.sort_by[kwargs["order_column"]]
        widgets = super()._get_list_widget(filters, **kwargs)
        # Sort links only on the columns the user may sort by.
        widgets["list"].template_args["order_columns"] = self._unmasked(self.order_columns)
        return widgets

    def _init_properties(self):
        """Sort links only on columns the database can order by (a computed one answered 500)."""
        super()._init_properties()
        self.order_columns = [
            column
            for column in self.order_columns
            if column in self.sort_by or inputs.sortable(self.datamodel, column)
        ]

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
        detail page shows it masked; None for the other roles and when it is shown already."""
        if not reveal_pending("id_number", self.datamodel.obj):
            return None
        return url_for(f"{type(self).__name__}.reveal", pk=pk)

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


def _choices(datamodel, filters):
    """The rows of ``datamodel`` that ``filters`` keep, in primary key order. When the scope
    filter is the only one and pins the model to one row (the village of a village's user),
    that row, from the session (loaded with the account) rather than a query."""
    if len(filters.filters) == 1 and isinstance(filters.filters[0], security.ScopeFilter):
        pk = security.pinned_pk(datamodel.obj, accounts.current_scope())
        if pk is not None:
            item = datamodel.session.get(datamodel.obj, pk)
            return [item] if item is not None else []
    query = filters.apply_all(datamodel.session.query(datamodel.obj))
    return query.order_by(datamodel.obj.id).all()


class RecordView(Declared, ModelView):
    """A scoped CRUD screen: the scope filter on every lookup, checked writes, masked fields."""

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

    def get_init_inner_views(self):
        # AppBuilder appends the related views here, all of them.
        return self._all_related_views

    @property
    def _related_views(self):
        """The related lists the user may read: FAB renders a related list's rows whatever the
        user's rights, only its buttons follow them."""
        user = accounts.current_user()
        return [
            view
            for view in getattr(self, "_all_related_views", [])
            if accounts.can(user, accounts.READ, view.class_permission_name)
        ]

    @_related_views.setter
    def _related_views(self, views):
        self._all_related_views = views

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

    def _init_forms(self):
        super()._init_forms()
        for form in (self.add_form, self.edit_form):
            for name in dir(form):
                unbound = getattr(form, name)
                if getattr(unbound, "kwargs", {}).get("allow_blank"):
                    # WTForms 3.3 shows FAB's empty blank label as "__None".
                    unbound.kwargs["blank_text"] = "—"
        self.add_form = self._checked(self.add_form, editing=False)
        self.edit_form = self._checked(self.edit_form, editing=True)
        self._choices_without_count(self.search_form)

    def _choices_without_count(self, form):
        """A search dropdown (village, group…) loads its scoped choices with one SELECT: FAB's
        own query counts them first, a statement per dropdown on every list page."""
        for name, rules in self.search_form_query_rel_fields.items():
            unbound = getattr(form, name, None)
            if unbound is None or "query_func" not in getattr(unbound, "kwargs", {}):
                continue
            related = self.datamodel.get_related_interface(name)
            filters = related.get_filters().add_filter_list(rules)
            unbound.kwargs["query_func"] = functools.partial(_choices, related, filters)

    def _checked(self, form_class, editing):
        """The form class, validating the whole record as it would be written."""
        view = self

        class CheckedForm(form_class):
            def validate(self, extra_validators=None):
                for field in self:
                    if isinstance(field, QuerySelectMultipleField):
                        # FAB checks a multiple choice before reading it, and so drops a value
                        # outside the (scoped) choices without a word: read it first, to refuse it.
                        field.data = field.data
                if not super().validate(extra_validators):
                    return False
                old = view._old_values() if editing else None
                values = dict(old or {})
                values.update(view._form_values(self))
                model, user = view.datamodel.obj, accounts.current_user()
                session = view.datamodel.session
                errors = masked_edit_errors(model, view._form_values(self), old)
                errors = errors or records.prepare_write(model, values, old, user, session)
                errors = errors or write_errors(model, values, old, user, session)
                for key, message in errors.items():
                    target = key[:-3] if key.endswith("_id") and key[:-3] in self else key
                    if target in self:
                        self[target].errors = list(self[target].errors) + [str(message)]
                    else:
                        flash(str(message), "danger")
                return not errors

        CheckedForm.__name__ = form_class.__name__
        return CheckedForm

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

    def _get_list_widget(self, filters, **kwargs):
        """Searching by a field the user sees masked would reveal it: such filters are dropped.
        So are partial searches on an encrypted field (the database holds no plain text to
        match): an ID number is found by its full number."""
        model = self.datamodel.obj
        kept = [
            (flt, value)
            for flt, value in zip(filters.filters, filters.values, strict=True)
            if not accounts.masks(flt.column_name, model=model)
            and crypto.filter_allowed(model, flt.column_name, flt.arg_name)
        ]
        if len(kept) != len(filters.filters):
            filters.clear_filters()
            for flt, value in kept:
                filters.add_filter(flt.column_name, type(flt), value)
        return super()._get_list_widget(filters, **kwargs)

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        """The search form offers no field the user sees masked (its filters are dropped)."""
        widgets = super()._get_search_widget(form=form, exclude_cols=exclude_cols, widgets=widgets)
        search = widgets["search"]
        search.template_args["include_cols"] = self._unmasked(search.template_args["include_cols"])
        return widgets

    def _admin_only_fields(self, form) -> list:
        """The form's fields of the model's ``__admin_only__`` columns when the user may not
        set them: not shown, and their stored values kept whatever is posted."""
        model = self.datamodel.obj
        keys = getattr(model, "__admin_only__", ())
        if not keys or accounts.can(accounts.current_user(), accounts.ADMIN_ONLY, model.__name__):
            return []
        names = [key[:-3] if key.endswith("_id") and key[:-3] in form else key for key in keys]
        return [name for name in names if name in form]

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        hidden = self._admin_only_fields(form)
        return super()._get_edit_widget(form, list(exclude_cols or []) + hidden, widgets)

    def _fill_form_exclude_cols(self, exclude_cols, form):
        super()._fill_form_exclude_cols(exclude_cols, form)
        pk = request.view_args.get("pk")
        hidden = self._admin_only_fields(form)
        if pk is not None and hidden:
            item = self.datamodel.get(pk, self._base_filters)
            for name in hidden:
                value = getattr(item, name)
                form[name].data = value
                # As if posted: InputRequired reads the raw input.
                form[name].raw_data = [] if value is None else [str(value)]

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
        errors = errors or write_errors(type(item), values, old, user, session)
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


class TownshipView(RecordView):
    datamodel = SQLAInterface(Township)
    list_columns = ["name", "division_code", "county"]
    add_columns = edit_columns = show_columns = ["name", "division_code", "county"]
    search_columns = ["name", "county"]
    base_order = ("name", "asc")


class MemberGroupView(RecordView):
    datamodel = SQLAInterface(MemberGroup)
    list_columns = ["village", "name", "leader"]
    add_columns = ["village", "name", "leader", "contact_heads"]
    edit_columns = add_columns
    show_columns = ["village", "name", "leader", "contact_heads"]
    search_columns = ["village", "name"]
    base_order = ("id", "asc")
    label_columns = {"leader": _l("Group leader"), "contact_heads": _l("Contact household heads")}


MEMBER_FIELDSETS_COMMON = [
    "village",
    "group",
    "name",
    "gender",
    "id_number",
    "birth_date",
    "phone",
    "address",
    "category",
    "party_member",
    "volunteer",
    "status",
    "join_date",
]


class MemberView(RecordView):
    datamodel = SQLAInterface(Member)
    list_columns = [
        "name",
        "group",
        "gender",
        "id_number",
        "phone",
        "category",
        "status",
        "join_date",
    ]
    add_columns = MEMBER_FIELDSETS_COMMON + ["applied_on", "notes"]
    edit_columns = MEMBER_FIELDSETS_COMMON + ["applied_on", "left_on", "leave_reason", "notes"]
    show_columns = (
        ["village"]
        + MEMBER_FIELDSETS_COMMON[1:]
        + [
            "applied_on",
            "approved_on",
            "left_on",
            "leave_reason",
            "notes",
        ]
    )
    # id_number: the full number only, compared through its keyed hash (issue 7).
    search_columns = [
        "name",
        "id_number",
        "village",
        "group",
        "gender",
        "category",
        "status",
        "join_date",
    ]
    base_order = ("id", "asc")
    description_columns = {
        "gender": _l("Left blank, it is taken from the ID number"),
        "birth_date": _l("Left blank, it is taken from the ID number"),
        "status": _l("New members enter as applications; only the president approves or rejects"),
        "left_on": _l("Required when a member leaves (withdrawn, advised out, deceased)"),
    }
    method_permission_name = {
        **RecordView.method_permission_name,
        "approve": "approve",
        "reject": "approve",
    }

    @action(
        "approve",
        _l("Approve application"),
        _l("Approve the selected applications?"),
        "fa-check",
    )
    def approve(self, items):
        return self._decide(items, "active")

    @action("reject", _l("Reject application"), _l("Reject the selected applications?"), "fa-times")
    def reject(self, items):
        return self._decide(items, "rejected")

    def _decide(self, items, status):
        done, refused = 0, []
        for item in items:
            if item.status != "applied":
                refused.append(_("%(name)s: not an application", name=item.name))
                continue
            values = records.item_values(item)
            old = dict(values)
            values["status"] = status
            errors = records.prepare_write(
                Member, values, old, accounts.current_user(), self.datamodel.session
            )
            if errors:
                refused.append(f"{item.name}: " + "；".join(str(m) for m in errors.values()))
                continue
            records.apply_values(item, values, self.datamodel.session)
            done += 1
        self.datamodel.session.commit()
        if done:
            flash(_("%(n)d application(s) decided", n=done), "success")
        for message in refused:
            flash(message, "warning")
        return redirect(self.get_redirect())


class ContactHouseholdView(RecordView):
    datamodel = SQLAInterface(ContactHousehold)
    list_columns = ["head_name", "group", "member", "phone", "household_type"]
    add_columns = edit_columns = [
        "village",
        "group",
        "member",
        "head_name",
        "address",
        "phone",
        "household_type",
        "notes",
    ]
    show_columns = add_columns
    search_columns = ["head_name", "group", "member", "household_type"]
    base_order = ("id", "asc")
    label_columns = {"member": _l("Contact member")}


class CouncilSeatView(RecordView):
    datamodel = SQLAInterface(CouncilSeat)
    list_columns = ["term", "member", "position", "composition", "day_job"]
    add_columns = edit_columns = ["village", "term", "member", "position", "composition", "day_job"]
    show_columns = add_columns
    search_columns = ["term", "member", "position", "composition"]
    base_order = ("id", "asc")
    label_columns = {"term": _l("Council term"), "member": _l("Member")}


class CouncilTermView(RecordView):
    datamodel = SQLAInterface(CouncilTerm)
    list_columns = ["village", "number", "elected_on", "term_end", "filed_on"]
    add_columns = edit_columns = [
        "village",
        "number",
        "elected_on",
        "term_end",
        "filed_on",
        "approval_ref",
    ]
    show_columns = add_columns
    search_columns = ["village", "number", "elected_on"]
    base_order = ("id", "asc")
    related_views = [CouncilSeatView]


class VillageView(RecordView):
    datamodel = SQLAInterface(Village)
    list_columns = ["name", "township", "branch", "kind", "size_class", "population"]
    add_columns = edit_columns = [
        "township",
        "branch",
        "name",
        "kind",
        "size_class",
        "households",
        "population",
        "married_women",
        "address",
        "phone",
    ]
    show_columns = add_columns
    search_columns = ["name", "township", "branch", "kind", "size_class"]
    base_order = ("id", "asc")
    related_views = [MemberGroupView, CouncilTermView]
    description_columns = {"branch": _l("Optional: the branch (responsibility zone) it belongs to")}


class BranchView(RecordView):
    datamodel = SQLAInterface(Branch)
    list_columns = ["name", "township", "head"]
    add_columns = edit_columns = show_columns = ["township", "name", "head"]
    search_columns = ["name", "township", "head"]
    base_order = ("name", "asc")
    related_views = [VillageView]


# --- Work records ---


class ResolutionView(RecordView):
    datamodel = SQLAInterface(Resolution)
    list_columns = ["meeting", "text", "owner", "due_date", "status", "overdue"]
    add_columns = edit_columns = [
        "village",
        "meeting",
        "text",
        "owner",
        "due_date",
        "status",
        "done_on",
    ]
    show_columns = add_columns
    search_columns = ["village", "meeting", "owner", "due_date", "status"]
    base_order = ("due_date", "asc")
    label_columns = {"meeting": _l("Meeting"), "overdue": _l("Overdue")}
    formatters_columns = {"overdue": lambda v: flag(v, _l("Overdue"))}


class MeetingView(RecordView):
    datamodel = SQLAInterface(Meeting)
    list_columns = ["date", "type", "group", "place", "chair", "sent_to_township_on"]
    add_columns = edit_columns = [
        "village",
        "group",
        "type",
        "date",
        "place",
        "chair",
        "recorder",
        "attendees",
        "other_attendees",
        "topics",
        "minutes",
        "sent_to_township_on",
    ]
    show_columns = add_columns
    search_columns = ["type", "village", "group", "date", "place"]
    base_order = ("date", "desc")
    label_columns = {"attendees": _l("Members attending")}
    related_views = [ResolutionView]


class ActivityView(RecordView):
    datamodel = SQLAInterface(Activity)
    list_columns = ["date", "kind", "theme", "group", "place", "participants_count"]
    add_columns = edit_columns = [
        "village",
        "group",
        "kind",
        "theme",
        "date",
        "place",
        "participants_count",
        "participants",
        "materials",
        "description",
    ]
    show_columns = add_columns
    search_columns = ["kind", "theme", "group", "date"]
    base_order = ("date", "desc")
    label_columns = {"participants": _l("Members who took part")}


class AssistanceView(RecordView):
    datamodel = SQLAInterface(Assistance)
    list_columns = ["date", "household", "kind", "money", "goods", "provided_by"]
    add_columns = edit_columns = [
        "village",
        "household",
        "date",
        "kind",
        "money",
        "goods",
        "provided_by",
        "notes",
    ]
    show_columns = add_columns
    search_columns = ["household", "kind", "date", "provided_by"]
    base_order = ("date", "desc")
    label_columns = {"household": _l("Household")}


def assistance_by_year(household_id):
    """(year, records, money total) of a household's assistance, newest year first; scoped."""
    if not accounts.can(accounts.current_user(), accounts.READ, "Assistance"):
        return []
    year = extract("year", Assistance.date)
    return current_app.appbuilder.session.execute(
        select(year, func.count(), func.sum(Assistance.money))
        .where(
            # The template passes the pk as the URL gave it: text, which PostgreSQL won't compare.
            Assistance.household_id == int(household_id),
            security.scope_criteria(Assistance, accounts.current_scope()),
        )
        .group_by(year)
        .order_by(year.desc())
    ).all()


class HouseholdView(RecordView):
    datamodel = SQLAInterface(Household)
    show_template = "household_show.html"
    extra_args = {"assistance_by_year": assistance_by_year}
    list_columns = ["head_name", "group", "family_type", "difficulty", "status", "paired_member"]
    add_columns = edit_columns = [
        "village",
        "group",
        "head_name",
        "id_number",
        "family_type",
        "difficulty",
        "size",
        "address",
        "phone",
        "surveyed_on",
        "status",
        "paired_member",
        "township_contact",
        "village_contact",
        "family_doctor",
        "notes",
    ]
    show_columns = add_columns
    # The family type and difficulty are encrypted (issue 7): searched by the clear flag.
    search_columns = ["head_name", "id_number", "village", "group", "special", "status"]
    base_order = ("id", "asc")
    label_columns = {"paired_member": _l("Paired member (一帮一)")}
    description_columns = {
        "township_contact": _l("For a special family: its township cadre contact (双岗联系人)"),
        "village_contact": _l("For a special family: its village cadre contact (双岗联系人)"),
    }
    related_views = [AssistanceView]


class BenefitView(RecordView):
    datamodel = SQLAInterface(Benefit)
    list_columns = [
        "year",
        "person_name",
        "id_number",
        "kind",
        "certificate_no",
        "amount",
        "status",
    ]
    add_columns = edit_columns = [
        "village",
        "person_name",
        "id_number",
        "household",
        "kind",
        "certificate_no",
        "year",
        "amount",
        "status",
    ]
    show_columns = add_columns
    search_columns = ["year", "person_name", "id_number", "kind", "status"]
    base_order = ("id", "asc")
    label_columns = {"household": _l("Household")}


class AgreementView(RecordView):
    datamodel = SQLAInterface(Agreement)
    list_columns = ["party_name", "household", "signed_on", "expires_on", "status"]
    add_columns = edit_columns = [
        "village",
        "household",
        "party_name",
        "signed_on",
        "expires_on",
        "status",
        "review_notes",
    ]
    show_columns = add_columns
    search_columns = ["party_name", "signed_on", "status"]
    base_order = ("id", "asc")
    label_columns = {"household": _l("Household")}


class DocumentView(RecordView):
    datamodel = SQLAInterface(Document)
    list_columns = ["year", "kind", "title", "adopted_on", "filed_on"]
    add_columns = edit_columns = [
        "village",
        "kind",
        "title",
        "year",
        "adopted_on",
        "adopted_by",
        "filed_on",
        "body",
    ]
    show_columns = add_columns
    search_columns = ["kind", "title", "year"]
    base_order = ("year", "desc")


class ComplaintView(RecordView):
    datamodel = SQLAInterface(Complaint)
    list_columns = ["received_on", "channel", "kind", "complainant", "status", "overdue"]
    add_columns = edit_columns = [
        "village",
        "received_on",
        "channel",
        "kind",
        "complainant",
        "phone",
        "description",
        "handler",
        "status",
        "resolution",
        "resolved_on",
    ]
    show_columns = add_columns
    search_columns = ["village", "received_on", "channel", "kind", "status"]
    base_order = ("received_on", "desc")
    label_columns = {"overdue": _l("Overdue")}
    formatters_columns = {"overdue": lambda v: flag(v, _l("Overdue"))}


class AwardView(RecordView):
    datamodel = SQLAInterface(Award)
    list_columns = ["year", "kind", "member", "group", "recipient_name", "level"]
    add_columns = edit_columns = [
        "village",
        "year",
        "kind",
        "member",
        "group",
        "recipient_name",
        "level",
        "notes",
    ]
    show_columns = add_columns
    search_columns = ["year", "kind", "level"]
    base_order = ("year", "desc")


class VenueView(RecordView):
    datamodel = SQLAInterface(Venue)
    list_columns = ["kind", "group", "signage", "area", "checked_on"]
    add_columns = edit_columns = [
        "village",
        "group",
        "kind",
        "signage",
        "facilities",
        "area",
        "checked_on",
    ]
    show_columns = add_columns
    search_columns = ["kind", "group", "signage"]
    base_order = ("id", "asc")


class NoticeView(RecordView):
    datamodel = SQLAInterface(Notice)
    list_columns = ["published_on", "kind", "title"]
    add_columns = edit_columns = ["village", "kind", "title", "body", "published_on"]
    show_columns = add_columns
    search_columns = ["kind", "title", "published_on"]
    base_order = ("published_on", "desc")


class FundEntryView(RecordView):
    datamodel = SQLAInterface(FundEntry)
    list_columns = ["date", "direction", "category", "amount", "description", "handled_by"]
    add_columns = edit_columns = [
        "village",
        "date",
        "direction",
        "category",
        "amount",
        "description",
        "handled_by",
    ]
    show_columns = add_columns
    search_columns = ["date", "direction", "category"]
    base_order = ("date", "desc")


class TaskAssignmentView(RecordView):
    """A task as each village has it: the village reports it done (status, date, note, files)."""

    datamodel = SQLAInterface(TaskAssignment)
    show_template = "task_assignment_show.html"
    # Assignments are made with their task (TaskView), never one by one.
    exclude_route_methods = RecordView.exclude_route_methods | {"add"}
    list_columns = ["task", "village", "due_date", "status", "done_on", "overdue"]
    edit_columns = ["status", "done_on", "note"]
    show_columns = ["task", "village", "due_date", "status", "done_on", "note"]
    search_columns = ["task", "village", "status", "done_on"]
    base_order = ("id", "desc")
    label_columns = {"task": _l("Task"), "due_date": _l("Due date"), "overdue": _l("Overdue")}
    formatters_columns = {"overdue": lambda v: flag(v, _l("Overdue"))}
    sort_by = {"due_date": "task.due_date"}


class TaskView(RecordView):
    """上级交办任务: the administrator assigns a task to some or all villages of a township."""

    datamodel = SQLAInterface(Task)
    show_template = "task_show.html"
    list_columns = ["due_date", "title", "township", "assigned_on"]
    add_columns = edit_columns = [
        "township",
        "title",
        "body",
        "due_date",
        "all_villages",
        "villages",
    ]
    show_columns = ["township", "title", "body", "due_date", "assigned_on"]
    search_columns = ["township", "title", "due_date"]
    base_order = ("due_date", "desc")
    related_views = [TaskAssignmentView]
    label_columns = {
        "all_villages": _l("All villages of the township"),
        "villages": _l("Assigned to"),
    }
    description_columns = {
        "villages": _l("One or several villages; or tick the box above for all of them"),
    }

    def __init__(self, **kwargs):
        from app import tasks

        extra = tasks.assignment_fields()
        self.add_form_extra_fields = {**extra, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**extra, **(self.edit_form_extra_fields or {})}
        super().__init__(**kwargs)

    def _init_forms(self):
        from app import tasks

        super()._init_forms()
        self.add_form = tasks.assigning_form(self.add_form)
        self.edit_form = tasks.assigning_form(self.edit_form)

    def prefill_form(self, form, pk):
        super().prefill_form(form, pk)
        item = self.datamodel.get(pk, self._base_filters)
        if item is not None:
            form.villages.data = [a.village for a in item.assignments]

    def _write(self, item, is_new):
        from app import tasks

        super()._write(item, is_new)
        tasks.assign(item, tasks.chosen_villages(item), self.datamodel.session)

    def post_delete(self, item):
        from app import uploads

        if item.file_stored:
            uploads.remove(item.file_stored)


def flag(value, label):
    """A red label for a true flag (overdue), nothing otherwise."""
    return Markup('<span class="label label-danger">{}</span>').format(label) if value else ""


VillageView.related_views = [
    MemberGroupView,
    CouncilTermView,
    MeetingView,
    ActivityView,
    HouseholdView,
    ComplaintView,
    DocumentView,
]
MemberGroupView.related_views = [MemberView, ContactHouseholdView, MeetingView, HouseholdView]
MemberView.related_views = [ActivityView, AwardView, ContactHouseholdView]


class SurveyView(RecordView):
    """知晓率·满意度: people asked and answering well; the rate follows from them."""

    datamodel = SQLAInterface(Survey)
    list_columns = ["year", "village", "kind", "asked", "answered_well", "rate"]
    add_columns = edit_columns = [
        "village",
        "year",
        "kind",
        "asked",
        "answered_well",
        "surveyed_on",
        "notes",
    ]
    show_columns = add_columns[:5] + ["rate", "surveyed_on", "notes"]
    search_columns = ["village", "year", "kind"]
    base_order = ("year", "desc")
    formatters_columns = {"rate": lambda v: "" if v is None else f"{v.normalize():f}%"}
    description_columns = {"rate": _l("Worked out from the two counts")}


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


class RecordApi(Declared, ModelRestApi):
    """A scoped REST resource: same scope, checks and masking as the screens."""

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

    def _init_model_schemas(self):
        super()._init_model_schemas()
        for schema in (self.add_model_schema, self.edit_model_schema):
            for name in self.optional_on_write:
                if name in schema.fields:
                    schema.fields[name].required = False
                    schema.fields[name].allow_none = True

    def _write(self, item, old):
        values = records.item_values(item)
        user, session = accounts.current_user(), self.datamodel.session
        errors = records.prepare_write(type(item), values, old, user, session)
        errors = errors or write_errors(type(item), values, old, user, session)
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
        return self._guarded(super().post_headless)

    def put_headless(self, pk):
        if not valid_pk(pk):
            return self.response_404()
        item = self.datamodel.get(pk, self._base_filters)
        self._old = records.item_values(item) if item is not None else None
        sent = request.get_json(silent=True)
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

    def _handle_filters_args(self, rison_args):
        for flt in rison_args.get("filters", []) or []:
            column = flt.get("col") if isinstance(flt, dict) else None
            if column and accounts.masks(column, model=self.datamodel.obj):
                # Searching by a field the user sees masked would reveal it.
                raise BadRequest(_("You may not search by this field"))
            if column and not crypto.filter_allowed(self.datamodel.obj, column, flt.get("opr")):
                raise BadRequest(_("This field is encrypted: search by the full value only"))
        return super()._handle_filters_args(rison_args)

    def _handle_order_args(self, rison_args):
        column = rison_args.get("order_column")
        if column and accounts.masks(column, model=self.datamodel.obj):
            # Sorting by a field the user sees masked would reveal it.
            raise InvalidOrderByColumnFABException(_("You may not sort by this field"))
        return super()._handle_order_args(rison_args)

    def set_response_key_mappings(self, response, func, rison_args, **kwargs):
        """``_info`` and the list offer no filter or sort by a field the user sees masked."""
        super().set_response_key_mappings(response, func, rison_args, **kwargs)
        if "order_columns" in response:
            response["order_columns"] = self._unmasked(response["order_columns"])
        if "filters" in response:
            kept = self._unmasked(response["filters"])
            response["filters"] = {k: v for k, v in response["filters"].items() if k in kept}

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            # gettext("") is the catalogue's header; an undescribed field has no description.
            info["description"] = ""
        return info

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


def api(model, name, columns, search=None, read_only=(), routes=None):
    """A RecordApi class for ``model`` at /api/v1/<name>/ with the given columns."""
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
        },
    )


MEMBER_API_COLUMNS = [
    "village_id",
    "group_id",
    "name",
    "gender",
    "id_number",
    "birth_date",
    "phone",
    "address",
    "category",
    "party_member",
    "volunteer",
    "status",
    "join_date",
    "applied_on",
    "left_on",
    "leave_reason",
    "notes",
]

APIS = [
    api(Township, "township", ["name", "division_code", "county"]),
    api(
        Village,
        "village",
        [
            "township_id",
            "branch_id",
            "name",
            "kind",
            "size_class",
            "households",
            "population",
            "married_women",
            "address",
            "phone",
        ],
    ),
    api(MemberGroup, "member_group", ["village_id", "name", "leader_id"]),
    api(
        Member,
        "member",
        MEMBER_API_COLUMNS,
        search=[
            "village_id",
            "group_id",
            "name",
            "id_number",
            "gender",
            "category",
            "status",
            "join_date",
        ],
    ),
    api(
        ContactHousehold,
        "contact_household",
        [
            "village_id",
            "group_id",
            "member_id",
            "head_name",
            "address",
            "phone",
            "household_type",
            "notes",
        ],
    ),
    api(
        CouncilTerm,
        "council_term",
        ["village_id", "number", "elected_on", "term_end", "filed_on", "approval_ref"],
    ),
    api(
        CouncilSeat,
        "council_seat",
        ["village_id", "term_id", "member_id", "position", "composition", "day_job"],
    ),
    api(
        Meeting,
        "meeting",
        [
            "village_id",
            "group_id",
            "type",
            "date",
            "place",
            "chair",
            "recorder",
            "other_attendees",
            "topics",
            "minutes",
            "sent_to_township_on",
        ],
    ),
    api(
        Resolution,
        "resolution",
        ["village_id", "meeting_id", "text", "owner", "due_date", "status", "done_on"],
    ),
    api(
        Activity,
        "activity",
        [
            "village_id",
            "group_id",
            "kind",
            "theme",
            "date",
            "place",
            "participants_count",
            "materials",
            "description",
        ],
    ),
    api(
        Household,
        "household",
        [
            "village_id",
            "group_id",
            "head_name",
            "id_number",
            "family_type",
            "difficulty",
            "size",
            "address",
            "phone",
            "surveyed_on",
            "status",
            "paired_member_id",
            "township_contact",
            "village_contact",
            "family_doctor",
            "notes",
        ],
        search=["village_id", "group_id", "head_name", "id_number", "special", "status"],
    ),
    api(
        Assistance,
        "assistance",
        ["village_id", "household_id", "date", "kind", "money", "goods", "provided_by", "notes"],
    ),
    api(
        Benefit,
        "benefit",
        [
            "village_id",
            "person_name",
            "id_number",
            "household_id",
            "kind",
            "certificate_no",
            "year",
            "amount",
            "status",
        ],
        search=["village_id", "person_name", "id_number", "kind", "year", "status"],
    ),
    api(
        Agreement,
        "agreement",
        [
            "village_id",
            "household_id",
            "party_name",
            "signed_on",
            "expires_on",
            "status",
            "review_notes",
        ],
    ),
    api(
        Document,
        "document",
        ["village_id", "kind", "title", "year", "adopted_on", "adopted_by", "filed_on", "body"],
    ),
    api(
        Complaint,
        "complaint",
        [
            "village_id",
            "received_on",
            "channel",
            "kind",
            "complainant",
            "phone",
            "description",
            "handler",
            "status",
            "resolution",
            "resolved_on",
        ],
        search=["village_id", "received_on", "channel", "kind", "status"],
    ),
    api(
        Award,
        "award",
        ["village_id", "group_id", "year", "kind", "member_id", "recipient_name", "level", "notes"],
    ),
    api(
        Venue,
        "venue",
        ["village_id", "group_id", "kind", "signage", "facilities", "area", "checked_on"],
    ),
    api(Notice, "notice", ["village_id", "title", "body", "kind", "published_on"]),
    api(
        FundEntry,
        "fund_entry",
        ["village_id", "date", "direction", "category", "amount", "description", "handled_by"],
    ),
    api(Branch, "branch", ["township_id", "name", "head"]),
    api(
        TaskAssignment,
        "task_assignment",
        ["task_id", "village_id", "status", "done_on", "note"],
        # Made with their task (POST /api/v1/task/), reported done by the village.
        read_only=("task_id", "village_id"),
        routes={"get", "get_list", "info", "put", "delete"},
    ),
    api(
        Survey,
        "survey",
        [
            "village_id",
            "year",
            "kind",
            "asked",
            "answered_well",
            "rate",
            "surveyed_on",
            "notes",
        ],
        read_only=("rate",),
    ),
]


# --- Audit log: read-only for everyone, Admin included ---


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
    from app.resources import RESOURCES

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


class FilterRecordEqual(BaseFilter):
    """The record — or a bulk write's entry whose span of records covers it."""

    name = _l("Is (alone or in a batch)")
    # FAB keeps one global map of these names: it must not shadow "eq".
    arg_name = "record"

    def apply(self, query, value):
        try:
            value = int(value)
        except (TypeError, ValueError):
            return query.filter(false())
        covers = and_(
            AuditLog.record_last.is_not(None),
            AuditLog.record_id <= value,
            AuditLog.record_last >= value,
        )
        return query.filter(or_(AuditLog.record_id == value, covers))


class AuditFilterConverter(SQLAFilterConverter):
    """FAB's filters, with "equal to" on ``record_id`` finding bulk writes too."""

    conversion_table = (
        (
            "is_record_span",
            [FilterRecordEqual, FilterEqual, FilterGreater, FilterSmaller, FilterNotEqual],
        ),
        *SQLAFilterConverter.conversion_table,
    )


class AuditLogInterface(SQLAInterface):
    filter_converter_class = AuditFilterConverter

    def is_record_span(self, col_name):
        return col_name == "record_id"


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


# --- Home ---


class HomeView(IndexView):
    """The home page: the user's scope, its reminders, members by status and groups."""

    index_template = "home.html"

    @expose("/")
    def index(self):
        from app import tasks

        user = accounts.current_user()
        context = {}
        if user is not None and user.is_authenticated:
            scope = accounts.current_scope()
            session = self.appbuilder.session
            in_scope = security.scope_criteria(Member, scope)
            by_status = dict(
                session.execute(
                    select(Member.status, func.count()).where(in_scope).group_by(Member.status)
                ).all()
            )
            groups = session.execute(
                select(func.count())
                .select_from(MemberGroup)
                .where(security.scope_criteria(MemberGroup, scope))
            ).scalar()
            villages = session.execute(
                select(func.count())
                .select_from(Village)
                .where(security.scope_criteria(Village, scope))
            ).scalar()
            context = {
                "scope_label": scope.label(),
                "roles": [accounts.ROLE_LABELS.get(r, r) for r in accounts.role_names(user)],
                "by_status": by_status,
                "statuses": Member.status.info["choices"],
                "groups": groups,
                "villages": villages,
                "board": reminders.board(scope, dt.date.today(), user),
                "tasks": tasks.home_tasks(scope, dt.date.today())
                if accounts.can(user, accounts.READ, "TaskAssignment")
                else None,
                "may_report": accounts.can(user, accounts.EDIT, "TaskAssignment"),
                "scope_level": scope.level,
                "registers": [
                    (name, MENU_LABELS[name])
                    for _view, name, _icon, _category in MENU
                    if accounts.can(user, accounts.READ, name)
                ],
            }
        self.update_redirect()
        return self.render_template(self.index_template, appbuilder=self.appbuilder, **context)


MENU_LABELS = {model.__name__: model.__label__ for model in BUSINESS_MODELS}

MENU = [
    # (view, model name, icon, category)
    (TownshipView, "Township", "fa-landmark", "Organisation"),
    (VillageView, "Village", "fa-house-flag", "Organisation"),
    (MemberGroupView, "MemberGroup", "fa-people-group", "Organisation"),
    (CouncilTermView, "CouncilTerm", "fa-sitemap", "Organisation"),
    (CouncilSeatView, "CouncilSeat", "fa-user-tie", "Organisation"),
    (MemberView, "Member", "fa-address-book", "Registers"),
    (ContactHouseholdView, "ContactHousehold", "fa-house-user", "Registers"),
    (BenefitView, "Benefit", "fa-award", "Registers"),
    (AgreementView, "Agreement", "fa-file-signature", "Registers"),
    (MeetingView, "Meeting", "fa-people-roof", "Records"),
    (ResolutionView, "Resolution", "fa-list-check", "Records"),
    (ActivityView, "Activity", "fa-calendar-check", "Records"),
    (ComplaintView, "Complaint", "fa-comments", "Records"),
    (NoticeView, "Notice", "fa-bullhorn", "Records"),
    (HouseholdView, "Household", "fa-hand-holding-heart", "Assistance"),
    (AssistanceView, "Assistance", "fa-hands-helping", "Assistance"),
    (DocumentView, "Document", "fa-folder-open", "Archive"),
    (AwardView, "Award", "fa-medal", "Archive"),
    (VenueView, "Venue", "fa-building", "Archive"),
    (FundEntryView, "FundEntry", "fa-coins", "Archive"),
    (BranchView, "Branch", "fa-map", "Organisation"),
    (TaskView, "Task", "fa-clipboard-check", "Records"),
    (TaskAssignmentView, "TaskAssignment", "fa-list-check", "Records"),
    (SurveyView, "Survey", "fa-square-poll-vertical", "Records"),
]
CATEGORY_LABELS = {
    "Organisation": _l("Organisation"),
    "Registers": _l("Registers"),
    "Records": _l("Work records"),
    "Assistance": _l("Families and assistance"),
    "Archive": _l("Archive"),
}


def register(appbuilder):
    """Every screen and API, in one block by menu category."""
    app = current_app
    speed.install(app)
    inputs.install(app)

    @app.url_value_preprocessor
    def unknown_pk_is_not_found(_endpoint, values):
        # A record number no id column holds is simply not found (not a 500): pk, owner_id…
        for key, value in (values or {}).items():
            if (key == "pk" or key.endswith("_id")) and not valid_pk(value):
                abort(404)

    for view, name, icon, category in MENU:
        appbuilder.add_view(
            view,
            name,
            label=MENU_LABELS[name],
            icon=icon,
            category=category,
            category_label=CATEGORY_LABELS[category],
        )
    appbuilder.add_view(
        AuditLogView,
        "AuditLog",
        label=_l("Audit log"),
        icon="fa-clipboard-list",
        category="Audit",
        category_label=_l("Audit"),
    )
    for api_class in APIS + [AuditLogApi]:
        appbuilder.add_api(api_class)
    from app import tasks

    tasks.register(appbuilder)
