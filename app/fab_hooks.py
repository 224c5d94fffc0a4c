# ruff: noqa: E501 — the hooks table below is wider than a line of code
"""Everything that reaches into Flask-AppBuilder's (and Flask-Babel's, SQLAlchemy's) internals.

Each hook: what it touches, why, and the test that fails when it stops working. Every one was
read against Flask-AppBuilder 5.3.0 (``FAB_VERSION``), Flask-Babel 4.0.0, SQLAlchemy 2.1.9,
Flask-Limiter 4.1.1, WTForms 3.3.2 (requirements.txt).

Here (the policy each applies is the app's, in a public method of the class that mixes it in):

===  ==========================================  ============================================  ==========================================================
 #   hook → the internal it touches               why                                           guarding test (tests/…)
===  ==========================================  ============================================  ==========================================================
 1   ``ListHooks._init_properties`` →             a computed list column's sort link            test_bad_input.py::test_computed_columns_have_no_sort_link
     ``BaseModelView._init_properties``           answered 500
 2   ``ListHooks._get_list_widget`` →             page size capped (issue 15); masked or        test_bad_input.py::test_page_size_is_capped,
     ``ModelView._get_list_widget``, its          encrypted-partial filters dropped; sort       test_masking.py::test_html_lists_ignore_a_search_on_what_the_role_sees_masked,
     ``order_columns``, ``include_columns``,      by a computed column; no sort link on a       test_encryption.py::test_html_list_finds_by_full_id_and_ignores_a_partial_search,
     ``value_columns`` template arguments         masked one; a wide reader's rows name their   test_bad_input.py::test_audit_log_sorts_by_record,
                                                  village; a relation filter left on the        test_masking.py::test_html_lists_do_not_sort_by_what_the_role_sees_masked,
                                                  empty choice dropped (FAB: no rows, a 400)    test_list_speed.py::test_a_wide_readers_rows_name_their_village,
                                                                                                test_bad_input.py::test_a_relation_search_left_blank_searches_nothing_by_it
 3   ``FormHooks._get_search_widget`` →           the search form offers no masked field        test_masking.py::test_html_lists_ignore_a_search_on_what_the_role_sees_masked
     its ``include_cols`` template argument
 4   ``FormHooks._get_edit_widget``,              ``__admin_only__`` fields (a village's        test_village_figures.py::test_the_presidents_form_shows_address_and_phone_only,
     ``_fill_form_exclude_cols``                  figures) hidden, their stored values kept     test_village_figures.py::test_the_admins_form_has_them_all
 5   ``FormHooks.get_init_inner_views``,          FAB renders a related list's rows whatever    test_scoping.py::test_detail_page_lists_only_related_rows_in_scope
     ``_related_views`` (FAB's attribute)         the user's rights
 6   ``FormHooks._init_forms``,                   "__None" shown as the blank choice            test_fab_hooks.py::test_a_blank_choice_reads_as_a_dash,
     ``blank_reads_as_dash``, ``field_options``   (WTForms 3.3); a COUNT per search             test_accounts_everyday.py::test_the_user_form_names_roles_and_groups_as_the_office_does,
     → unbound fields' ``kwargs``                 dropdown per page, a key lookup and an        test_accounts_everyday.py::test_an_account_without_a_real_name_is_refused,
     (``blank_text``, ``query_func``,             html_params per option, a county's every      test_list_speed.py::test_search_dropdowns_hold_the_scope_in_order_without_a_count,
     ``get_label``, ``filters``,                  group offered; the user form's role and       test_list_speed.py::test_a_township_chooses_a_group_once_a_village_is_searched,
     ``get_pk_func``, ``widget``), set in         group names, its stripped name and e-mail     test_scoping.py::test_a_searched_village_offers_its_own_rows_and_only_inside_the_scope
     ``_rel_choices_without_count``
 7   ``read_multiple_choices`` →                  FAB drops an out-of-scope choice without      test_scoping.py::test_html_add_with_a_foreign_member_taking_part_is_refused
     ``QuerySelectMultipleField.data``            a word
 8   ``RestApiHooks._init_model_schemas``         the scope fills village_id/group_id a         test_scoping.py::test_api_post_without_village_or_group_takes_the_writers_scope
                                                  writer leaves out
 9   ``RestApiHooks._handle_filters_args``,       no search or sort by a masked field, no       test_masking.py::test_the_api_refuses_a_search_on_what_the_role_sees_masked,
     ``_handle_order_args``                       partial search on an encrypted one            test_masking.py::test_the_api_does_not_sort_by_what_the_role_sees_masked,
                                                                                                test_encryption.py::test_api_search_by_id_equality_finds_partial_is_refused
10   ``RestApiHooks.set_response_key_mappings``   ``_info`` offers no masked filter or sort     test_scoping.py::test_api_info_offers_only_the_scope
11   ``RestApiHooks._get_field_info``             gettext("") put the catalogue header in       test_i18n.py::test_api_info_has_no_catalogue_header_as_description
                                                  every description
12   ``install_request_caches`` →                 ~15 ms a REST request checking a constant     test_list_speed.py::test_a_bad_rest_query_is_refused_every_time,
     ``flask_appbuilder.api.jsonschema``,         schema; ~20 µs a translated string            test_list_speed.py::test_each_request_in_its_own_language
     ``Babel.domain_instance``, ``_cv_app``,
     ``g._flask_babel`` (``RequestDomain``)
13   ``CountHook.query_count`` →                  the count built the list's load_only and      test_list_speed.py::test_the_list_count_is_every_row_the_list_holds
     ``SQLAInterface.query_count``                joins, twice per list
14   ``statement_key`` → SQLAlchemy's             key of a kept list count (issue 7 item 8)     test_list_speed.py::test_a_kept_count_is_each_scopes_and_filters_own,
     ``_generate_cache_key``, ``effective_value``                                               test_list_speed.py::test_a_kept_count_follows_every_write
15   ``SecurityManagerHooks.has_access``,         FAB matches role regexes ~40 times a page;    test_list_speed.py::test_remembered_rights_stay_each_roles_own,
     ``_has_access_builtin_roles``,               the user's roles read once per request        test_list_speed.py::test_rights_follow_a_role_change_at_the_next_request,
     ``_request_roles`` → ``builtin_roles``,                                                    test_list_speed.py::test_a_database_role_is_checked_by_fab
     ``_get_safe_user``, ``g._login_user``,
     ``g._api_key_user``
16   ``SecurityManagerHooks.create_limiter`` →    a throttled sign-in is audited                test_audit.py::test_throttled_sign_ins_are_audited
     Flask-Limiter's ``_on_breach``
17   ``FilterRecordEqual``,                       "record is" on the audit log finds bulk       test_audit.py::test_a_records_history_finds_its_bulk_write
     ``RecordSpanFilterConverter`` → FAB's        writes too
     ``conversion_table``,
     ``filter_converter_class``
18   ``check_fab_version``                        every hook above was read against one FAB     test_fab_hooks.py::test_start_up_refuses_another_fab_version,
                                                  (switched off: a warning at each start)       test_fab_hooks.py::test_pinned_version_is_requirements
19   ``lazy_msgid`` → Flask-Babel's               a roster column read off a field's            test_registry.py::test_a_roster_read_off_the_declarations_follows_them
     ``LazyString._args``                         declaration takes its English label as a
                                                  header (resources.from_fields)
===  ==========================================  ============================================  ==========================================================

Still in their modules (they override FAB's public or exposed methods whole, or shadow its
templates; listed so that an upgrade reads them too):

- app/security.py ``TwoFactorAuthDBView.login`` (FAB's login view, copied, second factor between
  password and session) and ``SecurityApi.login`` (``totp`` taken out of FAB's JSON body; ``g``
  passes it to ``auth_user_db``): test_twofactor.py::test_the_second_step_after_the_password,
  test_twofactor.py::test_the_jwt_login_asks_for_the_code_too. ``create_jwt_manager``'s
  callbacks: test_session_epoch.py::test_logout_ends_every_session_and_token.
  ``get_user_by_id``, ``get_public_permissions``:
  test_list_speed.py::test_a_page_reads_the_account_once_with_roles_scope_and_enrolment,
  test_list_speed.py::test_a_public_role_in_the_database_grants_nothing.
- app/machinery.py ``RecordView.action_post`` (FAB's route, loading rows scoped; FAB-NOTES 2):
  test_scoping.py::test_list_action_on_a_foreign_member_is_404.
- app/speed.py ``RecordListWidget`` + templates/appbuilder/general/widgets/record_list.html (FAB's
  widgets/list.html rows in Python): test_list_speed.py::test_rows_written_in_python_are_fabs_rows;
  ``RecordSearchWidget``: test_list_speed.py::test_kept_search_dropdowns_follow_the_language;
  ``RelationSelect`` (FAB's ``Select2Widget`` markup, written in one pass; set by hook 6):
  test_list_speed.py::test_a_township_chooses_a_group_once_a_village_is_searched;
  ``SQLAInterface.get_values`` (FAB's generator, the records the rows name read first):
  test_list_speed.py::test_a_list_reads_the_records_its_rows_name_in_one_query;
  ``menu_html`` + templates/appbuilder/navbar_menu*.html, ``menu_entries`` (a view's
  ``default_view``, ``get_method_permission``, ``base_permissions``):
  test_list_speed.py::test_remembered_rights_stay_each_roles_own,
  test_dead_ends.py::test_every_menu_link_opens_and_no_category_is_empty.
- app/inputs.py FAB's list-argument patterns (urltools.py) and ``_filters._all_filters``:
  test_bad_input.py::test_bad_list_arguments_are_a_400_page_in_chinese,
  test_bad_input.py::test_sort_link_pattern_matches_fab_markup.

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
import logging
import os

import flask_appbuilder
import flask_login
import jsonschema
from flask import g, has_request_context, request
from flask.globals import _cv_app
from flask_appbuilder.exceptions import InvalidOrderByColumnFABException
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import (
    FilterEqual,
    FilterGreater,
    FilterNotEqual,
    FilterSmaller,
    SQLAFilterConverter,
)
from flask_babel import Domain, get_babel
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import and_, false, or_
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
    """Refuse to start on a FAB version other than the one the hooks were read against; when
    the check is switched off for a port, say so in the log at every start."""
    installed = installed or flask_appbuilder.__version__
    if installed == FAB_VERSION:
        return
    if version_check_enabled(config):
        raise RuntimeError(VERSION_REFUSED.format(found=installed, pinned=FAB_VERSION))
    logging.getLogger(__name__).warning(
        "FAB_VERSION_CHECK is off: Flask-AppBuilder %s runs hooks read against %s "
        "(app/fab_hooks.py)",
        installed,
        FAB_VERSION,
    )


def lazy_msgid(text) -> str | None:
    """The message id of a Flask-Babel lazy string (its English text: ``_l("Hours")`` →
    "Hours"), read from ``LazyString._args``; None for anything else. Hook 19."""
    args = getattr(text, "_args", None) if isinstance(text, LazyString) else None
    return args[0] if args and isinstance(args[0], str) else None


# --- ModelView: the list, its search form, the edit form, the related lists ---


# A search form's empty choice of a relation: ``speed.RelationSelect`` sends "", FAB's own
# select "__None". A list search drops it (``ListHooks``), and so does the check of the list's
# arguments before it (``inputs``).
BLANK_CHOICES = frozenset({"", "__None"})


def without_blank_choices(values):
    """A relation filter's values, the empty choice left out."""
    return [v for v in values if v not in BLANK_CHOICES]


