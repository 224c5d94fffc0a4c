"""Issue 7, item 5: two-factor login (TOTP) for the roles TOTP_REQUIRED_ROLES names — enrolment
with a QR code drawn by the app, recovery codes, the second step on the HTML and JWT logins."""

import os
import re
import runpy
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from app import crypto, twofactor
from app.models import AuditLog
from tests.databases import TEST_PASSWORD

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_failure_counts(app):
    """Wrong codes are counted on the server for 15 minutes: each test starts from none."""
    yield
    with app.app_context():
        twofactor._failures().reset()


@pytest.fixture
def required(app):
    """Township accounts must use a second factor (as `make serve` sets it)."""
    app.config["TOTP_REQUIRED_ROLES"] = ["Admin", "Township"]
    yield
    app.config["TOTP_REQUIRED_ROLES"] = []


def _password(client, username="township", password=TEST_PASSWORD):
    return client.post("/login/", data={"username": username, "password": password})


def _signed_in(client):
    response = client.get("/memberview/list/")
    return response.status_code == 200


def _actions(app, username="township"):
    with app.app_context():
        return app.appbuilder.session.scalars(
            select(AuditLog.action).where(AuditLog.username == username).order_by(AuditLog.id)
        ).all()


def _enrol(client):
    """Password, QR page, first code → (secret, recovery codes, the codes page)."""
    response = _password(client)
    assert response.status_code == 302 and "/twofactor/enrol" in response.headers["Location"]
    page = client.get("/twofactor/enrol").get_data(as_text=True)
    secret = re.search(r'id="twofactor-secret">([A-Z2-7]+)<', page).group(1)
    done = client.post("/twofactor/enrol", data={"code": pyotp.TOTP(secret).now()})
    text = done.get_data(as_text=True)
    codes = re.findall(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>", text)
    return secret, codes, text


def _code_at(secret, offset_steps):
    import time

    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def test_off_by_default_for_the_embedded_demo(app, client):
    assert app.config["TOTP_REQUIRED_ROLES"] == []
    response = _password(client)
    assert response.status_code == 302 and "twofactor" not in response.headers["Location"]
    assert _signed_in(client)


def test_enrolment_draws_a_qr_code_and_shows_recovery_codes_once(app, client, required):
    response = _password(client)
    assert "/twofactor/enrol" in response.headers["Location"]
    # Not signed in yet: the password alone opens nothing.
    assert not _signed_in(client)
    page = client.get("/twofactor/enrol")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in text and "http" not in text.split("<svg")[1][:300]
    wrong = client.post("/twofactor/enrol", data={"code": "000000"})
    assert wrong.status_code == 200 and 'id="twofactor-error"' in wrong.get_data(as_text=True)
    secret = re.search(r'id="twofactor-secret">([A-Z2-7]+)<', text).group(1)
    done = client.post("/twofactor/enrol", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>", done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert _signed_in(client)
    # Stored sealed and hashed: neither the secret nor a code is in the database as typed.
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="township")
        stored = twofactor.enrolment(user).secret
        hashes = app.appbuilder.session.scalars(
            select(twofactor.RecoveryCode.code_hash).where(
                twofactor.RecoveryCode.user_id == user.id
            )
        ).all()
        assert secret not in stored and crypto.unseal(stored) == secret
    assert len(hashes) == 10 and not {c.replace("-", "") for c in codes} & set(hashes)
    # The password alone is not a sign-in: "login" is written once the second factor passed.
    assert _actions(app)[-4:] == [
        "login_password",
        "twofactor_failed",
        "twofactor_enrolled",
        "login",
    ]


def test_the_second_step_after_the_password(app, client, required):
    secret, _codes, _page = _enrol(client)
    client.get("/logout/")
    other = app.test_client()
    response = _password(other)
    assert "/twofactor/verify" in response.headers["Location"]
    assert not _signed_in(other)
    wrong = other.post("/twofactor/verify", data={"code": "123456"})
    assert wrong.status_code == 200 and 'id="twofactor-error"' in wrong.get_data(as_text=True)
    good = other.post("/twofactor/verify", data={"code": _code_at(secret, 1)})
    assert good.status_code == 302
    assert _signed_in(other)
    assert _actions(app)[-4:] == ["login_password", "twofactor_failed", "twofactor_passed", "login"]


def test_a_code_of_other_digits_is_wrong_not_a_500(app, client, required):
    """ "²²²²²²" is six digits to str.isdigit; comparing it with hmac answered a 500."""
    _enrol(client)
    client.get("/logout/")
    other = app.test_client()
    _password(other)
    other.application.testing = False
    try:
        wrong = other.post("/twofactor/verify", data={"code": "²²²²²²"})
    finally:
        other.application.testing = True
    assert wrong.status_code == 200 and 'id="twofactor-error"' in wrong.get_data(as_text=True)
    assert not _signed_in(other)


def test_a_code_is_accepted_once(app, client, required):
    secret, _codes, _page = _enrol(client)
    code = _code_at(secret, 1)
    first, second = app.test_client(), app.test_client()
    _password(first), _password(second)
    assert first.post("/twofactor/verify", data={"code": code}).status_code == 302
    replay = second.post("/twofactor/verify", data={"code": code})
    assert replay.status_code == 200 and not _signed_in(second)


def test_a_recovery_code_signs_in_once(app, client, required):
    _secret_, codes, _page = _enrol(client)
    first, second = app.test_client(), app.test_client()
    _password(first)
    assert first.post("/twofactor/verify", data={"code": codes[0].upper()}).status_code == 302
    assert _signed_in(first)
    _password(second)
    assert second.post("/twofactor/verify", data={"code": codes[0]}).status_code == 200
    assert not _signed_in(second)
    assert "recovery_code_used" in _actions(app)


def test_five_wrong_codes_end_the_pending_login(app, client, required):
    secret, _codes, _page = _enrol(client)
    other = app.test_client()
    _password(other)
    for _ in range(4):
        assert other.post("/twofactor/verify", data={"code": "000000"}).status_code == 200
    last = other.post("/twofactor/verify", data={"code": "000000"})
    assert last.status_code == 302 and "/login/" in last.headers["Location"]
    # Even the right code now needs the password again.
    again = other.post("/twofactor/verify", data={"code": _code_at(secret, 1)})
    assert again.status_code == 302 and "/login/" in again.headers["Location"]
    assert not _signed_in(other)


def test_roles_not_required_sign_in_as_before(client, required):
    response = _password(client, "xintan_secretary")
    assert "twofactor" not in response.headers["Location"] and _signed_in(client)


def test_the_jwt_login_asks_for_the_code_too(app, client, required):
    payload = {"username": "township", "password": TEST_PASSWORD, "provider": "db"}
    api = app.test_client()
    not_enrolled = api.post("/api/v1/security/login", json=payload)
    assert not_enrolled.status_code == 403 and "access_token" not in not_enrolled.get_json()
    secret, codes, _page = _enrol(client)
    missing = api.post("/api/v1/security/login", json=payload)
    assert missing.status_code == 401 and missing.get_json()["twofactor_required"] is True
    assert "access_token" not in missing.get_json()
    wrong = api.post("/api/v1/security/login", json={**payload, "totp": "000000"})
    assert wrong.status_code == 401
    good = api.post("/api/v1/security/login", json={**payload, "totp": _code_at(secret, 1)})
    assert good.status_code == 200 and "access_token" in good.get_json()
    recovery = api.post("/api/v1/security/login", json={**payload, "totp": codes[1]})
    assert recovery.status_code == 200
    assert api.post("/api/v1/security/login", json={**payload, "totp": codes[1]}).status_code == 401
    actions = _actions(app)
    assert {"twofactor_failed", "twofactor_passed", "recovery_code_used"} <= set(actions)


def test_an_administrator_resets_it(app, client, login_as, required):
    _enrol(client)
    with app.app_context():
        pk = app.appbuilder.sm.find_user(username="township").id
    admin = app.test_client()
    # The administrator's own sign-in goes through the same second factor.
    response = _password(admin, "admin")
    assert "/twofactor/enrol" in response.headers["Location"]
    page = admin.get("/twofactor/enrol").get_data(as_text=True)
    secret = re.search(r'id="twofactor-secret">([A-Z2-7]+)<', page).group(1)
    admin.post("/twofactor/enrol", data={"code": pyotp.TOTP(secret).now()})
    done = admin.post("/users/action_post", data={"action": "reset_twofactor", "rowid": [pk]})
    assert done.status_code == 302
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="township")
        assert twofactor.enrolment(user) is None
        reset = app.appbuilder.session.scalars(
            select(AuditLog).where(AuditLog.action == "twofactor_reset")
        ).one()
        assert reset.username == "admin" and reset.record_id == pk
    # The next sign-in enrols again.
    fresh = app.test_client()
    assert "/twofactor/enrol" in _password(fresh).headers["Location"]


