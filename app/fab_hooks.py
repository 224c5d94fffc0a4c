"""Everything that reaches into Flask-AppBuilder's (and Flask-Babel's, SQLAlchemy's) internals.

HOOKS_TABLE

Start-up (``create_app``) refuses any other FAB version than ``FAB_VERSION``: each hook was read
against that version's source, and a private method renamed or re-shaped upstream fails quietly
(the override is simply never called). Set ``FAB_VERSION_CHECK=0`` only while porting the hooks
to a new version: re-read each hook above against the new source, run their tests, then move
``FAB_VERSION`` (and requirements.txt) on.

This module imports no other module of the app: the policy a hook applies (who sees what masked,
how many rows a page holds) is the app's, in a public method of the class that mixes the hook in
(named in each hook's docstring).
"""

import functools
import os

import flask_appbuilder
from flask import request
from flask_appbuilder.exceptions import InvalidOrderByColumnFABException
from flask_appbuilder.fields import QuerySelectMultipleField
from werkzeug.exceptions import BadRequest

# The version the hooks were read against; requirements.txt pins the same
# (tests/test_fab_hooks.py::test_pinned_version_is_requirements).
FAB_VERSION = "5.3.0"

VERSION_REFUSED = (
    "Flask-AppBuilder {found} is installed, but this application's FAB hooks (app/fab_hooks.py) "
    "were read against Flask-AppBuilder {pinned}: install flask-appbuilder=={pinned} "
    "(pip install -r requirements.txt), or port the hooks and set FAB_VERSION_CHECK=0 while "
    "doing so.\n"
    "已安装的 Flask-AppBuilder 版本为 {found}，而本系统对 FAB 内部的改动（app/fab_hooks.py）"
    "是按 {pinned} 版核对的：请安装 flask-appbuilder=={pinned}（pip install -r "
    "requirements.txt）；如需移植到新版本，移植期间可设置 FAB_VERSION_CHECK=0。"
)


def version_check_enabled(config) -> bool:
    """The check runs unless FAB_VERSION_CHECK (config, else environment) says 0/false/no/off."""
    value = config.get("FAB_VERSION_CHECK", os.environ.get("FAB_VERSION_CHECK", "1"))
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def check_fab_version(config, installed=None) -> None:
    """Refuse to start on a FAB version other than the one the hooks were read against."""
    installed = installed or flask_appbuilder.__version__
    if installed != FAB_VERSION and version_check_enabled(config):
        raise RuntimeError(VERSION_REFUSED.format(found=installed, pinned=FAB_VERSION))


# --- ModelView: the list, its search form, the edit form, the related lists ---


class ListHooks:
    """Mixed in before FAB's ``ModelView`` (and ``ModelRestApi``: only ``_init_properties``
    applies there). The class provides the policy:

    - ``_unmasked(columns)``: the columns the user may sort or search by;
    - ``can_sort(column)``: whether the database can order by a list column;
    - ``page_size_limit()``: the most rows a list page holds;
    - ``sort_by``: a computed list column → the column it sorts by;
    - ``filter_allowed(column, operator)``: whether a search filter is kept (default: all).
    """

    sort_by: dict = {}

    def filter_allowed(self, column, operator) -> bool:
        return True

    def _init_properties(self):
        """FAB offers a sort link on every list column; a computed one answered 500."""
        super()._init_properties()
        self.order_columns = [c for c in self.order_columns if self.can_sort(c)]

    def _get_list_widget(self, filters, **kwargs):
        """The one place FAB's list page passes its filters, page size and sort column."""
        kept = [
            (flt, value)
            for flt, value in zip(filters.filters, filters.values, strict=True)
            if self.filter_allowed(flt.column_name, flt.arg_name)
        ]
        if len(kept) != len(filters.filters):
            filters.clear_filters()
            for flt, value in kept:
                filters.add_filter(flt.column_name, type(flt), value)
        if kwargs.get("page_size"):
            kwargs["page_size"] = min(kwargs["page_size"], self.page_size_limit())
        if kwargs.get("order_column") in self.sort_by:
            kwargs["order_column"] = self.sort_by[kwargs["order_column"]]
        widgets = super()._get_list_widget(filters, **kwargs)
        # The template's sort links (FAB passes every order column).
        widgets["list"].template_args["order_columns"] = self._unmasked(self.order_columns)
        return widgets