class ListHooks:
    """Mixed in before FAB's ``ModelView`` (and ``ModelRestApi``: only ``_init_properties``
    applies there). The class provides the policy:

    - ``_unmasked(columns)``: the columns the user may sort or search by;
    - ``can_sort(column)``: whether the database can order by a list column;
    - ``page_size_limit()``: the most rows a list page holds;
    - ``sort_by``: a computed list column → the column it sorts by;
    - ``filter_allowed(column, operator)``: whether a search filter is kept (default: all);
    - ``added_list_columns(pks, filters)``: columns shown after the list's first, each a list
      of values in the order of the page's rows ``pks`` (default: none).
    """

    sort_by: dict = {}

    def filter_allowed(self, column, operator) -> bool:
        return True

    def added_list_columns(self, pks, filters) -> dict:
        return {}

    def _without_blank_choices(self, flt, value):
        """A relation filter's values without the search form's empty choice (``""``, sent by
        ``speed.RelationSelect``; FAB's own ``"__None"``): left on it alone, the filter searches
        nothing by its column. FAB compared the relation to None (no rows), answered 400 for
        "__None", or on PostgreSQL flashed a DataError for a blank beside a record number."""
        if not self.datamodel.is_relation(flt.column_name):
            return value
        if isinstance(value, list):  # FAB keeps the list of a filter's values
            return without_blank_choices(value)
        return None if value in BLANK_CHOICES else value

    def _init_properties(self):
        """FAB offers a sort link on every list column; a computed one answered 500."""
        super()._init_properties()
        self.order_columns = [c for c in self.order_columns if self.can_sort(c)]

    def _get_list_widget(self, filters, **kwargs):
        """The one place FAB's list page passes its filters, page size and sort column."""
        kept = [
            (flt, self._without_blank_choices(flt, value))
            for flt, value in zip(filters.filters, filters.values, strict=True)
            if self.filter_allowed(flt.column_name, flt.arg_name)
        ]
        kept = [(flt, value) for flt, value in kept if value not in (None, [])]
        if kept != list(zip(filters.filters, filters.values, strict=True)):
            filters.clear_filters()
            for flt, value in kept:
                filters.add_filter(flt.column_name, type(flt), value)
        if kwargs.get("page_size"):
            kwargs["page_size"] = min(kwargs["page_size"], self.page_size_limit())
        if kwargs.get("order_column") in self.sort_by:
            kwargs["order_column"] = self.sort_by[kwargs["order_column"]]
        widgets = super()._get_list_widget(filters, **kwargs)
        args = widgets["list"].template_args
        # The template's sort links (FAB passes every order column).
        args["order_columns"] = self._unmasked(self.order_columns)
        added = self.added_list_columns(args["pks"], filters)
        if added:
            # FAB's rows are a generator of {column: value}, read as the page is written.
            first, *rest = args["include_columns"]
            args["include_columns"] = [first, *added, *rest]
            args["value_columns"] = (
                {**{column: cells[i] for column, cells in added.items()}, **row}
                for i, row in enumerate(args["value_columns"])
            )
        return widgets


