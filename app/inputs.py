"""Bad input answered with a 400 and a message before FAB or the database sees it (issue 15).

SPEC §4: no input makes a server error. FAB reads list arguments with bare ``int()`` and rison
without catching what its parser raises, applies a filter's value as it comes (``"%" + 5``), and
passes a page number or a NUL byte on to the database, which refuses them with a 500. Checked
here, once for every view and API:

- ``check_request`` (before every request): no NUL byte in the query string, a form or a JSON
  body (PostgreSQL stores no NUL in text); a REST ``q`` that parses and is an object, its page
  numbers and whole numbers within what a database holds, each filter's value of the type its
  column and operator take; a JSON body that is an object; the HTML list arguments
  (``page_…``, ``psize_…``, ``_flt_N_…``, ``_oc_…``) as FAB will read them; a list action
  and its rows. FAB's own views (accounts, roles) included.
- ``number_limit``: what a number column holds on every database. Ids and references are
  ``Integer`` — int4 on PostgreSQL — and amounts ``Numeric(p, s)``; SQLite stores more, but a
  number past the column is refused alike on both (PostgreSQL answered a 500): a path id is
  not found (``valid_pk``), a field or a search value a 400 naming the limit.
- ``bad_request``: the 400 answer — JSON under ``/api/``, else a page in the user's language;
  ``value_refused``: a database that refuses a value anyway (``DataError``) is a 400 too.
"""

import datetime as dt
import decimal
import json
import math
import re
import urllib.parse

import prison
from dateutil import parser as dateparser
from flask import current_app, jsonify, render_template, request
from flask_appbuilder.api import BaseApi
from flask_appbuilder.models.filters import FilterRelation
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Float, Integer, Numeric, SmallInteger, inspect
from sqlalchemy.exc import DataError
from sqlalchemy.orm import ColumnProperty
from werkzeug.exceptions import BadRequest, NotFound

from app.fab_hooks import without_blank_choices

# Every id and reference is an Integer column: int4 on PostgreSQL.
MAX_PK = 2**31 - 1
# A number in a field no column holds (FAB drops it): within what a driver binds.
MAX_BIGINT = 2**63 - 1
# An HTML list shows at most as many rows a page as the API (FAB_API_MAX_PAGE_SIZE, this when
# unset), whatever psize_… asks: one request must not render and decrypt every row in scope.
MAX_PAGE_SIZE = 100


def max_page_size() -> int:
    return current_app.config.get("FAB_API_MAX_PAGE_SIZE") or MAX_PAGE_SIZE


# Beyond any list; page × page size stays far inside a 64-bit OFFSET.
MAX_PAGE = 10**9
LIST_OPERATORS = {"in", "not_in"}
TEXT_OPERATORS = {"sw", "nsw", "ew", "new", "ct", "nct"}


def valid_pk(pk) -> bool:
    """An id an id column holds; anything else is simply not found (404)."""
    text = str(pk)
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_PK


def record_id(text) -> int:
    """An id argument, as ``request.args.get(name, type=record_id)`` reads it: one no id
    column holds is a ValueError, so the argument reads as absent."""
    if not valid_pk(text):
        raise ValueError(text)
    return int(text)


def number_limit(column_type):
    """The largest magnitude a number column holds on every database, or None."""
    if isinstance(column_type, BigInteger):
        return MAX_BIGINT
    if isinstance(column_type, SmallInteger):
        return 2**15 - 1
    if isinstance(column_type, Integer):
        return MAX_PK
    if isinstance(column_type, Numeric) and not isinstance(column_type, Float):
        if column_type.precision is not None:
            ten, scale = decimal.Decimal(10), column_type.scale or 0
            return ten ** (column_type.precision - scale) - ten**-scale  # Numeric(8, 1): 9999999.9
    return None


def number_problem(column_type, value):
    """Why a number is past what its column holds (the limit), or None; not a number: None."""
    limit = number_limit(column_type)
    if (
        limit is None
        or isinstance(value, bool)
        or not isinstance(value, (int, float, decimal.Decimal))
    ):
        return None
    number = decimal.Decimal(value)
    if number.is_finite() and abs(number) <= limit:
        return None
    return _l("At most %(n)s", n=limit)


