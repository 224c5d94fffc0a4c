"""The compliance dashboard (SPEC §3.5, §5) and its API (§6): ``/dashboard/`` and
``/api/v1/compliance/``, with the reports (§3.7) downloaded from the dashboard.

Both read ``app.compliance`` (the norms: ``app.norms``) for the villages of the signed-in user's
scope (a group leader answers for its village). The charts are drawn by ECharts, served from
app/static/vendor: the page loads nothing from outside (township networks are often offline).
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
from app.models import BUSINESS_MODELS, MEETING_TYPE, Branch

LABELS = {model.__name__: model.__label__ for model in BUSINESS_MODELS}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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


def _branches(scope):
    """The branches of the scope, for the branch choice."""
    return current_app.appbuilder.session.scalars(
        select(Branch).where(security.scope_criteria(Branch, scope)).order_by(Branch.name)
    ).all()


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
          responses:
            200:
              description: villages, each with its score and the met / detail of R1–R21
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
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
        results = compliance.evaluate(
            accounts.current_scope(), period.year, period.quarter, today, branch_id=_branch()
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
            "periods": norm_basics.PERIODS,
            "source_label": norm_basics.source_label,
            "years": sorted(
                {period.year, *range(period.today.year - 4, period.today.year + 1)}, reverse=True
            ),
            "may_export": accounts.can(user, accounts.EXPORT, accounts.COMPLIANCE),
        }

    @expose("/")
    @has_access
    def index(self):
        period = _period()
        scope = accounts.current_scope()
        results = compliance.evaluate(
            scope, period.year, period.quarter, period.today, branch_id=_branch()
        )
        meetings = compliance.meetings_by_quarter(scope, period.year)
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
            branches=_branches(scope),
            branch_id=_branch(),
            **self._context(period),
        )

    @expose("/village/<int:village_id>")
    @has_access
    def village(self, village_id):
        period = _period()
        # The whole scope, so that the village's rank is its rank among the township's.
        results = compliance.evaluate(
            accounts.current_scope(), period.year, period.quarter, period.today
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


def register(appbuilder):
    """The dashboard as a top-level menu entry, and its API."""
    appbuilder.add_view(
        DashboardView,
        accounts.COMPLIANCE,
        label=_l("Compliance dashboard"),
        icon="fa-chart-column",
    )
    appbuilder.add_api(ComplianceApi)
