"""Issue 7, item 6: a password an administrator chose is temporary — the user must choose their
own before anything else, on the web and on the API; the demo accounts are exempt."""

import json

import pytest
from sqlalchemy import select

from app.accounts import ScopedUser
from app.models import AuditLog, Village

TEMPORARY = "Temp#Pass2026"
OWN = "MyOwn#Pass2026"


def _flag(app, username):
    with app.app_context():
        return app.appbuilder.session.scalar(
            select(ScopedUser.password_change_required).where(ScopedUser.username == username)
        )


@pytest.fixture
def new_account(app, login_as):
    """An account the administrator created with a temporary password."""
    with app.app_context():
        session = app.appbuilder.session
        role_id = app.appbuilder.sm.find_role("Secretary").id
        village_id = session.query(Village).filter_by(name="新檀村").one().id
    response = login_as("admin").post(
        "/users/add",
        data={
            "first_name": "新",
            "last_name": "秘书",
            "username": "new_secretary",
            "email": "new_secretary@example.org",
            "active": "y",
            "roles": [role_id],
            "village": village_id,
            "password": TEMPORARY,
            "conf_password": TEMPORARY,
        },
    )
    assert response.status_code == 302
    return "new_secretary"


def test_a_new_account_must_choose_its_own_password(app, client, new_account):
    assert _flag(app, new_account) is True
    response = client.post("/login/", data={"username": new_account, "password": TEMPORARY})
    assert response.status_code == 302
    # Every page leads to the password form, with the reason.
    page = client.get("/memberview/list/")
    assert page.status_code == 302 and "/resetmypassword/form" in page.headers["Location"]
    # The API with the browser's session cookie is closed too.
    assert client.get("/api/v1/member/").status_code == 403
    form = client.get(page.headers["Location"])
    assert form.status_code == 200
    assert "请先设置您自己的密码" in form.get_data(as_text=True)
    # The new password follows the complexity rules.
    weak = client.post("/resetmypassword/form", data={"password": "123", "conf_password": "123"})
    assert weak.status_code == 200 and _flag(app, new_account) is True
    done = client.post("/resetmypassword/form", data={"password": OWN, "conf_password": OWN})
    assert done.status_code == 302
    assert _flag(app, new_account) is False
    assert client.get("/memberview/list/").status_code == 200


def test_the_api_refuses_a_token_until_the_password_is_changed(app, client, new_account):
    payload = {"username": new_account, "password": TEMPORARY, "provider": "db"}
    response = client.post("/api/v1/security/login", json=payload)
    assert response.status_code == 403
    assert "临时密码" in response.get_json()["message"]
    client.post("/login/", data={"username": new_account, "password": TEMPORARY})
    client.post("/resetmypassword/form", data={"password": OWN, "conf_password": OWN})
    payload["password"] = OWN
    assert client.post("/api/v1/security/login", json=payload).status_code == 200


def test_a_reset_by_the_administrator_is_temporary_too(app, login_as, api_token):
    headers = api_token("xintan_secretary")  # a token taken before the reset
    with app.app_context():
        pk = app.appbuilder.sm.find_user(username="xintan_secretary").id
    admin = login_as("admin")
    response = admin.post(
        f"/resetpassword/form?pk={pk}", data={"password": TEMPORARY, "conf_password": TEMPORARY}
    )
    assert response.status_code == 302
    assert _flag(app, "xintan_secretary") is True
    secretary = login_as("xintan_secretary", TEMPORARY)
    page = secretary.get("/")
    assert page.status_code == 302 and "/resetmypassword/form" in page.headers["Location"]
    # The token from before no longer opens the API either: the reset ended it (issue 15).
    answer = app.test_client().get("/api/v1/member/", headers=headers)
    assert answer.status_code == 401
    # The reset and the flag are in the audit log, the password itself is not.
    with app.app_context():
        entries = app.appbuilder.session.scalars(
            select(AuditLog.changes).where(AuditLog.model == "ScopedUser", AuditLog.record_id == pk)
        ).all()
    changes = {}
    for entry in entries:
        changes.update(json.loads(entry))
    assert changes["password_change_required"] == [False, True]
    # Keyed fingerprints of the old and new hashes, never the hashes (issue 15, class 8).
    before, after = changes["password"]
    assert before.startswith("hmac:") and after.startswith("hmac:") and before != after
    assert TEMPORARY not in json.dumps(entries)


def test_the_demo_accounts_and_own_changes_are_exempt(app, login_as):
    assert _flag(app, "xintan_secretary") is False
    client = login_as("xintan_secretary")
    assert client.get("/memberview/list/").status_code == 200
    client.post("/resetmypassword/form", data={"password": OWN, "conf_password": OWN})
    assert _flag(app, "xintan_secretary") is False
    assert client.get("/memberview/list/").status_code == 200


def test_signing_out_is_still_possible(client, new_account):
    client.post("/login/", data={"username": new_account, "password": TEMPORARY})
    response = client.get("/logout/")
    assert response.status_code == 302 and "resetmypassword" not in response.headers["Location"]


def test_the_audit_log_shows_a_password_change_as_stars(app, login_as, api_token):
    """The fingerprints are for `verify --records`: readers of the log see *** (page and API)."""
    admin = login_as("admin")
    with app.app_context():
        pk = app.appbuilder.sm.find_user(username="xintan_secretary").id
    admin.post(
        f"/resetpassword/form?pk={pk}", data={"password": TEMPORARY, "conf_password": TEMPORARY}
    )
    listing = admin.get("/auditlogview/list/?_flt_0_model=ScopedUser&psize_AuditLogView=100")
    assert listing.status_code == 200
    assert "hmac:" not in listing.get_data(as_text=True)
    with app.app_context():
        entry = app.appbuilder.session.scalars(
            select(AuditLog.id)
            .where(AuditLog.model == "ScopedUser", AuditLog.record_id == pk)
            .order_by(AuditLog.id.desc())
        ).first()
    shown = admin.get(f"/auditlogview/show/{entry}").get_data(as_text=True)
    assert "***" in shown and "hmac:" not in shown
    api = app.test_client().get(f"/api/v1/audit_log/{entry}", headers=api_token("admin"))
    changes = json.loads(api.get_json()["result"]["changes"])
    assert changes["password"] == ["***", "***"]
