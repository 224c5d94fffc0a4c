"""Issue 15, class 4: a session ends when its user says so — logout, a password change or reset,
a change of role or scope and deactivation end every session cookie and JWT of the account
(SPEC §4); "sign out everywhere" for the user and the Admin; the refresh token's lifetime."""

import datetime as dt
import runpy
from pathlib import Path

import pytest
from flask_jwt_extended import decode_token
from sqlalchemy import select

from app.accounts import ScopedUser
from app.models import AuditLog, County, MemberGroup, Village
from tests.databases import TEST_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
NEW = "MyOwn#Pass2026"
ENDED_ZH = "您在别处退出了登录"


def _tokens(app, username="xintan_secretary", password=TEST_PASSWORD):
    response = app.test_client().post(
        "/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db", "refresh": True},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _signed_in(client):
    return client.get("/memberview/list/").status_code == 200


def _api_works(app, tokens):
    """(access token answers 200, refresh token issues a new one that answers 200)."""
    api = app.test_client()
    access = api.get("/api/v1/member/", headers=_bearer(tokens["access_token"])).status_code
    refresh = api.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"]))
    if refresh.status_code != 200:
        return access == 200, False
    new = _bearer(refresh.get_json()["access_token"])
    return access == 200, api.get("/api/v1/member/", headers=new).status_code == 200


def _pk(app, username):
    with app.app_context():
        return app.appbuilder.sm.find_user(username=username).id


def _actions(app, username):
    with app.app_context():
        return app.appbuilder.session.scalars(
            select(AuditLog.action).where(AuditLog.username == username).order_by(AuditLog.id)
        ).all()


def _ended(client):
    """The old cookie leads to the login page, which says why; then it is signed out for good."""
    page = client.get("/memberview/list/")
    assert page.status_code == 302 and "/login/" in page.headers["Location"]
    assert ENDED_ZH in client.get(page.headers["Location"]).get_data(as_text=True)
    assert not _signed_in(client)


def test_logout_ends_every_session_and_token(app, login_as):
    tokens = _tokens(app)
    other = login_as("xintan_secretary")
    leaving = login_as("xintan_secretary")
    assert _api_works(app, tokens) == (True, True)
    leaving.get("/logout/")
    _ended(other)
    assert _api_works(app, tokens) == (False, False)
    refused = app.test_client().get("/api/v1/member/", headers=_bearer(tokens["access_token"]))
    assert refused.status_code == 401 and ENDED_ZH in refused.get_json()["message"]
    assert "session_ended" in _actions(app, "xintan_secretary")
    # A new sign-in works again; other accounts were never touched.
    assert _signed_in(login_as("xintan_secretary"))
    assert _api_works(app, _tokens(app)) == (True, True)


def test_others_are_not_touched(app, login_as):
    president = login_as("xintan_president")
    login_as("xintan_secretary").get("/logout/")
    assert _signed_in(president)


def test_an_idle_session_ended_by_the_server_ends_no_other(app, login_as):
    import time

    from app.security import SESSION_SEEN_KEY

    kept = login_as("xintan_secretary")
    idle = login_as("xintan_secretary")
    with idle.session_transaction() as session:
        session[SESSION_SEEN_KEY] = int(time.time()) - 31 * 60
    idle.get("/memberview/list/")
    assert _signed_in(kept)


def test_own_password_change_keeps_this_session_and_ends_the_others(app, login_as):
    tokens = _tokens(app)
    other = login_as("xintan_secretary")
    this = login_as("xintan_secretary")
    done = this.post("/resetmypassword/form", data={"password": NEW, "conf_password": NEW})
    assert done.status_code == 302
    assert _signed_in(this)
    _ended(other)
    assert _api_works(app, tokens) == (False, False)


def test_an_administrators_reset_ends_them(app, login_as):
    tokens = _tokens(app)
    secretary = login_as("xintan_secretary")
    response = login_as("admin").post(
        f"/resetpassword/form?pk={_pk(app, 'xintan_secretary')}",
        data={"password": NEW, "conf_password": NEW},
    )
    assert response.status_code == 302
    _ended(secretary)
    assert _api_works(app, tokens) == (False, False)


