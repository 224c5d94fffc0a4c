"""Who may do what, and where: the FAB security manager, the one scope filter, the web hooks.

The accounts, their scope and the role table live below the audit log, in app/accounts.py.
Roles are data (``accounts.ROLE_RIGHTS``), served to FAB as built-in roles (``FAB_ROLES``).
Scope is one mechanism: ``scope_criteria`` turns a model's ``__scope__`` declaration and the
user's scope into a SQL condition, used by every list, lookup by id, dropdown, search form and
export; writes go through ``scope_errors``. Fail closed: an account without a scope sees nothing.
"""

import time

import flask_login
from flask import current_app, flash, g, has_request_context, jsonify, redirect, request, url_for
from flask import session as web_session
from flask_appbuilder.actions import action
from flask_appbuilder.api import expose, safe
from flask_appbuilder.baseviews import expose as expose_view
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.api import SecurityApi as FabSecurityApi
from flask_appbuilder.security.decorators import has_access, no_cache
from flask_appbuilder.security.forms import LoginForm_db, UserInfoEdit
from flask_appbuilder.security.sqla.manager import SecurityManager as FabSecurityManager
from flask_appbuilder.security.views import (
    AuthDBView,
    RoleModelView,
    UserDBModelView,
    UserGroupModelView,
    UserStatsChartView,
)
from flask_appbuilder.security.views import UserInfoEditView as FabUserInfoEditView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_login import user_logged_in, user_logged_out
from sqlalchemy import and_, false, inspect, select, true
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.util import identity_key
from wtforms import StringField
from wtforms.validators import DataRequired

from app import (
    accounts,
    audit,
    fab_hooks,
    integrity,
    ratelimit,  # noqa: F401 (registers the sqlite:// limiter storage)
    twofactor,
)
from app.models import BUSINESS_MODELS, MemberGroup, Township, Village

# --- The role table, as FAB reads it (the table itself: accounts.ROLE_RIGHTS) ---

MENU_CATEGORIES = ("Organisation", "Registers", "Records", "Assistance", "Archive", "Audit")

# Pages every signed-in user needs for themselves, and the OpenAPI document (SPEC §6).
SELF_SERVICE = [
    ["^UserInfoEditView$", "^can_this_form_(get|post)$"],
    ["^ResetMyPasswordView$", "^can_this_form_(get|post)$"],
    ["^(UserDBModelView|ScopedUserView)$", "^can_userinfo$"],
    ["^OpenApi$", "^can_get$"],
    ["^SwaggerView$", "^can_show$"],
    ["^({})$".format("|".join(MENU_CATEGORIES)), "^menu_access$"],
]


def fab_roles() -> dict:
    """ROLE_RIGHTS in FAB's built-in role format: role → [[view regex, permission regex]]."""
    roles = {}
    for role, rights in accounts.ROLE_RIGHTS.items():
        if rights == "*":
            roles[role] = [[".*", ".*"]]
            continue
        perms = [list(p) for p in SELF_SERVICE]
        for resource, actions in rights.items():
            perms.append([f"^{resource}$", "^can_({})$".format("|".join(actions))])
            perms.append([f"^{resource}$", "^menu_access$"])
        roles[role] = perms
    return roles


def _column(model, level):
    name = getattr(model, "__scope__", {}).get(level)
    return getattr(model, name) if name else None


def _scope_binding(model, scope: accounts.Scope):
    """(attribute name, value) of the one column ``scope`` compares for ``model`` — the
    group's, else the village's, else the township's, else the county's, as deep as both go —
    or None when the scope is 'all' or 'none', the model unscoped, or the scope wider than
    what the model knows (a county over a township's or a village's records, a township over
    a village's: a subquery then)."""
    names = getattr(model, "__scope__", None)
    if not names or scope.level not in ("county", "township", "village", "group"):
        return None
    if scope.level == "county":
        return (names["county"], scope.county_id) if names.get("county") else None
    if scope.level == "group" and names.get("group"):
        return names["group"], scope.group_id
    if scope.level in ("group", "village") and names.get("village"):
        return names["village"], scope.village_id
    if names.get("township"):
        return names["township"], scope.township_id
    return None