def scale_errors(model, sent) -> dict:
    """Numbers a JSON body gives a ``Numeric(p, s)`` column with more than ``s`` decimal
    places: field → message. The API's schema would round them (0.55 hours → 0.6) where the
    form refuses them; refused alike."""
    errors = {}
    if not isinstance(sent, dict):
        return errors
    columns = inspect(model).columns
    for key, value in sent.items():
        column = columns.get(key) if isinstance(key, str) else None
        kind = getattr(column, "type", None)
        if not isinstance(kind, Numeric) or isinstance(kind, Float) or kind.scale is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            continue
        if number.is_finite() and number.as_tuple().exponent < -kind.scale:
            errors[key] = _l("At most %(n)d decimal place(s)", n=kind.scale)
    return errors


class BadInput(BadRequest):
    """A request refused with a message for the user (in their language)."""

    def __init__(self, message):
        super().__init__(description=str(message))

    def __str__(self):
        # FAB's API answers str(error) as the message: the message alone, not "400 Bad Request: …".
        return self.description


# --- Every request ---


def check_request():
    """Refuse, before any view runs, what FAB or the database would answer with a 500."""
    _no_nul()
    view = getattr(current_app.view_functions.get(request.endpoint), "__self__", None)
    if isinstance(view, BaseApi):
        _check_rison(view)
        _check_json_body()
    elif view is not None:
        _check_list_args(view)
        _check_action(view)


def _no_nul():
    texts = [*request.args.keys(), *(v for _k, v in request.args.items(multi=True))]
    if request.mimetype == "application/x-www-form-urlencoded":
        texts += [*request.form.keys(), *(v for _k, v in request.form.items(multi=True))]
    if any("\x00" in text for text in texts):
        raise BadInput(_l("Text may not contain the NUL character (\\0)"))


def _check_json_body():
    if request.method not in ("POST", "PUT", "PATCH") or not request.is_json:
        return
    body = request.get_data().strip()
    if not body:
        return  # nothing sent (a token refresh): the endpoint says if it needs a body
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        # Nested past Python's recursion limit: get_json catches only ValueError.
        data = None
    if data is None and body != b"null":
        raise BadInput(_l("The request body is not valid JSON"))
    if not isinstance(data, dict):
        raise BadInput(_l('The request body must be a JSON object: {"field": value, …}'))
    _check_values(data)


def _check_values(value):
    """Every string without NUL, every number one a database column can hold."""
    try:
        _check_value(value)
    except RecursionError:
        raise BadInput(_l("The request body is not valid JSON")) from None


def _check_value(value):
    if isinstance(value, dict):
        for key, item in value.items():
            _check_value(key)
            _check_value(item)
    elif isinstance(value, list):
        for item in value:
            _check_value(item)
    elif isinstance(value, str):
        if "\x00" in value:
            raise BadInput(_l("Text may not contain the NUL character (\\0)"))
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                # JSON's "\ud800": a lone surrogate no database or log can store.
                raise BadInput(_l("Text that is not valid Unicode (a lone surrogate)")) from None
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if abs(value) > MAX_BIGINT:
            raise BadInput(_l("A number too large: %(value).20s…", value=str(value)))
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadInput(_l("Not a finite number"))


def _parse_rison(value):
    """``q`` as FAB's ``rison`` decorator reads it — rison, else JSON — or a 400 for anything
    that is neither (FAB catches only the rison parser's own error, not e.g. ``5e+199``)."""
    try:
        return prison.loads(value)
    except Exception:  # noqa: BLE001 — prison raises ValueError, IndexError… on bad text
        pass
    if current_app.config.get("FAB_API_ALLOW_JSON_QS", True):
        try:
            return json.loads(urllib.parse.parse_qs(f"q={value}").get("q")[0])
        except Exception:  # noqa: BLE001 — anything that is not JSON either
            pass
    raise BadInput(_l("The q argument is not valid rison or JSON, e.g. q=(page:0,page_size:25)"))