def test_throttled_like_the_password(_app, tmp_path):
    from app import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": _app.config["SQLALCHEMY_DATABASE_URI"],
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": f"sqlite:///{tmp_path}/rl.db",
            "AUTH_RATE_LIMIT": "3 per minute",
        }
    )
    client = app.test_client()
    codes = [client.post("/twofactor/verify", data={"code": "1"}).status_code for _ in range(5)]
    assert codes[-1] == 429


@pytest.mark.parametrize(
    "env,expected", [(None, "Admin,County,Township"), ("", ""), ("Admin", "Admin")]
)
def test_make_serve_requires_it_unless_told_otherwise(monkeypatch, env, expected):
    if env is None:
        monkeypatch.delenv("TOTP_REQUIRED_ROLES", raising=False)
    else:
        monkeypatch.setenv("TOTP_REQUIRED_ROLES", env)
    runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert os.environ["TOTP_REQUIRED_ROLES"] == expected


API_LOGIN = {"username": "township", "password": TEST_PASSWORD, "provider": "db"}


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_refresh_token_from_before_the_requirement_is_refused(app):
    api = app.test_client()
    tokens = api.post("/api/v1/security/login", json={**API_LOGIN, "refresh": True}).get_json()
    assert api.get("/api/v1/member/", headers=_bearer(tokens["access_token"])).status_code == 200
    app.config["TOTP_REQUIRED_ROLES"] = ["Township"]
    try:
        assert api.post("/api/v1/security/login", json=API_LOGIN).status_code == 403
        refreshed = api.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"]))
        assert refreshed.status_code == 401 and "access_token" not in refreshed.get_json()
        # A clear message, in Chinese first (the default language).
        assert "两步验证" in refreshed.get_json()["message"]
        assert refreshed.get_json()["twofactor_required"] is True
        old = api.get("/api/v1/member/", headers=_bearer(tokens["access_token"]))
        assert old.status_code == 401 and old.get_json()["twofactor_required"] is True
    finally:
        app.config["TOTP_REQUIRED_ROLES"] = []


