"""Work the list pages did on every request that can be done once (issue 7 item 8).

Measured with bench/list_1m.py (README, Performance). Each piece keeps FAB's and Flask-Babel's
behaviour and only drops repeated work. The pieces that reach into FAB's, Flask-Babel's and
SQLAlchemy's internals (``CachedJsonschema``, ``RequestDomain``, the count's ``CountHook`` and
``statement_key``) live in app/fab_hooks.py with the other hooks:

- ``CachedJsonschema``: FAB validates every REST request's ``q`` argument with
  ``jsonschema.validate``, which first checks the schema itself against the JSON Schema
  meta-schema — about 15 ms per request, most of a REST list. The validator of each (constant)
  schema is built and checked once.
- ``RequestDomain``: Flask-Babel looks the catalogue up again for every string it translates
  (the request's locale, its identifier string, a cache key): ~20 µs a string, a few hundred
  strings a page. The catalogue is kept for the rest of the request, for as long as the
  request's locale object is the same (``flask_babel.refresh()`` drops it).
- ``RecordListWidget``: the list table's rows written in Python, not by a Jinja loop calling
  three button macros per row (each translating its labels and building its address): the
  same markup, labels translated once per page, each button's address built once.
- ``RecordSearchWidget``: the search form's fixed-choice dropdowns (gender, category,
  status) rendered once per view, field and language instead of on every page.
- ``RelationSelect``: a search form's relation dropdown (village, group, member) written as one
  string, not an ``html_params`` and a format per option (~40 µs an option: a village's 500
  members were 20 ms of its household list); each choice's key read as ``obj.id``.
- ``menu_html``: the navigation menu (some 40 menu entries, each a rights check, an address
  and a translation) rendered once per role set and language; it holds only the entries the
  user may open (``menu_entries``).
- ``SQLAInterface``: FAB's model interface, its list count built without the list's column
  options (a ``load_only`` per column, outer joins for dotted columns): the count reads none
  of them, and FAB built them twice per list (count and page), ~2.5 ms of a REST list.
- ``keep_prepared_statements``: a request that only read ends its transaction with COMMIT, not
  ROLLBACK. psycopg forgets every prepared statement on ROLLBACK, so PostgreSQL planned each
  query of every request again (a member list: nine plans, some 3 ms); after a COMMIT the
  connection keeps them and the server its generic plans.
"""

from flask import current_app, url_for
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface as FabSQLAInterface
from flask_appbuilder.widgets import ListWidget, SearchWidget
from flask_babel import get_locale, get_translations, gettext
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm.util import identity_key
from wtforms import SelectField
from wtforms.widgets import html_params

from app import audit, fab_hooks
from app.audit_tables import AuditHead

_menus = {}


def menu_html():
    """FAB's navigation menu (appbuilder/navbar_menu_items.html, FAB's own template) for this
    request. What it shows depends only on the user's roles (the entries they may open), the
    language and the application's address, so for a user whose roles are all built-in
    (FAB_ROLES, fixed at start-up) it is rendered once per role set, language and catalogue;
    anyone else gets it rendered afresh."""
    from flask import render_template, request

    appbuilder = current_app.appbuilder
    known = appbuilder.sm._request_roles()
    key = None
    if known is not None:
        catalogue = get_translations()
        key = (id(appbuilder), known[0], str(get_locale()), id(catalogue), request.script_root)
        kept = _menus.get(key)
        if kept is not None and kept[0] is catalogue:
            return kept[1]
    html = Markup(
        render_template("appbuilder/navbar_menu_items.html", entries=menu_entries(appbuilder))
    )
    if key is not None:
        _menus[key] = (catalogue, html)
    return html


def menu_opens(appbuilder, item) -> bool:
    """Whether the user may open the menu entry ``item``: the right its page checks (``can_list``
    on a register: FAB's ``menu_access`` is granted for any right on it, and a category's name
    may be a register's too, 家庭帮扶 and 帮扶记录), or ``menu_access`` for a plain link."""
    if not item.should_render():
        return False
    view = item.baseview
    if view is None:
        return appbuilder.sm.has_access("menu_access", item.name)
    permission = "can_" + view.get_method_permission(view.default_view)
    return permission in (view.base_permissions or ()) and appbuilder.sm.has_access(
        permission, view.class_permission_name
    )


def menu_entries(appbuilder) -> list:
    """The menu as the user may use it: (entry, its entries) per top-level entry, a category
    only with an entry the user may open, separators only between entries."""
    shown = []
    for item in appbuilder.menu.get_list():
        if not item.childs:
            if menu_opens(appbuilder, item):
                shown.append((item, []))
            continue
        children = []
        for child in item.childs:
            if child and child.name == "-":
                if children and children[-1] != "-":
                    children.append("-")
            elif child and menu_opens(appbuilder, child):
                children.append(child)
        while children and children[-1] == "-":
            children.pop()
        if children and appbuilder.sm.has_access("menu_access", item.name):
            shown.append((item, children))
    return shown


