"""The compliance dashboard (SPEC §3.5, §5) and its API (§6): ``/dashboard/`` and
``/api/v1/compliance/``, with the reports (§3.7) downloaded from the dashboard.

Both read ``app.compliance`` (the norms: ``app.norms``) for the villages of the signed-in user's
scope (a group leader answers for its village). A scope over several townships (a county, the
administrator's) first sees its townships ranked, and opens one (``?township=ID``): the
township's heat map, whose cells open a village's page. The charts are drawn by ECharts,
served from app/static/vendor: the page loads nothing from outside (township networks are
often offline).
"""

import datetime as dt
import io

from flask import abort, current_app, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.api import BaseApi, protect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import accounts, compliance, inputs, norm_basics, norms, reports, security
from app.models import BUSINESS_MODELS, MEETING_TYPE, Branch, Township, Village
from app.views import CATEGORY_LABELS

LABELS = {model.__name__: model.__label__ for model in BUSINESS_MODELS}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The scope levels whose dashboard starts with their townships ranked (issue 18).
OVERSEEING = ("all", "county")


def _period():
    """The year and quarter asked for (this year by default); 400 for anything else."""
    today = dt.date.today()
    try:
        return norm_basics.parse_period(
            request.args.get("year", today.year), request.args.get("quarter"), today
        )
    except ValueError:
        abort(400, description=_("Give a year from 2000 to 2100 and a quarter from 1 to 4"))


def _branch():
    """The branch (分会) the villages are narrowed to, if one is asked for (issue 9)."""
    return request.args.get("branch", type=inputs.record_id)


def _branches(scope, township_id=None):
    """The branches of the scope (of one township of it), for the branch choice."""
    query = select(Branch).where(security.scope_criteria(Branch, scope))
    if township_id is not None:
        query = query.where(Branch.township_id == township_id)
    return current_app.appbuilder.session.scalars(query.order_by(Branch.name)).all()


def township_asked(scope):
    """The township of the scope that ``township=ID`` narrows to, or None if none is asked.
    ValueError for an argument no township could have; LookupError for a township outside
    the scope, as for one that does not exist (SPEC §1: never a 403 that confirms it)."""
    raw = request.args.get("township")
    if raw is None or raw == "":
        return None
    if not inputs.valid_pk(raw):
        raise ValueError(raw)
    township = current_app.appbuilder.session.scalars(
        select(Township).where(Township.id == int(raw), security.scope_criteria(Township, scope))
    ).first()
    if township is None:
        raise LookupError(raw)
    return township


def _township_page(scope):
    """township_asked() for a page: 400 or 404 as its HTML answer."""
    try:
        return township_asked(scope)
    except ValueError:
        abort(400, description=_("Give a township by its number"))
    except LookupError:
        abort(404)