class FormHooks:
    """Mixed in before ``ListHooks`` and FAB's ``ModelView``: the search form, the edit form,
    the related lists. The class provides ``_unmasked(columns)`` and:

    - ``hidden_on_edit(form)``: fields of ``form`` not shown, their stored values kept;
    - ``related_view_readable(view)``: whether the user may read a related list;
    - ``rel_choices(interface, filters, name)``: the choices of the search dropdown ``name``,
      or None for FAB's query;
    - ``rel_widget(name, interface)``: the widget of that dropdown, or None for FAB's;
    - ``forms_ready()``: called once FAB has built its forms.
    """

    rel_choices = None
    rel_widget = None

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
            blank_reads_as_dash(form)
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
            unbound.kwargs["query_func"] = functools.partial(
                self.rel_choices, related, filters, name
            )
            # FAB reads each choice's key through get_related_interface, per choice.
            key = related.get_pk_name()
            unbound.kwargs["get_pk_func"] = lambda obj, key=key: getattr(obj, key)
            widget = self.rel_widget(name, related) if self.rel_widget is not None else None
            if widget is not None:
                unbound.kwargs["widget"] = widget


def field_options(form_class, name, **options) -> None:
    """Options of a field FAB made for ``form_class`` from the model (the keyword arguments of
    its unbound field: ``get_label``, ``filters``…), before any form is made from it."""
    unbound = getattr(form_class, name, None)
    if unbound is not None and hasattr(unbound, "kwargs"):
        unbound.kwargs.update(options)


