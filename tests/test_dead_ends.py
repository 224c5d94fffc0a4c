"""No dead ends (issue 17 part 1): the menu holds only what the role may open, the error pages
speak the user's language in the app's layout with a way back, a reveal button only where there
is an ID number, and an approval returns to the applications still waiting."""

import re

import pytest
from flask import abort
from sqlalchemy import select

from app import create_app
from app.demo import DEMO_ACCOUNTS
from app.models import Household, Meeting, Member
from tests.helpers import member, village

MENU = re.compile(r'<ul class="nav navbar-nav">(.*?)<ul class="nav navbar-nav navbar-right">', re.S)
CATEGORY = re.compile(
    r'<li class="dropdown">\s*<a class="dropdown-toggle"[^>]*>(.*?)<b class="caret">'
    r'.*?<ul class="dropdown-menu">(.*?)</ul></li>',
    re.S,
)
LINK = re.compile(r'<a tabindex="-1" href="([^"]+)">')


def _menu(client):
    """(category labels and their links, every link) of the menu on the home page."""
    home = client.get("/")
    assert home.status_code == 200
    menu = MENU.search(home.get_data(as_text=True))
    assert menu, "no menu on the home page"
    categories = {
        re.sub(r"<[^>]+>|&nbsp;", "", label).strip(): LINK.findall(body)
        for label, body in CATEGORY.findall(menu.group(1))
    }
    return categories, LINK.findall(menu.group(1))


@pytest.mark.parametrize("username", [account[0] for account in DEMO_ACCOUNTS])
def test_every_menu_link_opens_and_no_category_is_empty(login_as, username):
    client = login_as(username)
    categories, links = _menu(client)
    assert links
    for label, entries in categories.items():
        assert entries, f"{username}: the menu category {label} is empty"
    for link in links:
        response = client.get(link)
        assert response.status_code == 200, f"{username}: {link} answers {response.status_code}"


def test_a_group_leader_sees_only_what_she_may_open(login_as):
    categories, links = _menu(login_as("xintan_group1"))
    # Her registers and the family survey, no assistance records, no archive, no audit log.
    assert "/memberview/list/" in links and "/householdview/list/" in links
    assert "/assistanceview/list/" not in links
    assert "档案" not in categories and "审计" not in categories
    assert categories["家庭帮扶"] == ["/householdview/list/"]


def test_the_president_keeps_every_village_menu(login_as):
    categories, links = _menu(login_as("xintan_president"))
    assert {"组织机构", "名册", "工作记录", "家庭帮扶", "档案", "审计"} <= set(categories)
    assert "/assistanceview/list/" in links and "/auditlogview/list/" in links


def test_anonymous_home_has_an_empty_menu(client):
    _categories, links = _menu(client)
    assert links == []


# --- Error pages ---

WORDS = {
    403: ("无权访问", "您的账号无权打开此页面"),
    404: ("页面不存在", "此页面或记录不存在"),
    405: ("无法以这种方式打开", "此页面不能以这种方式打开"),
    429: ("尝试次数过多", "请等一分钟后再试"),
    500: ("出错了", "服务器未能完成此请求"),
}


def _assert_error_page(response, code, back=None, anonymous=False):
    assert response.status_code == code
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    title, message = WORDS[code]
    assert title in page and message in page
    # The app's layout: its stylesheet, the navigation bar and the app's name, in Chinese.
    assert "/static/app.css" in page and 'class="navbar' in page and "计生协工作管理系统" in page
    assert "Forbidden" not in page and "Not Found" not in page and "Internal Server" not in page
    # A way back: the home page always, the previous page when there was one, signing in.
    assert re.search(r'<a href="/" class="btn btn-primary" id="error-home">.*?首页</a>', page, re.S)
    if back:
        assert f'<a href="{back}" class="btn btn-default" id="error-back">' in page
        assert "返回上一页" in page
    else:
        assert 'id="error-back"' not in page
    assert ('id="error-login"' in page) == anonymous
    if not anonymous:
        assert "退出登录" in page  # the signed-in user's own menu


BACK = "http://localhost/memberview/list/"


def test_forbidden_page_for_a_group_leader(login_as):
    client = login_as("xintan_group1")
    response = client.get("/assistanceview/list/", headers={"Referer": BACK})
    _assert_error_page(response, 403, back=BACK)


def test_not_found_page_signed_in_and_anonymous(login_as, client):
    signed_in = login_as("xintan_president")
    response = signed_in.get("/memberview/show/99999999", headers={"Referer": BACK})
    _assert_error_page(response, 404, back=BACK)
    _assert_error_page(client.get("/no-such-page"), 404, anonymous=True)


def test_a_record_number_no_id_holds_is_the_not_found_page(login_as):
    """Refused before the request's checks (app/views.py: the URL's preprocessor): the page
    without the account, which stays signed in."""
    client = login_as("xintan_president")
    _assert_error_page(client.get("/memberview/show/99999999999999999999999"), 404, anonymous=True)
    assert "退出登录" in client.get("/").get_data(as_text=True)


def test_a_back_link_only_to_this_site(login_as):
    client = login_as("xintan_president")
    response = client.get("/no-such-page", headers={"Referer": "http://evil.example/x"})
    _assert_error_page(response, 404)


def test_method_not_allowed_page(login_as):
    client = login_as("xintan_president")
    with client.application.app_context():
        pk = member(client.application.appbuilder.session, "新檀村").id
    response = client.get(f"/memberview/reveal/{pk}")
    _assert_error_page(response, 405)
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("code", [403, 404, 429, 500])
@pytest.mark.parametrize("username", [None, "xintan_group1"])
def test_each_status_page_in_chinese_with_the_layout(
    app, client, login_as, monkeypatch, code, username
):
    """Each status, as a signed-in user and anonymously, from a page that answers it."""

    def refuse():
        if code == 500:
            raise RuntimeError("a bug")
        abort(code)

    monkeypatch.setitem(app.view_functions, "HomeView.index", refuse)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    browser = login_as(username) if username else client
    response = browser.get("/", headers={"Referer": BACK})
    _assert_error_page(response, code, back=BACK, anonymous=username is None)