def install(app):
    """Apply these to ``app`` (after AppBuilder is set up)."""
    app.jinja_env.globals["menu_html"] = menu_html
    fab_hooks.install_request_caches(app)


class SQLAInterface(fab_hooks.CountHook, FabSQLAInterface):
    """FAB's interface; its count (app/fab_hooks.py) without the select options, and an audited
    register's count kept until the data changes (``kept_count``). The records a list column
    names (a member's group) are read for the whole page in one ``IN`` query: FAB leaves them
    to a query per row, hidden as long as a search dropdown had loaded every choice."""

    def count_rows(self, query) -> int:
        return kept_count(self.session, self.obj, query)

    def get_values(self, lst, list_columns):
        # FAB's is a generator, read as the page is written. The session holds its objects
        # weakly: ``loaded`` keeps them until the last row is read.
        loaded = self.load_named_records(lst, list_columns)
        yield from super().get_values(lst, list_columns)
        del loaded

    def load_named_records(self, items, columns) -> list:
        """The records ``items`` name in ``columns`` (many-to-one), those the session does not
        hold yet, read in one query per column: the page's cells then find them loaded. The
        caller keeps the returned list while it reads them."""
        loaded = []
        for column in columns:
            if not self.is_relation_many_to_one(column):
                continue
            prop = getattr(self.obj, column).property
            target = prop.mapper
            if len(prop.local_columns) != 1 or len(target.primary_key) != 1:
                continue
            if set(prop.remote_side) != set(target.primary_key):
                continue
            key = prop.parent.get_property_by_column(next(iter(prop.local_columns))).key
            held = self.session.identity_map
            wanted = {
                pk
                for pk in (getattr(item, key, None) for item in items)
                if pk is not None and identity_key(target.class_, pk) not in held
            }
            if wanted:
                loaded += self.session.scalars(
                    select(target.class_).where(target.primary_key[0].in_(sorted(wanted)))
                ).all()
        return loaded


class AuditLogInterface(fab_hooks.RecordSpanFilters, SQLAInterface):
    """The audit log's interface: "record is" finds bulk writes too (app/fab_hooks.py)."""


# Counts of list queries: (engine, statement, its values) → (audit head, count).
_counts: dict = {}
COUNTS_KEPT = 4096


def kept_count(session, model, query) -> int:
    """``query.count()``, kept while no audited write has happened since (issue 7 item 8: at a
    million members a village's count reads 25k index entries, 3 ms on PostgreSQL).

    Every write to an audited register appends to the audit chain under the chain lock, so the
    chain's head (last id and hash) changes with every change such a count can see; the head is
    read before the count, so a count kept under a head is never older than that head (a write
    committing in between makes the count newer, and the next request sees a new head). Used
    for audited models only, never on a connection that has written in this transaction (its
    own writes are not committed yet). A change made outside the app (SQL typed into psql) is
    not seen until the next audited write; `flask backup restore` changes the head's hash."""
    if not audit.audited(model) or session.new or session.dirty or session.deleted:
        return query.count()  # (pending changes: the count's autoflush writes them first)
    connection = session.connection()
    if connection.info.get(WROTE, True):
        return query.count()
    statement_key = fab_hooks.statement_key(query.statement)
    if statement_key is None:
        return query.count()
    key = (str(connection.engine.url), statement_key)
    head = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)
    ).one_or_none()
    if head is None:
        return query.count()
    head = tuple(head)
    kept = _counts.get(key)
    if kept is not None and kept[0] == head:
        return kept[1]
    count = query.count()
    if len(_counts) >= COUNTS_KEPT:
        _counts.clear()
    _counts[key] = (head, count)
    return count


WROTE = "jsx_wrote"