def pinned_pk(model, scope: accounts.Scope):
    """The one primary key ``scope`` allows of ``model`` when the column it compares is the
    model's own id (a village's user and Village, a group leader and MemberGroup…), else None:
    the rows ``scope_criteria`` keeps are then that one row, read without a query."""
    binding = _scope_binding(model, scope)
    if binding is None or binding[1] is None:
        return None
    mapper = inspect(model)
    if len(mapper.primary_key) != 1:
        return None
    return (
        binding[1]
        if binding[0] == mapper.get_property_by_column(mapper.primary_key[0]).key
        else None
    )


def scope_criteria(model, scope: accounts.Scope):
    """The SQL condition that keeps ``model`` rows inside ``scope``."""
    if scope.level == "all":
        return true()
    binding = _scope_binding(model, scope)
    if binding is not None:
        criteria = getattr(model, binding[0]) == binding[1]
        village_col = _column(model, "village")
        if scope.level == "group" and village_col is not None and village_col.key != binding[0]:
            # The group's village too: a group id alone could name another village's rows (a
            # row written past the checks, an id freed and given again before issue 15).
            criteria = and_(criteria, village_col == scope.village_id)
        return criteria
    township_col, village_col = _column(model, "township"), _column(model, "village")
    if scope.level == "county":
        if township_col is not None:
            townships = select(Township.id).where(Township.county_id == scope.county_id)
            return township_col.in_(townships)
        if village_col is not None:
            return village_col.in_(
                select(Village.id)
                .join(Township, Village.township_id == Township.id)
                .where(Township.county_id == scope.county_id)
            )
        return false()
    if scope.level == "township" and village_col is not None:
        return village_col.in_(select(Village.id).where(Village.township_id == scope.township_id))
    county_col = _column(model, "county")
    if scope.level in ("township", "village", "group") and county_col is not None:
        # A record kept by the county alone (the County register): the county of the
        # scope's township.
        return county_col.in_(select(Township.county_id).where(Township.id == scope.township_id))
    return false()


class ScopeFilter(BaseFilter):
    """The one row filter of every view, API and dropdown: the current user's scope."""

    name = "scope"

    def apply(self, query, value):
        return query.filter(scope_criteria(self.model, accounts.current_scope()))


SCOPE_FILTER = [["id", ScopeFilter, None]]


# --- Writes ---


def fk_targets(model) -> dict:
    """Foreign-key column name → business model it points to."""
    targets = {}
    by_table = {m.__tablename__: m for m in BUSINESS_MODELS}
    for column in inspect(model).columns:
        for fk in column.foreign_keys:
            target = by_table.get(fk.column.table.name)
            if target is not None:
                targets[column.key] = target
    return targets


def _village_of(target, pk, session):
    """The village a referenced record belongs to (None for a township-level record: a
    township, a branch, a task)."""
    if target is Village:
        return pk
    if "village_id" not in inspect(target).columns:
        return None
    return session.execute(select(target.village_id).where(target.id == pk)).scalar()


def fill_scope(model, values: dict, scope: accounts.Scope, session) -> None:
    """Fill village_id / group_id the writer left out: from a referenced record, or the scope."""
    if "village" not in getattr(model, "__scope__", {}) or model is Village:
        return
    if "group" in model.__scope__ and model is not MemberGroup and values.get("group_id") is None:
        if scope.level == "group":
            values["group_id"] = scope.group_id
    if values.get("village_id") is None:
        for column, target in fk_targets(model).items():
            if column != "village_id" and values.get(column) and target is not Township:
                values["village_id"] = _village_of(target, values[column], session)
                if values["village_id"]:
                    break
        else:
            if scope.level in ("village", "group"):
                values["village_id"] = scope.village_id