def blank_reads_as_dash(form_class) -> None:
    """WTForms 3.3 shows FAB's empty blank label as "__None": a dash instead (the record
    forms through ``FormHooks``; the user form, app/security.py, calls it itself)."""
    for name in dir(form_class):
        unbound = getattr(form_class, name)
        if getattr(unbound, "kwargs", {}).get("allow_blank"):
            unbound.kwargs["blank_text"] = "—"


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


# --- Speed: FAB's per-request work done once (app/speed.py has the rest, issue 7 item 8) ---


class CachedJsonschema:
    """What FAB's ``rison`` decorator uses of the ``jsonschema`` module, with ``validate``
    checking each schema once instead of on every call."""

    ValidationError = jsonschema.ValidationError

    def __init__(self):
        self._validators = {}

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return jsonschema.validate(instance, schema, *args, **kwargs)
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            entry = self._validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(entry[1].iter_errors(instance))
        if error is not None:
            raise error


class RequestDomain(Domain):
    """Flask-Babel's domain, its catalogue looked up once per request and locale."""

    def get_translations(self):
        app_ctx = _cv_app.get(None)
        state = app_ctx.g.__dict__.get("_flask_babel") if app_ctx is not None else None
        locale = getattr(state, "babel_locale", None)
        if locale is not None:
            kept = state.__dict__.get("jsx_translations")
            if kept is not None and kept[0] is locale and kept[1] is self:
                return kept[2]
        translations = super().get_translations()
        state = app_ctx.g.__dict__.get("_flask_babel") if app_ctx is not None else None
        locale = getattr(state, "babel_locale", None)
        if locale is not None:
            state.jsx_translations = (locale, self, translations)
        return translations