def _check_rison(view):
    value = request.args.get("q")
    if not value:
        return
    rison = _parse_rison(value)
    if not isinstance(rison, dict):
        raise BadInput(_l("The q argument must be an object, e.g. q=(page:0,page_size:25)"))
    _check_values(rison)
    _check_pages(rison)
    filters = rison.get("filters")
    if filters is None:
        return
    if not isinstance(filters, list) or not all(
        isinstance(flt, dict) and {"col", "opr", "value"} <= flt.keys() for flt in filters
    ):
        raise BadInput(_l("Each filter is an object with col, opr and value"))
    searches = getattr(getattr(view, "_filters", None), "_search_filters", {})
    for item in filters:
        # A column or operator the API does not offer: FAB answers that itself (400).
        for flt in searches.get(item["col"], []) if isinstance(item["col"], str) else []:
            if flt.arg_name == item["opr"]:
                _check_filter(view.datamodel, flt, item["value"])


def _check_pages(rison):
    """Page numbers (of the list, of /_info's related fields) from 0 to MAX_PAGE."""
    for key, value in rison.items():
        if isinstance(value, dict):
            _check_pages(value)
        elif key in ("page", "page_size"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadInput(_l("%(key)s must be a whole number", key=key))
            if key == "page" and not 0 <= value <= MAX_PAGE:
                raise BadInput(_l("No such page"))


# FAB's own patterns for the list arguments (flask_appbuilder/urltools.py), matched as it does.
PAGE_ARG = re.compile("page_(.*)")
PSIZE_ARG = re.compile("psize_(.*)")
FILTER_ARG = re.compile(r"_flt_(\d)_(.*)")
ORDER_ARG = re.compile("_oc_(.*)")


def _whole(text, low, high):
    try:
        number = int(text)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def _check_list_args(view):
    """page_…, psize_…, _flt_N_… and _oc_… as FAB's views will read them: a page and a page
    size that are numbers, a filter index the column has, an order column that sorts."""
    for arg in request.args:
        if PAGE_ARG.findall(arg):
            if _whole(request.args.get(arg), 0, MAX_PAGE) is None:
                raise BadInput(_l("No such page"))
        if PSIZE_ARG.findall(arg):
            if _whole(request.args.get(arg), 0, MAX_BIGINT) is None:
                raise BadInput(_l("Not a valid page size"))
        found = FILTER_ARG.findall(arg)
        filters = getattr(view, "_filters", None)
        if found and filters is not None:
            index, column = int(found[0][0]), found[0][1]
            if column in filters._all_filters:
                if index >= len(filters._all_filters[column]):
                    raise BadInput(_l("No such search"))
                flt = filters._all_filters[column][index]
                values = request.args.getlist(arg)
                if view.datamodel.is_relation(column):
                    # The empty choice: the list searches nothing by it (fab_hooks.ListHooks).
                    values = without_blank_choices(values)
                _check_filter(view.datamodel, flt, values)
        found = ORDER_ARG.findall(arg)
        if found:
            target = list_views().get(found[0])
            column = request.args.get(arg)
            if target is None:
                continue
            offered = target.order_columns or []
            if hasattr(target, "_unmasked"):
                # Less what the user sees masked: its order would give the hidden values back.
                offered = target._unmasked(offered)
            if column not in offered:
                raise BadInput(_l("This list cannot be sorted by that column"))


def _check_action(view):
    """FAB's own list actions (accounts, roles, groups) run on what ``datamodel.get`` finds: an
    action the view has not, or a row that is no record, answered 500. Not found instead."""
    if not (request.endpoint or "").endswith(".action_post"):
        return
    if request.form.get("action") not in (getattr(view, "actions", None) or {}):
        raise NotFound()
    for pk in request.form.getlist("rowid"):
        if not valid_pk(pk) or view.datamodel.get(int(pk)) is None:
            raise NotFound()


def list_views() -> dict:
    """Every model view by class name (the name in its list arguments), related lists too."""
    appbuilder = current_app.appbuilder
    views = appbuilder.__dict__.get("jsx_list_views")
    if views is None:
        views = {}
        for view in appbuilder.baseviews:
            inner = view.get_init_inner_views() if hasattr(view, "get_init_inner_views") else []
            for one in [view, *(inner or [])]:
                if hasattr(one, "order_columns"):
                    views.setdefault(type(one).__name__, one)
        appbuilder.__dict__["jsx_list_views"] = views
    return views


# --- Sorting ---


def sortable(datamodel, column) -> bool:
    """Whether the database can order by ``column``: a mapped column or a related one
    (``group.name``), not a Python property computed per row (overdue, a due date read
    through the task)."""
    if "." in column:
        return True
    attribute = getattr(datamodel.obj, column, None)
    if hasattr(attribute, "_col_name"):
        return True
    return isinstance(getattr(attribute, "property", None), ColumnProperty)


# --- Search values ---


def _check_filter(datamodel, flt, value):
    """A search value of the type its column and operator take (FAB applies each value of a
    list on its own, all together for "in"): 400 else."""
    if flt.arg_name in LIST_OPERATORS:
        if not isinstance(value, list):
            raise BadInput(_l("Give a list of values for %(column)s", column=flt.column_name))
        items = value
    else:
        items = value if isinstance(value, list) else [value]
    for item in items:
        problem = value_problem(datamodel, flt, flt.column_name, item)
        if problem:
            raise BadInput(problem)


def value_problem(datamodel, flt, column, value):
    """What is wrong with ``value`` as a search of ``column`` by ``flt``, or None."""
    if isinstance(value, (dict, list)):
        return _l("A search value is a single value")
    if isinstance(flt, FilterRelation) or datamodel.is_relation(column):
        if value == "" or valid_pk(value):
            return None
        return _l("No such record")
    if flt.arg_name in TEXT_OPERATORS or datamodel.is_string(column) or datamodel.is_text(column):
        if isinstance(value, str):
            return None
        return _l("A search of %(column)s is text", column=column)
    if isinstance(value, bool):
        return None if datamodel.is_boolean(column) else _l("Not a valid search value")
    if datamodel.is_integer(column):
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                return None
            if not re.fullmatch(r"[-+]?\d{1,19}", value):
                return _l("Not a whole number")
            value = int(value)
        if not isinstance(value, int) or abs(value) > MAX_BIGINT:
            return _l("Not a whole number")
        return _past_column(datamodel, column, value)
    if datamodel.is_float(column) or datamodel.is_numeric(column):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return _l("Not a number")
        if not math.isfinite(number) or abs(number) > 1e15:
            return _l("Not a number")
        return _past_column(datamodel, column, decimal.Decimal(str(value).strip()))
    if datamodel.is_date(column) or datamodel.is_datetime(column):
        if not isinstance(value, str):
            return _l("Not a valid date (use 2024-03-05)")
        if value.strip() == "" or _date(value) is not None:
            return None
        return _l("Not a valid date (use 2024-03-05)")
    return None


def _past_column(datamodel, column, value):
    """A search value past what the column holds (PostgreSQL refuses to bind it: a 500)."""
    mapped = inspect(datamodel.obj).columns.get(column)
    if mapped is None or number_problem(mapped.type, value) is None:
        return None
    return _l("A search of %(column)s is at most %(n)s", column=column, n=number_limit(mapped.type))


def _date(text):
    if len(text) > 40:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        pass
    try:
        return dateparser.parse(text)
    except (ValueError, OverflowError, TypeError):
        return None


# --- The answer ---

GENERIC = BadRequest.description


def bad_request(error):
    """A 400 as JSON for the API, else a page in the user's language."""
    message = error.description
    if not message or message == GENERIC:
        message = str(_l("The request could not be understood"))
    if request.path.startswith("/api/"):
        return jsonify(message=message), 400
    try:
        page = render_template(
            "bad_request.html", appbuilder=current_app.appbuilder, message=message
        )
    except Exception:  # noqa: BLE001 — the page itself failed: the message alone, still a 400
        current_app.logger.exception("rendering the bad request page failed")
        return message, 400, {"Content-Type": "text/plain; charset=utf-8"}
    return page, 400


def value_refused(error):
    """A value the database refuses (past its column, not its type): the checks above should
    have refused it first; a 400 with a message all the same, not a 500."""
    current_app.logger.warning("the database refused a value: %s", error.orig)
    current_app.appbuilder.session.rollback()
    return bad_request(BadInput(_l("A value is past what its field holds")))


def install(app):
    """Check every request; answer 400s as above."""
    app.before_request(check_request)
    app.register_error_handler(BadRequest, bad_request)
    app.register_error_handler(DataError, value_refused)