def test_tokens_that_passed_the_code_work_until_a_reset(app, client, required):
    secret, _codes, _page = _enrol(client)
    api = app.test_client()
    tokens = api.post(
        "/api/v1/security/login", json={**API_LOGIN, "refresh": True, "totp": _code_at(secret, 1)}
    ).get_json()
    assert api.get("/api/v1/member/", headers=_bearer(tokens["access_token"])).status_code == 200
    refreshed = api.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200
    new = refreshed.get_json()["access_token"]
    assert api.get("/api/v1/member/", headers=_bearer(new)).status_code == 200
    assert _signed_in(client)
    with app.app_context():
        twofactor.reset(app.appbuilder.sm.find_user(username="township"))
    # After the reset: every token and the browser session stop working.
    for token in (tokens["access_token"], new):
        assert api.get("/api/v1/member/", headers=_bearer(token)).status_code == 401
    refused = api.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"]))
    assert refused.status_code == 401
    page = client.get("/memberview/list/")
    assert page.status_code == 302 and "/login/" in page.headers["Location"]
    login_page = client.get("/login/").get_data(as_text=True)
    assert "您的账号现在需要两步验证登录（或已被重置）" in login_page
    assert not _signed_in(client)


def test_a_session_from_before_the_requirement_is_ended(app, login_as):
    browser = login_as("township")
    assert _signed_in(browser)
    app.config["TOTP_REQUIRED_ROLES"] = ["Township"]
    try:
        page = browser.get("/memberview/list/")
        assert page.status_code == 302 and "/login/" in page.headers["Location"]
        assert not _signed_in(browser)
        # Others are not touched.
        assert _signed_in(login_as("xintan_secretary"))
    finally:
        app.config["TOTP_REQUIRED_ROLES"] = []