def scope_errors(model, values: dict, scope: accounts.Scope, session) -> dict:
    """Field → message for every reference outside the scope or outside the record's village.

    A reference outside the scope reads as "does not exist" so that it confirms nothing.
    """
    errors = {}
    village_id = values.get("village_id") if model is not Village else values.get("id")
    for column, target in fk_targets(model).items():
        pk = values.get(column)
        if pk is None:
            continue
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            errors[column] = _l("Not a valid record number")
            continue
        visible = session.execute(
            select(target.id).where(target.id == pk, scope_criteria(target, scope))
        ).first()
        if visible is None:
            errors[column] = _l("No such record in your scope")
        elif column != "village_id" and village_id and target not in (Township, Village):
            if _village_of(target, pk, session) not in (None, village_id):
                errors[column] = _l("This record belongs to another village")
    if not errors and scope.level not in ("all", "none"):
        # The record itself must land inside the scope (a group leader's rows in its group).
        if scope.level == "group" and "group" in getattr(model, "__scope__", {}):
            own = values.get(model.__scope__["group"])
            if own != scope.group_id:
                errors["group_id"] = _l("You may only write records of your own member group")
        elif scope.level in ("village", "group") and "village" in getattr(model, "__scope__", {}):
            own = values.get(model.__scope__["village"])
            if own != scope.village_id:
                errors["village_id"] = _l("You may only write records of your own village")
        elif "village" not in getattr(model, "__scope__", {}):
            errors["id"] = _l("You may not write this record")
    if scope.level == "none":
        errors["id"] = _l("Your account has no scope: ask the administrator")
    return errors


# --- FAB wiring ---


def _yes_no(value):
    return "" if value is None else gettext("Yes") if value else gettext("No")


def _blank_or_str(value):
    return "" if value is None else str(value)