def test_an_english_user_gets_english_pages(login_as):
    client = login_as("xintan_group1")
    client.get("/lang/en")
    response = client.get("/assistanceview/list/")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "No access" in page and "Home page" in page and "无权访问" not in page


@pytest.fixture(scope="module")
def throttled_app(_app):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": _app.config["SQLALCHEMY_DATABASE_URI"],
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "AUTH_RATE_LIMIT": "3 per minute",
        }
    )


def test_a_throttled_sign_in_gets_the_page_and_the_api_json(throttled_app):
    client = throttled_app.test_client()
    for _ in range(3):
        client.post("/login/", data={"username": "nobody", "password": "x"})
    _assert_error_page(
        client.post("/login/", data={"username": "nobody", "password": "x"}), 429, anonymous=True
    )
    api = throttled_app.test_client()
    for _ in range(4):
        response = api.post(
            "/api/v1/security/login",
            json={"username": "nobody", "password": "x", "provider": "db"},
        )
    assert response.status_code == 429
    assert response.get_json() == {"message": "尝试次数过多"}


def test_api_errors_stay_json(app, client, api_token):
    headers = api_token("xintan_group1")
    # FAB's own 403 and 404 of a resource.
    refused = client.post("/api/v1/assistance/", headers=headers, json={})
    assert refused.status_code == 403 and refused.get_json() == {"message": "Forbidden"}
    missing = client.get("/api/v1/member/99999999", headers=headers)
    assert missing.status_code == 404 and missing.is_json
    # An address no API has, and a record number no id holds (the app's abort(404)).
    for path in ("/api/v1/no-such-resource/", "/api/v1/member/99999999999999999999999"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.is_json and response.get_json() == {"message": "页面不存在"}


def test_api_server_error_stays_json(app, client, api_token, monkeypatch):
    def broken(**_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.view_functions, "MemberApi.get_list", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    response = client.get("/api/v1/member/", headers=api_token("xintan_president"))
    assert response.status_code == 500
    assert response.is_json and response.get_json() == {"message": "出错了"}


# --- The reveal button ---

REVEAL = 'id="reveal-id-number"'


def test_no_reveal_button_where_there_is_no_id_number(app, login_as):
    client = login_as("xintan_president")
    with app.app_context():
        session = app.appbuilder.session
        xintan = village(session, "新檀村")
        meeting = session.scalar(select(Meeting.id).where(Meeting.village_id == xintan.id))
        person = member(session, "新檀村").id
    page = client.get(f"/meetingview/show/{meeting}").get_data(as_text=True)
    assert "会议" in page and REVEAL not in page and "每次查看都会记入审计日志" not in page
    page = client.get(f"/memberview/show/{person}").get_data(as_text=True)
    assert REVEAL in page


def test_no_reveal_button_for_a_household_without_a_head_id(app, login_as):
    with app.app_context():
        session = app.appbuilder.session
        xintan = village(session, "新檀村")
        households = session.scalars(
            select(Household).where(Household.village_id == xintan.id).order_by(Household.id)
        ).all()
        with_id = next(h.id for h in households if h.id_number)
        without = households[-1] if households[-1].id != with_id else households[0]
        without.id_number = None
        session.commit()
        without = without.id
    client = login_as("xintan_president")
    assert REVEAL in client.get(f"/householdview/show/{with_id}").get_data(as_text=True)
    assert REVEAL not in client.get(f"/householdview/show/{without}").get_data(as_text=True)


def test_no_reveal_button_for_a_group_leader(app, login_as):
    with app.app_context():
        person = member(app.appbuilder.session, "新檀村", group_name="第一组").id
    page = login_as("xintan_group1").get(f"/memberview/show/{person}").get_data(as_text=True)
    assert "****" in page and REVEAL not in page


# --- After an approval ---


def _pending_link(location):
    return location.startswith("/memberview/list/") and "_flt_3_status=applied" in location


@pytest.mark.parametrize("decision, status", [("approve", "active"), ("reject", "rejected")])
def test_the_president_returns_to_the_remaining_applications(app, login_as, decision, status):
    with app.app_context():
        session = app.appbuilder.session
        xintan = village(session, "新檀村")
        pending = session.scalars(
            select(Member.id)
            .where(Member.village_id == xintan.id, Member.status == "applied")
            .order_by(Member.id)
        ).all()
    assert len(pending) >= 2
    client = login_as("xintan_president")
    # As she would: the home page's reminder, the list of applications, tick one, decide.
    home = client.get("/").get_data(as_text=True)
    reminder = re.search(r'href="(/memberview/list/\?[^"]*_flt_3_status=applied[^"]*)"', home)
    assert reminder, "no reminder of the pending applications"
    client.get(reminder.group(1).replace("&amp;", "&"))
    response = client.post(
        "/memberview/action_post", data={"action": decision, "rowid": [pending[0]]}
    )
    assert response.status_code == 302
    assert _pending_link(response.location), response.location
    listing = client.get(response.location)
    page = listing.get_data(as_text=True)
    assert listing.status_code == 200 and "已审批1份入会申请" in page
    with app.app_context():
        assert app.appbuilder.session.get(Member, pending[0]).status == status
        remaining = app.appbuilder.session.get(Member, pending[1])
        assert f"/memberview/show/{remaining.id}" in page
        assert f"/memberview/show/{pending[0]}" not in page