class FormHooks:
    """Mixed in before ``ListHooks`` and FAB's ``ModelView``: the search form, the edit form,
    the related lists. The class provides ``_unmasked(columns)`` and:

    - ``hidden_on_edit(form)``: fields of ``form`` not shown, their stored values kept;
    - ``related_view_readable(view)``: whether the user may read a related list;
    - ``rel_choices(interface, filters)``: a search dropdown's choices, or None for FAB's query;
    - ``forms_ready()``: called once FAB has built its forms.
    """

    rel_choices = None

    def hidden_on_edit(self, form) -> list:
        return []

    def related_view_readable(self, view) -> bool:
        return True

    def forms_ready(self):
        pass

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        widgets = super()._get_search_widget(form=form, exclude_cols=exclude_cols, widgets=widgets)
        search = widgets["search"]
        search.template_args["include_cols"] = self._unmasked(search.template_args["include_cols"])
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        hidden = self.hidden_on_edit(form)
        return super()._get_edit_widget(form, list(exclude_cols or []) + hidden, widgets)

    def _fill_form_exclude_cols(self, exclude_cols, form):
        """FAB fills only the excluded columns' values; the hidden ones get their stored
        values too, as if posted (InputRequired reads the raw input)."""
        super()._fill_form_exclude_cols(exclude_cols, form)
        pk = request.view_args.get("pk")
        hidden = self.hidden_on_edit(form)
        if pk is not None and hidden:
            item = self.datamodel.get(pk, self._base_filters)
            for name in hidden:
                value = getattr(item, name)
                form[name].data = value
                form[name].raw_data = [] if value is None else [str(value)]

    def get_init_inner_views(self):
        # AppBuilder appends the related views here, all of them.
        return getattr(self, "_all_related_views", [])

    @property
    def _related_views(self):
        """FAB renders a related list's rows whatever the user's rights, only its buttons
        follow them: the lists the user may not read are left out."""
        return [
            view
            for view in getattr(self, "_all_related_views", [])
            if self.related_view_readable(view)
        ]

    @_related_views.setter
    def _related_views(self, views):
        self._all_related_views = views

    def _init_forms(self):
        super()._init_forms()
        for form in (self.add_form, self.edit_form):
            for name in dir(form):
                unbound = getattr(form, name)
                if getattr(unbound, "kwargs", {}).get("allow_blank"):
                    # WTForms 3.3 shows FAB's empty blank label as "__None".
                    unbound.kwargs["blank_text"] = "—"
        if self.rel_choices is not None:
            self._rel_choices_without_count(self.search_form)
        self.forms_ready()

    def _rel_choices_without_count(self, form):
        """FAB's dropdown query counts the choices first, a statement per dropdown per page."""
        for name, rules in self.search_form_query_rel_fields.items():
            unbound = getattr(form, name, None)
            if unbound is None or "query_func" not in getattr(unbound, "kwargs", {}):
                continue
            related = self.datamodel.get_related_interface(name)
            filters = related.get_filters().add_filter_list(rules)
            unbound.kwargs["query_func"] = functools.partial(self.rel_choices, related, filters)


def read_multiple_choices(form) -> None:
    """FAB checks a multiple choice (``QuerySelectMultipleField``) before reading it, and so drops
    a value outside the (scoped) choices without a word: read first, it is refused."""
    for field in form:
        if isinstance(field, QuerySelectMultipleField):
            field.data = field.data


# --- ModelRestApi: schemas, rison arguments, _info ---


class RestApiHooks:
    """Mixed in before FAB's ``ModelRestApi``. The class provides ``optional_on_write`` (fields
    a writer may leave out), ``_unmasked(columns)``, ``filter_refusal(column, operator)`` and
    ``order_refusal(column)`` (a message, or None)."""

    optional_on_write = ()

    def _init_model_schemas(self):
        super()._init_model_schemas()
        for schema in (self.add_model_schema, self.edit_model_schema):
            for name in self.optional_on_write:
                if name in schema.fields:
                    schema.fields[name].required = False
                    schema.fields[name].allow_none = True

    def _handle_filters_args(self, rison_args):
        for flt in rison_args.get("filters", []) or []:
            column = flt.get("col") if isinstance(flt, dict) else None
            refused = column and self.filter_refusal(column, flt.get("opr"))
            if refused:
                raise BadRequest(refused)
        return super()._handle_filters_args(rison_args)

    def _handle_order_args(self, rison_args):
        column = rison_args.get("order_column")
        refused = column and self.order_refusal(column)
        if refused:
            raise InvalidOrderByColumnFABException(refused)
        return super()._handle_order_args(rison_args)

    def set_response_key_mappings(self, response, func, rison_args, **kwargs):
        """``_info`` and the list offer no filter or sort the user may not use."""
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