def _minutes(value):
    """A time of FAB's (the server's clock, Beijing) to the minute, not the microsecond."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _role_choice(role):
    return accounts.role_label(role.name)


ACCOUNT_INFO = (_l("User info"), {"fields": ["username", "active", "roles", "login_count"]})
PERSONAL_INFO = (_l("Personal Info"), {"fields": ["first_name", "email"], "expanded": True})


class ScopedUserView(UserDBModelView):
    """Accounts, with the scope each is bound to: one real name (姓名; FAB's last name is not
    used), an optional e-mail, the role by its name, the scope by ``accounts.bind`` — the rule
    of ``flask users create`` too."""

    _scope = ["county", "township", "village", "group"]
    add_columns = ["first_name", "username", "active", "email", "roles", *_scope]
    add_columns += ["password", "conf_password"]
    edit_columns = ["first_name", "username", "active", "email", "roles", *_scope]
    show_fieldsets = [
        ACCOUNT_INFO,
        PERSONAL_INFO,
        (_l("Scope"), {"fields": ["bound_scope"], "expanded": True}),
        UserDBModelView.show_fieldsets[2],
    ]
    user_show_fieldsets = [ACCOUNT_INFO, PERSONAL_INFO]
    list_columns = ["username", "first_name", "roles", "bound_scope", "active"]
    search_columns = ["first_name", "username", "email", "active", "roles", *_scope]
    search_columns += ["last_login"]
    label_columns = {
        **UserDBModelView.label_columns,
        "first_name": _l("Full name"),
        "county": _l("County"),
        "township": _l("Township"),
        "village": _l("Village"),
        "group": _l("Member group"),
        "bound_scope": _l("Scope"),
    }
    description_columns = {
        **UserDBModelView.description_columns,
        "first_name": _l("The person's real name"),
        "email": _l("Optional"),
        "county": _l("County role only"),
        "township": _l("Township role only"),
        "village": _l("President or secretary; for a group leader, the group's village or blank"),
        "group": _l("Group leader only: the member group"),
    }
    # A role is required (FAB's own check reads a "groups" field, which the form leaves out:
    # FAB's user groups are not the office's member groups); so is a real name, and spaces
    # alone are none (FAB's InputRequired takes them).
    validators_columns = {"roles": [DataRequired()], "first_name": [DataRequired()]}
    formatters_columns = {
        "active": _yes_no,
        "roles": lambda roles: "、".join(accounts.role_label(r.name) for r in roles or []),
        "email": _blank_or_str,
        "created_by": _blank_or_str,
        "changed_by": _blank_or_str,
        "login_count": lambda value: value or 0,
        "fail_login_count": lambda value: value or 0,
        "last_login": _minutes,
        "created_on": _minutes,
        "changed_on": _minutes,
    }

    # The user's own "sign out everywhere" needs what the user's own information page needs.
    method_permission_name = {"signout_everywhere": "userinfo"}

    @property
    def show_template(self):
        """FAB's page of one's own account gets the "sign out everywhere" button (a POST)."""
        own = has_request_context() and request.endpoint == "ScopedUserView.userinfo"
        return "userinfo.html" if own else UserDBModelView.show_template

    @expose_view("/signout-everywhere", methods=["POST"])
    @has_access
    def signout_everywhere(self):
        """End every session and token of one's own account, this one included."""
        accounts.end_sessions(g.user)
        # Audited, and the new epoch committed with it, by the sign-out itself.
        g.logout_reason = "signout_everywhere"
        flask_login.logout_user()
        _clear_session()
        flash(str(SIGNED_OUT_EVERYWHERE), "info")
        return redirect(self.appbuilder.get_url_for_login)

    @action(
        "signout_everywhere",
        _l("Sign out everywhere"),
        _l("End every session and token of the selected accounts?"),
        "fa-sign-out",
    )
    def signout_accounts(self, items):
        items = items if isinstance(items, list) else [items]
        session = self.datamodel.session
        for user in items:
            accounts.end_sessions(user)
            audit.record(
                "signout_everywhere",
                model="ScopedUser",
                record_id=user.id,
                village_id=user.village_id or (user.group.village_id if user.group else None),
                group_id=user.group_id,
                township_id=user.township_id,
                details={"username": user.username},
                commit=False,
            )
        session.commit()
        flash(str(_l("Signed out everywhere: %(n)d account(s)", n=len(items))), "info")
        return redirect(self.get_redirect())

    @action(
        "reset_twofactor",
        _l("Reset two-factor login"),
        _l("Remove the authenticator and recovery codes of the selected accounts?"),
        "fa-mobile",
    )
    def reset_twofactor(self, items):
        items = items if isinstance(items, list) else [items]
        done = sum(twofactor.reset(user) for user in items)
        flash(str(_l("Two-factor login reset for %(n)d account(s)", n=done)), "info")
        return redirect(self.get_redirect())

    def pre_delete(self, item):
        """An account that approved members (or made other accounts) stays; deactivate it."""
        refused = integrity.refusal(self.datamodel.session, item)
        if refused:
            raise integrity.StillReferenced(refused)

    def pre_add(self, item):
        super().pre_add(item)
        # The administrator chose this password: a temporary one.
        item.password_change_required = True
        # One real name (first_name); FAB's last name stays empty, not NULL.
        item.last_name = item.last_name or ""

    def _init_forms(self):
        super()._init_forms()
        for form in (self.add_form, self.edit_form, self.search_form):
            fab_hooks.blank_reads_as_dash(form)
            # Choices by what the office calls them: 会员小组长, 新檀村 第一组.
            fab_hooks.field_options(form, "roles", get_label=_role_choice)
            fab_hooks.field_options(form, "group", get_label=accounts.group_label)
            for name in ("first_name", "username", "email"):
                fab_hooks.field_options(form, name, filters=[_stripped])
        self.add_form = self._bound(self.add_form)
        self.edit_form = self._bound(self.edit_form)

    @staticmethod
    def _bound(form_class):
        """The form, refusing a scope that does not match the roles (and keeping the input),
        and keeping of a valid one what ``accounts.bind`` stores (a group leader's group, not
        the village given with it). An empty e-mail is no address (NULL), not ""."""

        class BoundForm(form_class):
            def validate(self, extra_validators=None):
                if not super().validate(extra_validators):
                    return False
                data = self.data
                *bound, problem = accounts.bind(
                    [role.name for role in data.get("roles") or []],
                    data.get("county"),
                    data.get("township"),
                    data.get("village"),
                    data.get("group"),
                )
                if problem:
                    self.roles.errors = list(self.roles.errors) + [str(problem)]
                    return False
                for name, value in zip(accounts.SCOPE_LEVELS, bound, strict=True):
                    self[name].data = value
                if not (self.email.data or "").strip():
                    self.email.data = None
                return True

        BoundForm.__name__ = form_class.__name__
        return BoundForm