def keep_prepared_statements(app, db):
    """End a read-only request's transaction with COMMIT (same effect as ROLLBACK when nothing
    was written) so that psycopg keeps its prepared statements (it drops them all on ROLLBACK).

    A request counts as read-only when its session holds no pending change, has no savepoint
    open, and its connection ran nothing but statements starting with SELECT, none of which
    failed, since the transaction began (a savepoint does not start it afresh). Anything else
    ends as before: Flask-SQLAlchemy's teardown rolls it back — a connection lost during the
    request too, its error already answered — and so does a COMMIT that fails here (a lost
    connection): the session is rolled back and removed as usual, the error logged.
    Caveat for raw SQL in request code: a SELECT with a transactional side effect (a function
    that writes, ``set_config(…, false)``, ``pg_notify``) counts as a read and is committed.
    Register after ``db.init_app`` (Flask runs teardowns in reverse order: this one first)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def began(_session, transaction, connection):
        if not transaction.nested:
            connection.info[WROTE] = False

    def executed(connection, _cursor, statement, _parameters, _context, _executemany):
        if statement.lstrip()[:6].upper() != "SELECT":
            connection.info[WROTE] = True

    def failed(context):
        if context.connection is not None:
            context.connection.info[WROTE] = True

    event.listen(Session, "after_begin", began)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", executed)
        event.listen(db.engine, "handle_error", failed)

    @app.teardown_appcontext
    def commit_reads(error):
        if error is not None or not db.session.registry.has():
            return
        session = db.session()
        transaction = session.get_transaction()
        if transaction is None or not transaction.is_active or session.in_nested_transaction():
            return
        if session.new or session.dirty or session.deleted:
            return
        try:
            connection = session.connection()
            if connection.invalidated or connection.info.get(WROTE, True):
                return
            # Nothing to expire: the objects stay as they were read (as a rollback leaves them).
            expire, session.expire_on_commit = session.expire_on_commit, False
            try:
                session.commit()
            finally:
                session.expire_on_commit = expire
        except Exception:  # noqa: BLE001 — the request's answer is sent; never fail the teardown
            app.logger.exception("ending a read-only transaction failed; rolled back")
            try:
                session.rollback()
            except Exception:  # noqa: BLE001 — the connection is gone: the pool discards it
                app.logger.exception("rollback after the failed commit failed too")


class RecordListWidget(ListWidget):
    """FAB's list widget, its rows written by ``list_rows`` instead of a Jinja loop of macros:
    the same markup (check box, show/edit/delete buttons the role may use, each column through
    its formatter, escaped), with the button labels translated once per page rather than per
    row and each button's address built once (``url_for`` with a stand-in for the key)."""

    template = "appbuilder/general/widgets/record_list.html"

    def __call__(self, **kwargs):
        kwargs["list_rows"] = list_rows
        return super().__call__(**kwargs)


PK_STANDIN = "0jsxpk0"


def _address(endpoint, filters=None):
    """A function of the key giving ``endpoint``'s address as FAB's ``safe_url_for`` (and,
    with ``filters``, ``set_link_filters``) would, or None when there is no such route."""
    try:
        stand_in = url_for(endpoint, pk=PK_STANDIN)
    except Exception:
        return None
    suffix = ""
    if filters is not None:
        for flt, value in filters.get_filters_values():
            if flt.is_related_view:
                suffix += ("&" if "?" in stand_in + suffix else "?") + (
                    "_flt_0_" + flt.column_name + "=" + str(value)
                )
    if stand_in.count(PK_STANDIN) != 1:
        return lambda pk: _slow_address(endpoint, pk, suffix)
    head, tail = stand_in.split(PK_STANDIN)
    tail += suffix

    def address(pk):
        if isinstance(pk, int):
            return head + str(pk) + tail
        return _slow_address(endpoint, pk, suffix)

    return address


def _slow_address(endpoint, pk, suffix):
    try:
        return url_for(endpoint, pk=pk) + suffix
    except Exception:
        return None


def list_rows(
    values, pks, columns, formatters, actions, can_show, can_edit, can_delete, view, filters
):
    """The table rows of FAB's widgets/list.html (block begin_loop_values), as Markup."""
    buttons = []
    if can_show and (show := _address(view + ".show", filters)):
        text = (escape(gettext("Show record")), escape(gettext("Show")))
        buttons.append(
            lambda pk, text=text: Markup(
                '<a href="{0}" class="btn btn-sm btn-default" data-toggle="tooltip" '
                'rel="tooltip" title="{1}"><span class="sr-only">{2}</span>'
                '<i class="fa fa-search"></i></a>'
            ).format(show(pk), *text)
        )
    if can_edit and (edit := _address(view + ".edit", filters)):
        text = (escape(gettext("Edit record")), escape(gettext("Edit")))
        buttons.append(
            lambda pk, text=text: Markup(
                '<a href="{0}" class="btn btn-sm btn-default" data-toggle="tooltip" '
                'rel="tooltip" title="{1}"><span class="sr-only">{2}</span>'
                '<i class="fa fa-edit"></i></a>'
            ).format(edit(pk), *text)
        )
    if can_delete and (delete := _address(view + ".delete")):
        nonce = current_app.jinja_env.globals.get("csp_nonce")
        text = (
            escape(gettext("Delete record")),
            escape(gettext("Delete")),
            escape(gettext("Are you sure you want to delete this item?")),
            nonce() if nonce else "",
        )
        buttons.append(
            lambda pk, text=text: Markup(
                '<a id="btn-delete-{0}" href="#" class="btn btn-sm btn-default confirm" '
                'rel="tooltip" title="{1}" ><span class="sr-only">{2}</span>'
                '<i class="fa fa-trash"></i></a>\n<script nonce="{4}">\n'
                '    document.getElementById("btn-delete-{0}")\n'
                '        .addEventListener("click", function () {{\n'
                "            const adminAction = new AdminActions();\n"
                "            return adminAction.execute_single_delete('{0}','{3}');\n"
                "        }})\n</script>"
            ).format(delete(pk), *text)
        )
    crud = can_show or can_edit or can_delete
    shown = [(column, formatters.get(column)) for column in columns]
    out = []
    for item, pk in zip(values, pks, strict=False):
        out.append("<tr>")
        if actions:
            key = escape(pk)
            out.append(
                f'<td><input id="{key}" class="action_check" name="rowid" value="{key}" '
                'type="checkbox"></td>'
            )
        if crud:
            out.append('<td><center><div class="btn-group btn-group-xs" style="display: flex;">')
            out.extend(button(pk) for button in buttons)
            out.append("</div></center></td>")
        for column, formatter in shown:
            value = item[column]
            out.append(f"<td>{escape(formatter(value) if formatter else value)}</td>")
        out.append("</tr>\n")
    return Markup("".join(out))