def test_replacing_the_authenticator_takes_proof(app, client, required):
    secret, _codes, _page = _enrol(client)
    with app.app_context():
        before = twofactor.enrolment(app.appbuilder.sm.find_user(username="township")).secret
    page = client.get("/twofactor/enrol").get_data(as_text=True)
    assert 'name="current"' in page
    new_secret = re.search(r'id="twofactor-secret">([A-Z2-7]+)<', page).group(1)
    # A session cookie alone does not replace the authenticator.
    stolen = client.post("/twofactor/enrol", data={"code": pyotp.TOTP(new_secret).now()})
    assert stolen.status_code == 200 and 'id="twofactor-error"' in stolen.get_data(as_text=True)
    wrong = client.post(
        "/twofactor/enrol", data={"code": pyotp.TOTP(new_secret).now(), "current": "wrong"}
    )
    assert wrong.status_code == 200
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="township")
        assert twofactor.enrolment(user).secret == before
    # With the password it is replaced, and this session stays signed in.
    done = client.post(
        "/twofactor/enrol",
        data={"code": pyotp.TOTP(new_secret).now(), "current": TEST_PASSWORD},
    )
    assert len(re.findall(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>", done.get_data(as_text=True))) == 10
    assert _signed_in(client)
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="township")
        assert crypto.unseal(twofactor.enrolment(user).secret) == new_secret
    del secret


def test_an_old_cookie_does_not_bring_back_tries(app, client, required):
    secret, _codes, _page = _enrol(client)
    other = app.test_client()
    _password(other)
    cookie = other.get_cookie("session").value
    for _ in range(4):
        assert other.post("/twofactor/verify", data={"code": "000000"}).status_code == 200
    # The cookie from before the four wrong codes: one try left, not five.
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    last = replay.post("/twofactor/verify", data={"code": "000000"})
    assert last.status_code == 302 and "/login/" in last.headers["Location"]
    replay.set_cookie("session", cookie)
    refused = replay.post("/twofactor/verify", data={"code": _code_at(secret, 1)})
    assert refused.status_code == 302 and not _signed_in(replay)
    # A new password login is refused too for 15 minutes, and so is the API.
    fresh = app.test_client()
    _password(fresh)
    assert fresh.post("/twofactor/verify", data={"code": _code_at(secret, 1)}).status_code == 302
    assert not _signed_in(fresh)
    api = app.test_client().post("/api/v1/security/login", json={**API_LOGIN, "totp": "123456"})
    assert api.status_code == 429 and "access_token" not in api.get_json()


def test_login_statistics_wait_for_the_second_factor(app, client, required):
    secret, _codes, _page = _enrol(client)
    with app.app_context():
        count = app.appbuilder.sm.find_user(username="township").login_count
    other = app.test_client()
    _password(other)
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="township").login_count == count
    other.post("/twofactor/verify", data={"code": _code_at(secret, 1)})
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="township").login_count == count + 1
    assert _actions(app)[-3:] == ["login_password", "twofactor_passed", "login"]