class RealNameEdit(UserInfoEdit):
    """One's own information: the one real name (姓名), not FAB's first and last name."""

    first_name = StringField(
        _l("Full name"),
        validators=[DataRequired()],
        filters=[_stripped],
        widget=BS3TextFieldWidget(),
        description=_l("The person's real name"),
    )
    last_name = None


class UserInfoEditView(FabUserInfoEditView):
    """FAB's page of one's own information (its name kept: the rights name it), one name."""

    form = RealNameEdit


def _audit_throttled(_limit):
    """A sign-in refused by the rate limit is audited with the username it tried."""
    data = request.get_json(silent=True) or request.form
    audit.record("login_throttled", username=str(data.get("username") or "")[:128])


def _audit_logout(_app, user):
    if user is not None and getattr(user, "is_authenticated", False):
        # An idle session ended by the server reads as such, not as a sign-out.
        audit.record(g.pop("logout_reason", "logout"), user=user)


class TwoFactorAuthDBView(AuthDBView):
    """FAB's login form; the second factor (app/twofactor.py) comes between password and session."""

    @expose_view("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if not user:
                flash(str(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            return twofactor.start(user, next_url)
        return self.render_template(
            self.login_template, title=self.title, form=form, appbuilder=self.appbuilder
        )


class SecurityApi(FabSecurityApi):
    """The JWT login: the second factor in a ``totp`` field, no token for a temporary password."""

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        payload = request.get_json(silent=True)
        # FAB's schema refuses unknown fields: the code is taken out before it reads the body.
        code = payload.pop("totp", None) if isinstance(payload, dict) else None
        # The code is checked right after the password (auth_user_db), before FAB makes a token:
        # the tokens then carry the claim that it passed (twofactor.claims).
        g.api_login = {"totp": code}
        response = super().login()
        g.pop("api_login", None)
        user = g.pop("password_user", None)
        refused = g.pop("api_refused", None)
        if refused is not None:
            status, message, extra = refused
            return self.response(status, message=str(message), **extra)
        if response.status_code != 200 or user is None:
            return response
        if user.password_change_required:
            return self.response(403, message=str(API_PASSWORD_CHANGE_MESSAGE))
        return response


def role_labels(roles) -> str:
    return "、".join(accounts.role_label(role.name) for role in roles or [])


class LabelledRoleView(RoleModelView):
    """FAB's roles screen, read-only: the roles and their rights are the code's (FAB_ROLES from
    ``accounts.ROLE_RIGHTS``, SPEC §1), so the screen names each role in the user's language and
    lists no permission rows to edit (they would change nothing)."""

    # A list only: FAB's detail page prints the stored name as it is.
    base_permissions = ["can_list"]
    include_route_methods = {"list"}
    # FAB's own list widget (its roles widget prints names and permission rows as they are).
    list_widget = ListWidget
    list_columns = ["name"]
    search_columns = ["name"]
    label_columns = {"name": _l("Role")}
    formatters_columns = {"name": accounts.role_label}
    related_views = []


class LabelledGroupView(UserGroupModelView):
    """FAB's groups screen, read-only and named in the user's language: the app gives rights
    by role and scope only (an account's form has no groups), so no group is made here."""

    base_permissions = ["can_list", "can_show"]
    formatters_columns = {"roles": role_labels}
    label_columns = {
        "name": _l("Name"),
        "label": _l("Display name"),
        "description": _l("Group description"),
        "users": _l("Users"),
        "roles": _l("Roles"),
    }


class LabelledUserStatsChartView(UserStatsChartView):
    """FAB's sign-in statistics, its two charts named in the user's language."""

    definitions = [
        {"label": _l("Login count"), "group": "username", "series": ["login_count"]},
        {"label": _l("Failed login count"), "group": "username", "series": ["fail_login_count"]},
    ]


class SecurityManager(fab_hooks.SecurityManagerHooks, FabSecurityManager):
    """FAB's security manager with scoped users, audited sign-ins and a throttled JWT login
    (its rights checks kept per role set: app/fab_hooks.py)."""

    user_model = accounts.ScopedUser
    userdbmodelview = ScopedUserView
    userinfoeditview = UserInfoEditView
    authdbview = TwoFactorAuthDBView
    groupmodelview = LabelledGroupView
    rolemodelview = LabelledRoleView
    userstatschartview = LabelledUserStatsChartView
    security_api = SecurityApi

    def auth_user_db(self, username, password):
        """Every sign-in attempt is audited, unknown usernames included (FAB's hook misses them)."""
        user = super().auth_user_db(username, password)
        g.password_user = user
        if user is None:
            audit.record("login_failed", username=(username or "")[:128])
            return None
        g.session_epoch_claim = user.session_epoch  # the tokens about to be made carry it
        if not twofactor.needed(user):
            audit.record("login", user=user)
        else:
            # Signed in (audited as login, counted by FAB) only once the second factor passes.
            audit.record("login_password", user=user)
        api = g.pop("api_login", None)
        if api is not None:
            refused = twofactor.api_check(user, api["totp"])
            if refused is not None:
                g.api_refused = refused
                return None  # FAB makes no token
        return user

    def get_user_by_id(self, pk):
        """The account of a session or token, as one statement with what every request reads
        of it: roles, groups, scope (township, village, group) and 2FA enrolment. FAB's
        ``session.get`` reads them lazily, one statement each: five round trips a request,
        which a PostgreSQL server answers in some 0.5 ms each (issue 7 item 8). An account
        already in the session is returned as it is, as ``session.get`` does."""
        model = self.user_model
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None
        if not -(2**63) <= pk < 2**63:
            return None
        known = self.session.identity_map.get(identity_key(model, pk))
        if known is not None and not inspect(known).expired:
            return known
        statement = (
            select(model)
            .where(model.id == pk)
            .options(
                joinedload(model.roles),
                joinedload(model.groups),
                joinedload(model.township),
                joinedload(model.village),
                joinedload(model.group),
                joinedload(model.twofactor_enrolment),
            )
        )
        user = self.session.execute(statement).unique().scalar_one_or_none()
        if user is not None and has_request_context():
            # The session's identity map holds its objects weakly: kept for the request, the
            # account is found there by the next lookup (the 2FA check, then Flask-Login or
            # the JWT loader, then the password-change check) instead of read again.
            request._get_current_object().__dict__.setdefault("jsx_users", []).append(user)
        return user

    def get_public_permissions(self):
        """None. FAB reads the Public role from the database on every API request to see
        whether the endpoint is public; nothing in this app is (every page and endpoint is
        scoped to a signed-in account), so a Public role added on the roles screen grants
        nothing either."""
        return []

    def update_user_auth_stat(self, user, success=True):
        """FAB's login statistics count a sign-in once its second factor has passed."""
        if success and not g.get("twofactor_done") and twofactor.needed(user):
            return
        super().update_user_auth_stat(user, success)

    def create_jwt_manager(self, app):
        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.additional_claims_loader(_token_claims)
        # Flask-JWT-Extended asks this of every token it verifies, the refresh token included.
        jwt_manager.token_in_blocklist_loader(_token_ended)
        jwt_manager.revoked_token_loader(_token_ended_answer)
        return jwt_manager

    def on_user_logout(self, user):
        """Signing out (FAB's logout page) ends every session and token of the account."""
        super().on_user_logout(user)
        accounts.end_sessions(user)
        self.session.commit()

    def reset_password(self, userid, password):
        """A password set by someone else is temporary; one's own clears the requirement."""
        user = self.get_user_by_id(userid)
        me = accounts.current_user()
        own = me is not None and str(getattr(me, "id", "")) == str(userid)
        if user is not None:
            user.password_change_required = not own
        super().reset_password(userid, password)
        if own and user is not None and has_request_context():
            # The new password ended every other session and token; this one goes on.
            web_session[SESSION_EPOCH_KEY] = user.session_epoch

    # A sign-in refused by the rate limit (fab_hooks.SecurityManagerHooks.create_limiter).
    auth_throttled = staticmethod(_audit_throttled)

    def register_views(self):
        super().register_views()
        twofactor_view = self.appbuilder.add_view_no_menu(twofactor.TwoFactorView())
        if self.is_auth_limited:
            # FAB throttles only the HTML login form; the JWT login and the second factor are
            # just as guessable.
            self.limiter.limit(self.auth_rate_limit, methods=["POST"])(twofactor_view.blueprint)
            for view in self.appbuilder.baseviews:
                if isinstance(view, self.security_api):
                    self.limiter.limit(self.auth_rate_limit, methods=["POST"])(view.blueprint)


user_logged_out.connect(_audit_logout)


# --- A session ends when its user says so (SPEC §4; issue 15) ---

SESSION_EPOCH_KEY = "session_epoch"
EPOCH_CLAIM = "epoch"
SESSION_ENDED = _l(
    "You were signed out: you signed out elsewhere, or your password, role or scope changed. "
    "Please sign in again"
)
SIGNED_OUT_EVERYWHERE = _l("You are signed out everywhere: every session and token has ended")


def _stamp_session(_app, user):
    """A new session records the account's epoch (every login_user, the second factor's too)."""
    web_session[SESSION_EPOCH_KEY] = user.session_epoch


user_logged_in.connect(_stamp_session)


def _clear_session():
    """Forget the browser's session, keeping its language for the login page."""
    locale = web_session.get("locale")
    web_session.clear()
    if locale:
        web_session["locale"] = locale


def end_superseded_session():
    """Before every request: a session cookie from before the account's last sign-out,
    password, role or scope change is signed out, and the login page says why."""
    if "_user_id" not in web_session or request.endpoint in ("static", "appbuilder.static"):
        return None
    user = flask_login.current_user
    if not getattr(user, "is_authenticated", False):
        return None
    if web_session.get(SESSION_EPOCH_KEY, 0) == user.session_epoch:
        return None
    g.logout_reason = "session_ended"
    flask_login.logout_user()
    _clear_session()
    g.user = flask_login.current_user._get_current_object()
    if request.path.startswith("/api/"):
        return jsonify(message=str(SESSION_ENDED)), 401
    flash(str(SESSION_ENDED), "warning")
    return redirect(current_app.appbuilder.get_url_for_login)


def _token_claims(identity) -> dict:
    """The claims of a new JWT: the second factor it passed and the account's epoch, as the
    login (auth_user_db) or the refresh token (_token_ended) that led to it recorded them."""
    claims = twofactor.claims(identity)
    epoch = g.get("session_epoch_claim")
    if epoch is not None:
        claims[EPOCH_CLAIM] = epoch
    return claims


def _token_ended(_header, data) -> bool:
    """Whether a JWT was issued before the account's epoch moved (a token without the claim
    dates from before epochs and counts as 0). The account is the request's, read once."""
    user = current_app.appbuilder.sm.get_user_by_id(data.get("sub"))
    if user is None:
        return False  # FAB's user lookup refuses it
    epoch = data.get(EPOCH_CLAIM, 0)
    if epoch != user.session_epoch:
        return True
    g.session_epoch_claim = epoch  # a token refreshed from this one keeps it
    return False


def _token_ended_answer(_header, _data):
    return jsonify(message=str(SESSION_ENDED)), 401


# --- Response headers and the idle session (issue 7, item 6) ---

# No external origin anywhere. FAB's templates (and ours: the dashboard's ECharts options, the
# roster page) carry inline scripts and style attributes, hence 'unsafe-inline' for those two;
# nothing calls eval. frame-ancestors is X-Frame-Options' modern twin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SESSION_SEEN_KEY = "_seen"
# The last-seen time is written back at most this often (seconds): not a new cookie per request.
SESSION_SEEN_RESOLUTION = 15


def security_headers(response):
    """The headers of every response; a stricter policy a view set itself (downloads) stays."""
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        current_app.config.get("CONTENT_SECURITY_POLICY", CONTENT_SECURITY_POLICY),
    )
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    return response


def expire_idle_session():
    """Sign out a browser session idle longer than SESSION_IDLE_TIMEOUT, on the server side.

    The last-seen time lives in the signed session cookie: the client cannot move it, and a
    cookie copied away stops working once it is older than the timeout.
    """
    if "_user_id" not in web_session:
        return None
    now = int(time.time())
    seen = web_session.get(SESSION_SEEN_KEY)
    timeout = current_app.config["SESSION_IDLE_TIMEOUT"]
    if seen is not None and now - seen > timeout.total_seconds():
        g.logout_reason = "session_expired"
        flask_login.logout_user()
        _clear_session()
        g.user = flask_login.current_user._get_current_object()
        if request.path.startswith("/api/") or request.endpoint == "static":
            return None
        flash(
            gettext(
                "Your session expired after %(minutes)d minutes without activity: "
                "please sign in again",
                minutes=int(timeout.total_seconds() // 60),
            ),
            "warning",
        )
        appbuilder = current_app.appbuilder
        return redirect(appbuilder.get_url_for_login_with(request.full_path.rstrip("?")))
    if seen is None or now - seen >= SESSION_SEEN_RESOLUTION:
        web_session[SESSION_SEEN_KEY] = now
    return None


PASSWORD_CHANGE_MESSAGE = _l(
    "Your password was set by the administrator: choose your own password before you go on"
)
API_PASSWORD_CHANGE_MESSAGE = _l(
    "This account still has the temporary password the administrator set: change it on the web "
    "page first"
)


def _api_user():
    """The account a JWT names, or None (FAB itself answers a missing or bad token)."""
    try:
        verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
    except Exception:  # noqa: BLE001 — a bad token is FAB's to refuse, with its own answer
        return None
    return (
        current_app.appbuilder.session.get(accounts.ScopedUser, int(identity)) if identity else None
    )


def require_password_change():
    """Nothing but choosing a new password (or signing out) until a temporary one is replaced."""
    if request.endpoint in ("static", "appbuilder.static") or request.blueprint in (
        "ResetMyPasswordView",
        "LocaleView",
        current_app.appbuilder.sm.auth_view.blueprint.name,
    ):
        return None
    api = request.path.startswith("/api/")
    # The API takes a JWT or, from the browser, the session cookie.
    user = (_api_user() if api else None) or accounts.current_user()
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not getattr(user, "password_change_required", False):
        return None
    if api:
        return jsonify(message=str(API_PASSWORD_CHANGE_MESSAGE)), 403
    flash(str(PASSWORD_CHANGE_MESSAGE), "warning")
    return redirect(url_for("ResetMyPasswordView.this_form_get"))


def install_web_security(app) -> None:
    """Hook the headers and the idle check into ``app`` (after AppBuilder, which sets g.user)."""
    app.before_request(expire_idle_session)
    app.before_request(end_superseded_session)
    app.before_request(twofactor.check_request)
    app.before_request(require_password_change)
    app.after_request(security_headers)