class RecordSearchWidget(SearchWidget):
    """FAB's search widget, a search field whose choices are fixed (gender, category, status:
    a ``SelectField`` of coded labels) rendered once per language and view, not on every page.
    The cache is keyed by view, field, language and catalogue; relation dropdowns (village,
    group: scoped, changing) and any field holding a value are rendered every time."""

    _rendered = {}

    def __call__(self, **kwargs):
        form = self.template_args["form"]
        fixed = {}
        locale = get_locale()
        catalogue = get_translations()
        for col in self.template_args["include_cols"]:
            field = form[col]
            if type(field) is not SelectField or field.data is not None or field.raw_data:
                continue
            key = (self.template_args.get("route_base"), col, str(locale), id(catalogue))
            kept = self._rendered.get(key)
            if kept is None or kept[0] is not catalogue:
                kept = self._rendered[key] = (catalogue, field())
            fixed[col] = kept[1]
        if not fixed:
            return super().__call__(**kwargs)
        # SearchWidget.__call__ renders form[col]() for each column: answer from the cache.
        proxy = _FormWithRendered(form, fixed)
        self.template_args["form"] = proxy
        try:
            return super().__call__(**kwargs)
        finally:
            self.template_args["form"] = form


class _FormWithRendered:
    """``form`` whose fields named in ``rendered`` render as the HTML kept for them."""

    def __init__(self, form, rendered):
        self._form = form
        self._rendered = rendered

    def __getitem__(self, name):
        field = self._form[name]
        html = self._rendered.get(name)
        return field if html is None else _RenderedField(field, html)

    def __getattr__(self, name):
        return getattr(self._form, name)

    def __iter__(self):
        return iter(self._form)

    def __contains__(self, name):
        return name in self._form


class _RenderedField:
    def __init__(self, field, html):
        self._field = field
        self._html = html

    def __call__(self, **kwargs):
        return self._html if not kwargs else self._field(**kwargs)

    def __getattr__(self, name):
        return getattr(self._field, name)


class RelationSelect(Select2Widget):
    """FAB's ``Select2Widget`` for a search form's relation (a ``QuerySelectField``): the same
    ``<select>``, its options joined in one pass. ``hint()``, when the field offers no choice,
    may say why, shown in the empty box (choose a village first)."""

    def __init__(self, hint=None):
        super().__init__()
        self.hint = hint

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs["class"] = "my_select2 form-control"
        kwargs["data-placeholder"] = gettext("Select Value")
        if "name_" in kwargs:
            field.name = kwargs.pop("name_")
        chosen = str(field.get_pk_func(field.data)) if field.data is not None else None
        objects = field._get_object_list()
        hint = self.hint() if not objects and self.hint is not None else None
        if hint:
            kwargs["data-placeholder"] = hint
        # An empty first option, where Select2 shows its placeholder: a filter left on it
        # searches nothing by the column (``fab_hooks.BLANK_CHOICES``).
        out = [f"<select {html_params(name=field.name, **kwargs)}>", '<option value=""></option>']
        for pk, obj in objects:
            selected = " selected" if pk == chosen else ""
            label = escape(str(field.get_label(obj)))
            out.append(f'<option{selected} value="{escape(pk)}">{label}</option>')
        out.append("</select>")
        return Markup("".join(out))