def _county(session, name):
    """The id of the county ``name``, made if it is not there yet (a second county)."""
    county = session.query(County).filter_by(name=name).one_or_none()
    if county is None:
        county = County(name=name)
        session.add(county)
        session.commit()
    return county.id


def _account_form(app, username, **changes):
    """The administrator's edit form of ``username`` as it stands, with ``changes``."""
    with app.app_context():
        session = app.appbuilder.session
        user = app.appbuilder.sm.find_user(username=username)
        data = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "username": user.username,
            "email": user.email,
            "roles": [role.id for role in user.roles],
            "village": user.village_id or "",
            "group": user.group_id or "",
            "township": user.township_id or "",
            "county": user.county_id or "",
        }
        if user.active:
            data["active"] = "y"
        names = {
            "village": lambda name: session.query(Village).filter_by(name=name).one().id,
            "roles": lambda name: [app.appbuilder.sm.find_role(name).id],
            "county": lambda name: _county(session, name),
            "group": lambda name: (
                session.query(MemberGroup)
                .filter_by(village_id=user.group.village_id, name=name)
                .one()
                .id
            ),
        }
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = names[key](value) if key in names else value
    return data


@pytest.mark.parametrize(
    "username,changes",
    [
        ("xintan_secretary", {"roles": "President"}),
        ("xintan_secretary", {"village": "龙王村"}),
        ("xintan_group1", {"group": "第二组"}),
        ("xintan_secretary", {"active": None}),
        ("county", {"county": "叙永县"}),
    ],
    ids=["role", "village", "group", "deactivated", "county"],
)
def test_a_change_of_role_or_scope_or_deactivation_ends_them(app, login_as, username, changes):
    tokens = _tokens(app, username)
    browser = login_as(username)
    admin = login_as("admin")
    response = admin.post(
        f"/users/edit/{_pk(app, username)}", data=_account_form(app, username, **changes)
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = browser.get("/memberview/list/")
    assert page.status_code == 302 and "/login/" in page.headers["Location"]
    assert not _signed_in(browser)
    assert _api_works(app, tokens) == (False, False)


def test_a_deactivated_account_brought_back_does_not_revive_its_old_sessions(app, login_as):
    tokens = _tokens(app)
    browser = login_as("xintan_secretary")
    admin = login_as("admin")
    url = f"/users/edit/{_pk(app, 'xintan_secretary')}"
    for active in (None, "y"):
        form = _account_form(app, "xintan_secretary", active=active)
        assert admin.post(url, data=form).status_code == 302
    assert not _signed_in(browser)
    assert _api_works(app, tokens) == (False, False)


def test_a_change_of_name_ends_nothing(app, login_as):
    tokens = _tokens(app)
    browser = login_as("xintan_secretary")
    response = login_as("admin").post(
        f"/users/edit/{_pk(app, 'xintan_secretary')}",
        data=_account_form(app, "xintan_secretary", first_name="新名字"),
    )
    assert response.status_code == 302
    assert _signed_in(browser)
    assert _api_works(app, tokens) == (True, True)


def test_the_message_in_english(app, login_as):
    other = login_as("xintan_secretary")
    other.get("/lang/en")
    login_as("xintan_secretary").get("/logout/")
    text = other.get("/memberview/list/", follow_redirects=True).get_data(as_text=True)
    assert "You were signed out" in text


def test_the_api_with_an_old_session_cookie_answers_401(app, login_as):
    other = login_as("xintan_secretary")
    login_as("xintan_secretary").get("/logout/")
    assert other.get("/api/v1/member/").status_code == 401


# --- Sign out everywhere ---


def test_the_user_signs_out_everywhere(app, login_as):
    tokens = _tokens(app)
    other = login_as("xintan_secretary")
    this = login_as("xintan_secretary")
    page = this.get("/users/userinfo/").get_data(as_text=True)
    assert "/users/signout-everywhere" in page and "退出所有登录" in page
    # A POST only: a link cannot sign anyone out.
    assert this.get("/users/signout-everywhere").status_code == 405
    response = this.post("/users/signout-everywhere")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    assert not _signed_in(this)
    _ended(other)
    assert _api_works(app, tokens) == (False, False)
    assert "signout_everywhere" in _actions(app, "xintan_secretary")


def test_signing_out_everywhere_needs_the_csrf_token(app, login_as):
    this = login_as("xintan_secretary")
    app.config["WTF_CSRF_ENABLED"] = True
    assert this.post("/users/signout-everywhere").status_code == 400
    assert _signed_in(this)


def test_the_admin_signs_an_account_out_everywhere(app, login_as):
    tokens = _tokens(app)
    browser = login_as("xintan_secretary")
    president = login_as("xintan_president")
    admin = login_as("admin")
    assert "signout_everywhere" in admin.get("/users/list/").get_data(as_text=True)
    response = admin.post(
        "/users/action_post",
        data={"action": "signout_everywhere", "rowid": [_pk(app, "xintan_secretary")]},
    )
    assert response.status_code == 302
    _ended(browser)
    assert _api_works(app, tokens) == (False, False)
    assert _signed_in(president) and _signed_in(admin)
    with app.app_context():
        entry = app.appbuilder.session.execute(
            select(AuditLog).where(AuditLog.action == "signout_everywhere")
        ).scalar_one()
        assert entry.username == "admin" and entry.model == "ScopedUser"
        assert entry.record_id == _pk(app, "xintan_secretary")
        assert (
            entry.village_id
            == app.appbuilder.session.query(Village).filter_by(name="新檀村").one().id
        )


def _epoch(app, username):
    with app.app_context():
        return app.appbuilder.session.scalar(
            select(ScopedUser.session_epoch).where(ScopedUser.username == username)
        )


def test_only_the_admin_signs_others_out(app, login_as):
    before = _epoch(app, "xintan_secretary")
    secretary = login_as("xintan_secretary")
    president = login_as("xintan_president")
    president.post(
        "/users/action_post",
        data={"action": "signout_everywhere", "rowid": [_pk(app, "xintan_secretary")]},
    )
    assert _signed_in(secretary)
    assert _epoch(app, "xintan_secretary") == before


# --- The refresh token's lifetime ---


def test_a_refresh_token_lasts_seven_days(app):
    tokens = _tokens(app)
    with app.app_context():
        data = decode_token(tokens["refresh_token"])
    assert dt.timedelta(seconds=data["exp"] - data["iat"]) == dt.timedelta(days=7)


@pytest.mark.parametrize("env,days", [(None, 7), ("1", 1), ("3", 3), ("30", 30)])
def test_the_refresh_lifetime_is_configurable(monkeypatch, env, days):
    if env is None:
        monkeypatch.delenv("JWT_REFRESH_DAYS", raising=False)
    else:
        monkeypatch.setenv("JWT_REFRESH_DAYS", env)
    config = runpy.run_path(str(ROOT / "config.py"))
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == dt.timedelta(days=days)


@pytest.mark.parametrize("env", ["0", "31", "-2", "seven", "2.5"])
def test_a_bad_refresh_lifetime_is_refused_at_start(monkeypatch, env):
    monkeypatch.setenv("JWT_REFRESH_DAYS", env)
    with pytest.raises(ValueError, match="JWT_REFRESH_DAYS"):
        runpy.run_path(str(ROOT / "config.py"))


def test_a_sign_in_waiting_for_its_second_factor_ends_too(app, client, login_as):
    app.config["TOTP_REQUIRED_ROLES"] = ["Township"]
    try:
        response = client.post("/login/", data={"username": "township", "password": TEST_PASSWORD})
        assert "/twofactor/enrol" in response.headers["Location"]
        assert client.get("/twofactor/enrol").status_code == 200
        login_as("admin").post(
            f"/resetpassword/form?pk={_pk(app, 'township')}",
            data={"password": NEW, "conf_password": NEW},
        )
        # The password it passed is no longer the account's: the sign-in starts again.
        page = client.get("/twofactor/enrol")
        assert page.status_code == 302 and "/login/" in page.headers["Location"]
    finally:
        app.config["TOTP_REQUIRED_ROLES"] = []