class ComplianceApi(BaseApi):
    """GET /api/v1/compliance/?year=Y[&quarter=Q]: every village of the scope, norm by norm."""

    resource_name = "compliance"
    class_permission_name = accounts.COMPLIANCE
    method_permission_name = {"get": accounts.READ}
    allow_browser_login = True
    openapi_spec_tag = "Compliance"

    @expose("/", methods=["GET"])
    @protect()
    def get(self):
        """Compliance of the villages in the caller's scope.
        ---
        get:
          parameters:
          - in: query
            name: year
            required: true
            schema: {type: integer, minimum: 2000, maximum: 2100}
          - in: query
            name: quarter
            schema: {type: integer, minimum: 1, maximum: 4}
          - in: query
            name: township
            description: only the villages of this township (one of the caller's scope)
            schema: {type: integer, minimum: 1}
          - in: query
            name: branch
            description: only the villages of this branch
            schema: {type: integer, minimum: 1}
          responses:
            200:
              description: villages, each with its score and the met / detail of R1–R21
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        today = dt.date.today()
        try:
            period = norm_basics.parse_period(
                request.args.get("year"), request.args.get("quarter"), today
            )
        except ValueError:
            return self.response_400(
                message=_("Give a year from 2000 to 2100 and a quarter from 1 to 4")
            )
        scope = accounts.current_scope()
        try:
            township = township_asked(scope)
        except ValueError:
            return self.response_400(message=_("Give a township by its number"))
        except LookupError:
            return self.response_404()
        results = compliance.evaluate(
            scope,
            period.year,
            period.quarter,
            today,
            branch_id=_branch(),
            township_id=township.id if township else None,
        )
        return self.response(200, villages=[r.as_json() for r in results])


class DashboardView(BaseView):
    """达标考核: the villages × norms heat map, the ranking and charts; a page per village."""

    route_base = "/dashboard"
    default_view = "index"
    class_permission_name = accounts.COMPLIANCE
    method_permission_name = {
        "index": accounts.READ,
        "village": accounts.READ,
        "report": accounts.EXPORT,
    }

    def _context(self, period):
        user = accounts.current_user()
        return {
            "period": period,
            "norms": norms.NORMS,
            "short_titles": norms.SHORT_TITLES,
            # Translated once per page: a county's heat maps repeat them in every cell.
            "titles": {norm.id: str(norm.title) for norm in norms.NORMS},
            "state_labels": {"met": _("Met"), "unmet": _("Not met"), "none": _("Nothing to judge")},
            "periods": norm_basics.PERIODS,
            "source_label": norm_basics.source_label,
            "years": sorted(
                {period.year, *range(period.today.year - 4, period.today.year + 1)}, reverse=True
            ),
            "may_export": accounts.can(user, accounts.EXPORT, accounts.COMPLIANCE),
        }

    def _crumbs(self, period, scope, township=None, village=None):
        """The way back up: 达标考核 (the county's townships) › the township › the village.
        A township's own users start at their township, a village's at its village."""
        crumbs = [(_("Compliance dashboard"), self._url("index", period))]
        if scope.level in OVERSEEING and township is not None:
            crumbs.append((township.name, self._url("index", period, township=township.id)))
        if village is not None:
            crumbs.append((village.name, None))
        return crumbs if len(crumbs) > 1 else []

    @staticmethod
    def _url(endpoint, period, **args):
        return url_for(
            f"DashboardView.{endpoint}", year=period.year, quarter=period.quarter, **args
        )

    @expose("/")
    @has_access
    def index(self):
        period = _period()
        scope = accounts.current_scope()
        township = _township_page(scope)
        if township is None and scope.level in OVERSEEING:
            return self._townships(period, scope)
        township_id = township.id if township is not None else None
        results = compliance.evaluate(
            scope,
            period.year,
            period.quarter,
            period.today,
            branch_id=_branch(),
            township_id=township_id,
        )
        meetings = compliance.meetings_by_quarter(scope, period.year, township_id)
        ranking = sorted(results, key=lambda r: r.rank)
        charts = {
            "villages": [r.name for r in ranking],
            "scores": [None if r.score is None else round(100 * r.score, 1) for r in ranking],
            "quarters": [_("Q%(quarter)d", quarter=q) for q in (1, 2, 3, 4)],
            "meetings": [
                {"name": str(label), "data": meetings.get(code, [0, 0, 0, 0])}
                for code, label in MEETING_TYPE.pairs
            ],
        }
        return self.render_template(
            "dashboard.html",
            ranking=ranking,
            charts=charts,
            township=township,
            crumbs=self._crumbs(period, scope, township),
            branches=_branches(scope, township_id),
            branch_id=_branch(),
            **self._context(period),
        )

    def _townships(self, period, scope):
        """The county's page: its townships ranked by score, norm by norm (how many of their
        villages meet it); a township opens its heat map."""
        session = self.appbuilder.session
        results = compliance.evaluate(scope, period.year, period.quarter, period.today)
        ranking = compliance.rank_townships(results, compliance.townships_of(scope, session))
        charts = {
            "villages": [t.name for t in ranking],
            "scores": [None if t.score is None else round(100 * t.score, 1) for t in ranking],
        }
        return self.render_template(
            "dashboard_county.html",
            ranking=ranking,
            charts=charts,
            place=accounts.current_scope().label(),
            **self._context(period),
        )

    @expose("/village/<int:village_id>")
    @has_access
    def village(self, village_id):
        period = _period()
        scope = accounts.current_scope()
        village = self.appbuilder.session.scalars(
            select(Village).where(Village.id == village_id, security.scope_criteria(Village, scope))
        ).first()
        if village is None:
            abort(404)
        # The village's township, so that its rank is its rank among the township's.
        results = compliance.evaluate(
            scope, period.year, period.quarter, period.today, township_id=village.township_id
        )
        result = next((r for r in results if r.village_id == village_id), None)
        if result is None:
            abort(404)
        user = accounts.current_user()
        rows = []
        for norm in norms.NORMS:
            outcome = result.rules[norm.id]
            link = None
            if outcome.met is False and accounts.can(user, accounts.READ, norm.register):
                link = url_for(
                    f"{norm.register}View.list",
                    **compliance.list_filters(norm, period, village_id),
                )
            rows.append((norm, outcome, link, LABELS[norm.register]))
        return self.render_template(
            "dashboard_village.html",
            result=result,
            rows=rows,
            crumbs=self._crumbs(period, scope, village.township, village),
            **self._context(period),
        )

    @expose("/report/<kind>")
    @has_access
    def report(self, kind):
        """A report as .xlsx: annual statistics, half-year summary, or a village's archive book."""
        if kind not in reports.REPORTS:
            abort(404)
        period = _period()
        user = accounts.current_user()
        scope = accounts.current_scope()
        village_id = request.args.get("village", type=inputs.record_id)
        half = request.args.get("half", 1, type=int)
        if kind == "archive" and village_id is None:
            abort(404)
        if half not in (1, 2):
            abort(400)
        out = io.BytesIO()
        name = reports.REPORTS[kind](
            self.appbuilder.session, scope, user, period.year, out, village_id=village_id, half=half
        )
        if name is None:
            abort(404)
        out.seek(0)
        response = send_file(out, mimetype=XLSX, as_attachment=True, download_name=name)
        response.headers["Cache-Control"] = "private, no-store"
        return response


