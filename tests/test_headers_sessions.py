"""Issue 7, item 6: security headers on every response, the idle session ended by the server."""

import time

import pytest
from sqlalchemy import select

from app.models import AuditLog
from app.security import SESSION_SEEN_KEY


def _policy(response):
    return dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
        if part.strip()
    )


@pytest.mark.parametrize(
    "path", ["/", "/memberview/list/", "/api/v1/member/", "/static/appbuilder/css/ab.css"]
)
def test_every_response_carries_the_headers(login_as, path):
    response = login_as("xintan_secretary").get(path)
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    policy = _policy(response)
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    # No external origin anywhere: only 'self', 'none', 'unsafe-inline' and data: images.
    for sources in policy.values():
        for source in sources.split():
            assert source in ("'self'", "'none'", "'unsafe-inline'", "data:"), source


def test_anonymous_and_error_pages_too(client):
    for response in (client.get("/login/"), client.get("/no-such-page")):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_download_keeps_its_own_stricter_policy(login_as, uploaded):  # noqa: F811
    pk, _data = uploaded
    response = login_as("xintan_secretary").get(f"/attachment/{pk}")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Frame-Options"] == "DENY"


# --- The idle session ---


def _age(client, seconds):
    """Pretend the browser's last request was ``seconds`` ago."""
    with client.session_transaction() as session:
        session[SESSION_SEEN_KEY] = int(time.time()) - seconds


def _actions(app, username):
    with app.app_context():
        return app.appbuilder.session.scalars(
            select(AuditLog.action).where(AuditLog.username == username).order_by(AuditLog.id)
        ).all()


def test_a_session_used_within_the_timeout_stays(app, login_as):
    client = login_as("xintan_secretary")
    _age(client, 29 * 60)
    assert client.get("/memberview/list/").status_code == 200
    # The request moved the last-seen time: another 29 minutes later the session still holds.
    _age(client, 29 * 60)
    assert client.get("/memberview/list/").status_code == 200


def test_an_idle_session_is_ended_with_a_message(app, login_as):
    client = login_as("xintan_secretary")
    _age(client, 31 * 60)
    response = client.get("/memberview/list/?_flt_0_name=x")
    assert response.status_code == 302
    assert "/login/" in response.headers["Location"]
    assert "memberview" in response.headers["Location"]
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "您已 30 分钟无操作，会话已过期：请重新登录" in text
    # Signed out for good: the next page asks for the login again.
    again = client.get("/memberview/list/")
    assert again.status_code == 302 and "/login/" in again.headers["Location"]
    assert _actions(app, "xintan_secretary")[-1] == "session_expired"


def test_the_message_in_english(app, login_as):
    client = login_as("xintan_secretary")
    client.get("/lang/en")
    _age(client, 31 * 60)
    page = client.get("/memberview/list/", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "Your session expired after 30 minutes without activity" in text


def test_the_api_with_an_idle_session_cookie_answers_401(app, login_as):
    client = login_as("xintan_secretary")
    _age(client, 31 * 60)
    assert client.get("/api/v1/member/").status_code == 401


def test_the_timeout_is_configurable(app, login_as):
    from datetime import timedelta

    app.config["SESSION_IDLE_TIMEOUT"] = timedelta(minutes=5)
    try:
        client = login_as("xintan_secretary")
        _age(client, 6 * 60)
        assert client.get("/memberview/list/").status_code == 302
    finally:
        app.config["SESSION_IDLE_TIMEOUT"] = timedelta(minutes=30)


def test_jwt_requests_have_no_session_to_expire(app, api_token):
    headers = api_token("xintan_secretary")
    response = app.test_client().get("/api/v1/member/", headers=headers)
    assert response.status_code == 200