def install_request_caches(app) -> None:
    """Replace what FAB's ``rison`` decorator calls ``jsonschema`` by ``CachedJsonschema``, and
    Flask-Babel's domain of ``app`` by a ``RequestDomain``."""
    import flask_appbuilder.api

    if not isinstance(flask_appbuilder.api.jsonschema, CachedJsonschema):
        flask_appbuilder.api.jsonschema = CachedJsonschema()
    config = get_babel(app)
    if not isinstance(config.instance.__dict__.get("domain_instance"), RequestDomain):
        # Babel.domain_instance is a cached property: this is the value it would cache.
        config.instance.__dict__["domain_instance"] = RequestDomain(domain=config.default_domain)


class CountHook:
    """Mixed in before FAB's ``SQLAInterface``: FAB applies the selected columns' options to
    the count too — ``load_only`` per column and, for a dotted column (``group.name``), an outer
    join to the one related row — which a COUNT does not read and which cannot change the
    number of rows. The filters (with the joins they need) are FAB's; the class provides
    ``count_rows(query)``."""

    def count_rows(self, query) -> int:
        return query.count()

    def query_count(self, query, filters=None, select_columns=None):
        return self.count_rows(self.apply_filters(query, self.get_inner_filters(filters)))


def statement_key(statement):
    """A hashable key of a SELECT and its values (SQLAlchemy's private cache key, as its own
    compiled cache uses it), or None when it has none or a value cannot be a key."""
    cache_key = statement._generate_cache_key()
    if cache_key is None:
        return None
    try:
        key = (cache_key.key, tuple(_frozen(bind.effective_value) for bind in cache_key.bindparams))
        hash(key)
    except TypeError:  # a value that cannot be a key
        return None
    return key


def _frozen(value):
    if isinstance(value, (list, set)):
        return tuple(_frozen(item) for item in value)
    return value


# --- The security manager: rights checks kept, the login throttle audited ---