class ReportsView(BaseView):
    """档案 → 档案册, 年度统计: choose the year (and the village) and download the report.

    The downloads are DashboardView.report's; these pages only lead to them, for the roles
    that may download (their menu entries: accounts.REPORT_PAGES)."""

    route_base = "/reports"
    # The menu shows 档案册 to whoever may open this page (app/speed.py, menu_opens).
    default_view = "archive"
    class_permission_name = accounts.COMPLIANCE
    method_permission_name = {
        "archive": accounts.EXPORT,
        "archive_print": accounts.EXPORT,
        "annual": accounts.EXPORT,
    }

    def _page(self, kind):
        today = dt.date.today()
        scope = accounts.current_scope()
        villages = current_app.appbuilder.session.scalars(
            select(Village).where(security.scope_criteria(Village, scope)).order_by(Village.id)
        ).all()
        return self.render_template(
            "reports.html",
            kind=kind,
            villages=villages,
            years=list(range(today.year, today.year - 5, -1)),
            this_year=today.year,
        )

    @expose("/archive")
    @has_access
    def archive(self):
        return self._page("archive")

    @expose("/archive/print")
    @has_access
    def archive_print(self):
        """档案册 as one page to print or save as PDF from the browser (a phone too): the
        browser brings the Chinese font, the page its print layout (app.css)."""
        period = _period()
        village_id = request.args.get("village", type=inputs.record_id)
        found = reports.archive_tables(
            self.appbuilder.session,
            accounts.current_scope(),
            accounts.current_user(),
            period.year,
            village_id,
        )
        if found is None:
            abort(404)
        title, tables = found
        return self.render_template("reports_print.html", title=title, tables=tables)

    @expose("/annual")
    @has_access
    def annual(self):
        return self._page("annual")


def register(appbuilder):
    """The dashboard as a top-level menu entry, and its API; the reports in the 档案 menu."""
    appbuilder.add_view(
        DashboardView,
        accounts.COMPLIANCE,
        label=_l("Compliance dashboard"),
        icon="fa-chart-column",
    )
    appbuilder.add_api(ComplianceApi)
    archive_book, annual_statistics = accounts.REPORT_PAGES
    appbuilder.add_view(
        ReportsView,
        archive_book,
        href="/reports/archive",
        label=_l("Archive book"),
        icon="fa-book",
        category="Archive",
        category_label=CATEGORY_LABELS["Archive"],
    )
    appbuilder.add_link(
        annual_statistics,
        href="/reports/annual",
        label=_l("Annual statistics"),
        icon="fa-table",
        category="Archive",
        category_label=CATEGORY_LABELS["Archive"],
    )
