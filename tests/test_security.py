"""Security basics: CSRF, no GET that changes data, throttled logins, password rules, cookies."""

import pytest

from app import create_app
from app.models import Member
from tests.databases import TEST_PASSWORD
from tests.helpers import member


def _exists(app, pk):
    with app.app_context():
        return app.appbuilder.session.get(Member, pk) is not None


def test_html_form_without_csrf_token_is_refused(app, login_as):
    client = login_as("xintan_president")
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/memberview/delete/{pk}")
    assert response.status_code == 400
    assert _exists(app, pk)


def test_a_get_never_deletes(app, login_as):
    client = login_as("xintan_president")
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    app.config["WTF_CSRF_ENABLED"] = True
    client.get(f"/memberview/delete/{pk}")
    assert _exists(app, pk)


def test_jwt_api_is_exempt_from_csrf(app, client, api_token):
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    response = client.put(
        f"/api/v1/member/{pk}", headers=api_token("xintan_secretary"), json={"notes": "走访"}
    )
    assert response.status_code == 200


def test_bad_password_is_refused(app, client):
    response = client.post(
        "/api/v1/security/login",
        json={"username": "xintan_secretary", "password": "wrong", "provider": "db"},
    )
    assert response.status_code == 401


@pytest.fixture(scope="module")
def throttled_app(_app):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": _app.config["SQLALCHEMY_DATABASE_URI"],
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "AUTH_RATE_LIMIT": "5 per minute",
        }
    )


def test_html_login_is_throttled(throttled_app):
    client = throttled_app.test_client()
    codes = [
        client.post("/login/", data={"username": "nobody", "password": "x"}).status_code
        for _ in range(7)
    ]
    assert all(code in (200, 302) for code in codes[:5])
    assert codes[-1] == 429


def test_jwt_login_is_throttled(throttled_app):
    client = throttled_app.test_client()
    codes = [
        client.post(
            "/api/v1/security/login",
            json={"username": "xintan_secretary", "password": "wrong", "provider": "db"},
        ).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5
    assert codes[-1] == 429


def test_session_cookie_is_httponly_and_samesite(app):
    client = app.test_client()
    response = client.post("/login/", data={"username": "admin", "password": TEST_PASSWORD})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_admin_user_form_enforces_password_complexity(app, login_as):
    client = login_as("admin")
    response = client.post(
        "/users/add",
        data={
            "first_name": "王",
            "last_name": "五",
            "username": "weak_user",
            "email": "weak@example.org",
            "active": "y",
            "password": "123",
            "conf_password": "123",
        },
    )
    assert response.status_code == 200
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="weak_user") is None


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/memberview/list/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    assert client.get("/api/v1/member/").status_code == 401