class SecurityManagerHooks:
    """Mixed in before FAB's ``SecurityManager``. The class provides
    ``auth_throttled(limit)``: called when the login rate limit refuses a request."""

    auth_throttled = None

    def _has_access_builtin_roles(self, role, permission_name, view_name):
        """FAB matches the role's regular expressions on every check, some 40 per page (menu,
        buttons): the answer for a role, permission and view is kept, the roles being fixed
        (FAB_ROLES, built from accounts.ROLE_RIGHTS at start-up)."""
        key = (role.name, permission_name, view_name)
        known = self._builtin_access.get(key)
        if known is None:
            known = super()._has_access_builtin_roles(role, permission_name, view_name)
            self._builtin_access[key] = known
        return known

    def has_access(self, permission_name, view_name):
        """FAB's check, for a signed-in user whose roles are all built-in (FAB_ROLES): the
        user's roles are read once per request (FAB reads them through the session proxy on
        every check, some 40 a page), and the answer is kept per set of role names (fixed at
        start-up). Anyone else — an API key or JWT, a database role, no user — goes to FAB."""
        known = self._request_roles()
        if known is None:
            return super().has_access(permission_name, view_name)
        names, roles = known
        if not roles:
            return False
        key = (names, permission_name, view_name)
        answer = self._builtin_access.get(key)
        if answer is None:
            answer = any(
                self._has_access_builtin_roles(role, permission_name, view_name) for role in roles
            )
            self._builtin_access[key] = answer
        return answer

    def _request_roles(self):
        """(role names, roles) of the request's signed-in, active user when all their roles
        are built-in; None otherwise. Kept on the request (not ``g``: an app context can
        outlive a request) for the request's user object."""
        if not has_request_context() or g.get("_api_key_user", False):
            return None
        here = request._get_current_object()
        kept = here.__dict__.get("jsx_roles")
        user = g.get("user")
        if kept is not None and kept[0] is user and kept[1] is g.get("_login_user"):
            return kept[2]
        login = flask_login.current_user._get_current_object()
        known = None
        if user is not None and login.is_authenticated and self._get_safe_user(user) is user:
            if user.is_active:
                roles = self.get_user_roles(user)
                if all(role.name in self.builtin_roles for role in roles):
                    known = (frozenset(role.name for role in roles), roles)
        here.jsx_roles = (user, login, known)
        return known

    @property
    def _builtin_access(self):
        cache = self.__dict__.get("_builtin_access_cache")
        if cache is None:
            cache = self.__dict__["_builtin_access_cache"] = {}
        return cache

    def create_limiter(self, app):
        limiter = super().create_limiter(app)
        if self.auth_throttled is not None:
            # Flask-Limiter's private breach callback: FAB creates the limiter without one.
            limiter._on_breach = self.auth_throttled
        return limiter


# --- The audit log's "record is" search: FAB's filter converter ---


class FilterRecordEqual(BaseFilter):
    """The record — or a bulk write's entry whose span of records (``record_id`` to
    ``record_last``) covers it."""

    name = _l("Equal to (bulk writes included)")
    # FAB keeps one global map of these names: it must not shadow "eq".
    arg_name = "record"

    def apply(self, query, value):
        try:
            value = int(value)
        except (TypeError, ValueError):
            return query.filter(false())
        first, last = self.model.record_id, self.model.record_last
        covers = and_(last.is_not(None), first <= value, last >= value)
        return query.filter(or_(first == value, covers))


class RecordSpanFilterConverter(SQLAFilterConverter):
    """FAB's filters, with "equal to" on ``record_id`` finding bulk writes too. FAB picks a
    column's filters by the first entry of ``conversion_table`` whose test method (here
    ``is_record_span``, on the interface) answers true."""

    conversion_table = (
        (
            "is_record_span",
            [FilterRecordEqual, FilterEqual, FilterGreater, FilterSmaller, FilterNotEqual],
        ),
        *SQLAFilterConverter.conversion_table,
    )


class RecordSpanFilters:
    """Mixed in before FAB's ``SQLAInterface`` of a model with ``record_id``/``record_last``."""

    filter_converter_class = RecordSpanFilterConverter

    def is_record_span(self, col_name):
        return col_name == "record_id"
