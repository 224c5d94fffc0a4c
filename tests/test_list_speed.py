"""The list path's shortcuts (issue 7 item 8, app/speed.py) keep what the user sees: the same
scoped search dropdowns, the same 400 for a bad REST query, each page in its own language, the
same rights — with fewer statements. Speed itself is measured in bench/list_1m.py, not here."""

import json
import re

import pytest
from sqlalchemy import event, text

from app import db, speed
from app.models import Member, MemberGroup, Township, Village
from tests import counties as world

# The two-county world's fixture (used by name): tests/counties.py.
counties = world.counties

OPTION = re.compile(r'<option value="(\d+)">([^<]*)</option>')
# The search widget's arguments: labels, then each search field's HTML (FAB's search.html).
FILTERS = re.compile(r"new AdminFilters\(\s*'#filter_form',\s*(\{[^{}]*\}),\s*(\{[^{}]*\})")


def search_choices(page, field):
    """(value, label) of the options of ``field``'s dropdown in the list page's search form."""
    form_fields = json.loads(FILTERS.search(page).group(2))
    return [(int(pk), label) for pk, label in OPTION.findall(form_fields[field])]


def statements_of(app, client, path, headers=None):
    """The response to GET ``path`` and the SQL statements it ran."""
    seen = []

    def listener(*args):
        seen.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get(path, headers=headers or {})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return response, seen


@pytest.mark.parametrize(
    "username, village_name, group_name",
    [("xintan_group1", "新檀村", "第一组"), ("longwang_president", "龙王村", None)],
)
def test_a_dropdown_pinned_by_the_scope_holds_that_one_row(
    app, login_as, db_session, username, village_name, group_name
):
    # The village (and a group leader's group) comes from the account, not a query: the same
    # one option a query through the scope filter would give.
    client = login_as(username)
    page = client.get("/memberview/list/").get_data(as_text=True)
    village = db_session.query(Village).filter_by(name=village_name).one()
    assert search_choices(page, "village") == [(village.id, village.name)]
    groups = db_session.query(MemberGroup).filter_by(village_id=village.id).order_by("id").all()
    if group_name:
        groups = [g for g in groups if g.name == group_name]
    assert search_choices(page, "group") == [(g.id, g.name) for g in groups]


def test_a_township_account_still_gets_its_villages_by_query(login_as, db_session):
    page = login_as("township").get("/memberview/list/").get_data(as_text=True)
    villages = (
        db_session.query(Village).join(Township).filter(Township.name == "二郎镇").order_by("id")
    )
    assert search_choices(page, "village") == [(v.id, v.name) for v in villages]


def test_search_dropdowns_hold_the_scope_in_order_without_a_count(app, login_as, db_session):
    client = login_as("xintan_secretary")
    client.get("/memberview/list/")  # warm: the first page loads what later pages reuse
    speed._counts.clear()  # the list's count counted again (not kept from the warm page)
    response, seen = statements_of(app, client, "/memberview/list/")
    assert response.status_code == 200
    village = db_session.query(Village).filter_by(name="新檀村").one()
    groups = db_session.query(MemberGroup).filter_by(village_id=village.id).order_by("id").all()
    page = response.get_data(as_text=True)
    # The search form's dropdowns: the village's own groups in order, its own village only.
    assert search_choices(page, "group") == [(g.id, g.name) for g in groups]
    assert search_choices(page, "village") == [(village.id, village.name)]
    # One COUNT: the member list's own (the dropdowns load their choices without one).
    counts = [s for s in seen if "count(" in s.lower()]
    assert len(counts) == 1 and "member" in counts[0]


def test_a_township_chooses_a_group_once_a_village_is_searched(login_as, db_session):
    # 二郎镇's groups are named alike in every village (第一组): the search offers those of the
    # village searched, and before that says so, in Chinese — not every group of the township.
    client = login_as("township")
    page = client.get("/memberview/list/").get_data(as_text=True)
    assert search_choices(page, "group") == []
    assert "请先按村筛选" in json.loads(FILTERS.search(page).group(2))["group"]
    village = db_session.query(Village).filter_by(name="龙王村").one()
    page = client.get(f"/memberview/list/?_flt_0_village={village.id}").get_data(as_text=True)
    groups = db_session.query(MemberGroup).filter_by(village_id=village.id).order_by("id")
    assert search_choices(page, "group") == [(g.id, g.name) for g in groups]
    assert "请先按村筛选" not in json.loads(FILTERS.search(page).group(2))["group"]


def test_a_village_account_is_offered_its_groups_at_once(login_as):
    # (Its own test: db_session holds an app context, and with it one request's scope in g.)
    page = login_as("xintan_secretary").get("/activityview/list/").get_data(as_text=True)
    assert [label for _pk, label in search_choices(page, "group")][:2] == ["第一组", "第二组"]
    assert "请先按村筛选" not in page


def test_a_list_reads_the_records_its_rows_name_in_one_query(app, login_as):
    # A member's group, shown in its row, read for the whole page at once: one statement
    # whatever the number of rows (FAB would read each row's group on its own). The township's
    # search form loads no group (a village account's would, hiding a read per row).
    client = login_as("township")
    client.get("/memberview/list/")
    response, seen = statements_of(app, client, "/memberview/list/?psize_MemberView=100")
    assert response.status_code == 200
    assert "第一组" in response.get_data(as_text=True)
    one_by_one = [s for s in seen if "FROM member_group" in s and "member_group.id = " in s]
    assert one_by_one == []
    assert len(seen) <= 6, seen


CELLS = re.compile(r"<tr[^>]*>(.*?)</tr>", re.S)


def list_table(page):
    """The list table's header and rows as the user reads them (cell texts)."""
    head = re.findall(r"<th[^>]*>(.*?)</th>", page, re.S)
    header = [re.sub(r"<[^>]+>|\s+", "", h) for h in head]
    rows = []
    for row in CELLS.findall(page):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if cells:
            rows.append([re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in cells])
    return header, rows


def row_records(page):
    """The record each list row shows (its 查看 link's number), in the rows' order."""
    return [
        int(re.search(r"/show/(\d+)", row).group(1)) for row in CELLS.findall(page) if "<td" in row
    ]


@pytest.mark.parametrize(
    "username, expected",
    [("township", "龙王村"), ("county", "二郎镇 龙王村"), ("xintan_secretary", None)],
)
def test_a_wide_readers_rows_name_their_village(app, login_as, counties, username, expected):
    # 第一组 is in every village: a reader of several villages sees each row's village (and,
    # reading several townships, its township); a village's own account does not need it.
    client = login_as(username)
    with app.app_context():
        village = db.session.query(Village).filter_by(name="龙王村").one()
    header, rows = list_table(client.get("/memberview/list/").get_data(as_text=True))
    if expected is None:
        assert rows and "村" not in header
        return
    # Where the list is of one village, the column would say the same on every row: a search
    # naming it, the village's own page (its meetings, activities…).
    header, rows = list_table(
        client.get(f"/memberview/list/?_flt_0_village={village.id}").get_data(as_text=True)
    )
    assert rows and "村" not in header
    shown = re.sub(r"\s+", "", client.get(f"/villageview/show/{village.id}").data.decode())
    complaints = re.search(r'<divid="ComplaintView".*?</table>', shown).group(0)
    assert "<th" in complaints and "<th>村</th>" not in complaints
    with app.app_context():
        gid = db.session.query(MemberGroup).filter_by(village_id=village.id).first().id
    shown = re.sub(r"\s+", "", client.get(f"/membergroupview/show/{gid}").data.decode())
    members = re.search(r'<divid="MemberView".*?</table>', shown).group(0)
    assert "<th" in members and "<th>村</th>" not in members
    # Every row of a wider page names the village it is of: its own, as the register holds it.
    with app.app_context():
        places = {m.id: (m.village.township.name, m.village.name) for m in db.session.query(Member)}
    seen = set()
    for number in range(20):  # the pages of every village but 龙王村
        url = f"/memberview/list/?psize_MemberView=100&page_MemberView={number}"
        html = client.get(f"{url}&_flt_1_village={village.id}").get_data(as_text=True)
        header, rows = list_table(html)
        if not rows:
            break
        shown = [row[header.index("村")] for row in rows]
        for pk, cell in zip(row_records(html), shown, strict=True):
            township, village_name = places[pk]
            assert cell == (f"{township} {village_name}" if " " in expected else village_name)
        seen |= set(shown)
    assert len(seen) >= 2 and "龙王村" not in " ".join(seen)


def test_a_bad_rest_query_is_refused_every_time(login_as):
    client = login_as("xintan_secretary")
    for _n in range(2):  # the schema's validator is built once and reused
        response = client.get("/api/v1/member/?q=(page_size:(a:1))")
        assert response.status_code == 400
        assert "Not a valid rison schema" in response.get_json()["message"]
    assert client.get("/api/v1/member/?q=(page:0,page_size:5)").status_code == 200


def test_each_request_in_its_own_language(login_as):
    client = login_as("xintan_secretary")
    client.get("/lang/zh")
    assert "会员" in client.get("/memberview/list/").get_data(as_text=True)
    client.get("/lang/en")
    page = client.get("/memberview/list/").get_data(as_text=True)
    assert "Members" in page and "Add Filter" in page
    client.get("/lang/zh")
    assert "会员" in client.get("/memberview/list/").get_data(as_text=True)


def test_remembered_rights_stay_each_roles_own(login_as):
    # The same permission asked for two roles: the answer kept for one is not the other's.
    secretary, township = login_as("xintan_secretary"), login_as("township")
    for _n in range(2):
        assert secretary.get("/memberview/add").status_code == 200
        assert township.get("/memberview/add").status_code in (302, 403)
        assert township.get("/memberview/list/").status_code == 200


def _fab_page(app, client, path, view_name):
    """The page as FAB's own list and search widgets render it."""
    from flask_appbuilder.widgets import ListWidget, SearchWidget

    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == view_name)
    view.list_widget, view.search_widget = ListWidget, SearchWidget
    try:
        return client.get(path).get_data(as_text=True)
    finally:
        del view.list_widget, view.search_widget


def _same_markup(page):
    page = re.sub(r'name="csrf_token"[^>]*', "", page)
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", page))


def test_rows_written_in_python_are_fabs_rows(app, login_as):
    # Check boxes, the buttons each role may use (the President's approve action, delete…),
    # the labels in each language, masked columns, the search form's dropdowns (the coded
    # ones kept per language, the scoped ones not): the same page as FAB's own widgets write.
    for username in ("xintan_secretary", "xintan_president", "township"):
        client = login_as(username)
        for lang in ("zh", "en"):
            client.get(f"/lang/{lang}")
            for path, view in (
                ("/memberview/list/", "MemberView"),
                ("/memberview/list/?_oc_MemberView=name&_od_MemberView=desc", "MemberView"),
                ("/membergroupview/list/", "MemberGroupView"),
                ("/householdview/list/", "HouseholdView"),
            ):
                page = client.get(path).get_data(as_text=True)
                if view == "MemberView":  # rows with their buttons, not an empty list
                    assert page.count('class="btn-group btn-group-xs"') > 1
                assert _same_markup(page) == _same_markup(_fab_page(app, client, path, view))


def test_kept_search_dropdowns_follow_the_language(login_as):
    # The status dropdown of the search form is kept rendered: once per language.
    client = login_as("xintan_secretary")
    for lang, label in (("zh", "申请中"), ("en", "Applied"), ("zh", "申请中")):
        client.get(f"/lang/{lang}")
        page = client.get("/memberview/list/").get_data(as_text=True)
        statuses = json.loads(FILTERS.search(page).group(2))["status"]
        assert label in statuses


def test_rights_follow_a_role_change_at_the_next_request(app, login_as, db_session):
    # The user's roles are read once per request: a change shows at the next one.
    client = login_as("xintan_secretary")
    assert client.get("/memberview/add").status_code == 200
    sm = app.appbuilder.sm
    user = sm.find_user(username="xintan_secretary")
    roles = list(user.roles)
    user.roles = [sm.find_role("Township")] if sm.find_role("Township") else []
    db_session.commit()
    try:
        assert client.get("/memberview/add").status_code in (302, 403)
        page = client.get("/memberview/list/").get_data(as_text=True)
        assert "/memberview/add" not in page
    finally:
        user = sm.find_user(username="xintan_secretary")
        user.roles = roles
        db_session.commit()
    # A role change ends the account's sessions (issue 15): the next sign-in has the rights back.
    assert login_as("xintan_secretary").get("/memberview/add").status_code == 200


def test_a_database_role_is_checked_by_fab(app, login_as, db_session):
    # A role kept in the database (not one of FAB_ROLES) is not answered from the cache:
    # a user holding only such a role, without rights, may not list members.
    sm = app.appbuilder.sm
    role = sm.add_role("ListSpeedNobody")
    user = sm.find_user(username="xintan_secretary")
    roles = list(user.roles)
    user.roles = [role]
    db_session.commit()
    try:
        client = login_as("xintan_secretary")
        assert client.get("/memberview/list/").status_code in (302, 403)
        assert client.get("/api/v1/member/").status_code in (401, 403)
    finally:
        user = sm.find_user(username="xintan_secretary")
        user.roles = roles
        db_session.delete(sm.find_role("ListSpeedNobody"))
        db_session.commit()


# --- The statements of a request (PostgreSQL answers each in some 0.5 ms: issue 7 item 8) ---


def _tables(statement):
    return set(re.findall(r"(?:FROM|JOIN)\s+(\w+)", statement, flags=re.IGNORECASE))


def test_a_page_reads_the_account_once_with_roles_scope_and_enrolment(app, login_as):
    client = login_as("xintan_secretary")
    client.get("/memberview/list/")
    response, seen = statements_of(app, client, "/memberview/list/")
    assert response.status_code == 200
    assert response.get_data(as_text=True).count('class="btn-group btn-group-xs"') > 1
    # One statement for the account and all it brings (FAB reads them one by one: five).
    accounts = [s for s in seen if "ab_user" in _tables(s)]
    assert len(accounts) == 1
    assert {"ab_role", "ab_group", "village", "user_twofactor"} <= _tables(accounts[0])
    # Then the member list (count, page) and the search form's group dropdown (its village
    # dropdown holds the one village the account was loaded with): nothing else.
    assert len(seen) == 4, seen


def test_an_api_request_reads_the_account_once_and_no_public_role(app, api_token):
    headers = api_token("xintan_secretary")
    client = app.test_client()
    client.get("/api/v1/member/", headers=headers)
    response, seen = statements_of(app, client, "/api/v1/member/", headers)
    assert response.status_code == 200 and response.get_json()["count"] > 0
    assert len([s for s in seen if "ab_user" in _tables(s)]) == 1
    assert not [s for s in seen if _tables(s) == {"ab_role"}]  # FAB's Public role lookup
    assert len(seen) == 3, seen  # the account, the count, the page


def test_a_public_role_in_the_database_grants_nothing(app, client, db_session):
    # FAB would serve the members of a Public role's permission to anyone signed out.
    sm = app.appbuilder.sm
    name = app.config["AUTH_ROLE_PUBLIC"]
    role = sm.find_role(name) or sm.add_role(name)
    sm.add_permission_role(role, sm.add_permission_view_menu("can_read", "Member"))
    db_session.commit()
    assert client.get("/api/v1/member/").status_code == 401
    response = client.get("/memberview/list/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_enrolment_and_reset_show_at_once_on_the_loaded_account(app, db_session):
    # The enrolment travels with the account: an enrolment or a reset in the same session
    # is seen by the next check, not the one loaded before it.
    import pyotp

    from app import twofactor

    user = app.appbuilder.sm.find_user(username="xintan_secretary")
    with app.test_request_context("/"):
        assert twofactor.enrolment(user) is None and not twofactor.needed(user)
        twofactor.enrol(user, pyotp.random_base32(), 0)
        assert twofactor.enrolment(user) is not None and twofactor.needed(user)
        assert twofactor.reset(user)
        assert twofactor.enrolment(user) is None and not twofactor.needed(user)


# --- Read-only requests end with COMMIT (psycopg keeps its prepared statements) ---


def _townships(app, prefix):
    from sqlalchemy import func, select

    from app.models import Township

    with app.app_context():
        return db.session.scalar(select(func.count()).where(Township.name.like(f"{prefix}%")))


def test_what_a_request_left_uncommitted_is_not_kept(app):
    from sqlalchemy import select

    from app.models import Township

    with app.app_context():  # a flushed, uncommitted insert
        db.session.add(Township(name="未提交镇一"))
        db.session.flush()
    with app.app_context():  # a raw statement, uncommitted
        db.session.connection().execute(text("INSERT INTO township (name) VALUES ('未提交镇二')"))
    with app.app_context():  # a change not even flushed (a commit would flush it)
        township = db.session.scalars(select(Township).order_by(Township.id)).first()
        old_name = township.name
        township.name = "未提交镇三"
    with app.app_context():  # a failed statement, then nothing
        try:
            db.session.execute(text("SELECT * FROM no_such_table"))
        except Exception:  # noqa: BLE001 — the request went on with its error handled
            pass
    assert _townships(app, "未提交镇") == 0
    with app.app_context():
        assert db.session.scalars(select(Township).order_by(Township.id)).first().name == old_name


def test_a_request_that_only_read_ends_with_commit(app):
    from sqlalchemy import select

    from app.models import Township

    ends = []
    with app.app_context():
        engine = db.engine
    commit = lambda connection: ends.append("commit")  # noqa: E731
    rollback = lambda connection: ends.append("rollback")  # noqa: E731
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    try:
        with app.app_context():
            db.session.scalars(select(Township)).all()
        assert ends == ["commit"]
        ends.clear()
        with app.app_context():
            township = db.session.scalars(select(Township)).first()
            township.name = township.name + "改"
        assert ends == ["rollback"]
    finally:
        event.remove(engine, "commit", commit)
        event.remove(engine, "rollback", rollback)
    if engine.dialect.name == "postgresql":
        # The statements psycopg prepared (after five runs) outlive the request.
        for _n in range(7):
            with app.app_context():
                db.session.scalars(select(Township).where(Township.id == 1)).all()
        with app.app_context():
            names = db.session.execute(text("SELECT name FROM pg_prepared_statements")).all()
        assert names


def test_the_list_count_is_every_row_the_list_holds(app, api_token, db_session):
    # The count leaves out the list's column options (app/speed.py SQLAInterface): it still
    # counts every row of the scope — a member without a group included — and what a filter
    # keeps, page after page.
    from app.models import Member

    village = db_session.query(Village).filter_by(name="新檀村").one()
    members = db_session.query(Member).filter_by(village_id=village.id).order_by("id").all()
    members[0].group_id = None
    db_session.commit()
    headers = api_token("xintan_secretary")
    client = app.test_client()
    names = []
    for page in range(3):
        body = client.get(
            f"/api/v1/member/?q=(page:{page},page_size:100)", headers=headers
        ).get_json()
        assert body["count"] == len(members)
        names += [row["name"] for row in body["result"]]
    assert sorted(names) == sorted(m.name for m in members)
    active = [m for m in members if m.status == "active"]
    query = "(filters:!((col:status,opr:eq,value:active)),page_size:100)"
    body = client.get(f"/api/v1/member/?q={query}", headers=headers).get_json()
    assert body["count"] == len(active) < len(members)


def test_a_savepoint_does_not_hide_what_was_written_before_it(app):
    from sqlalchemy import select

    from app.models import Township

    with app.app_context():  # a flushed write, then a savepoint left open with a read in it
        db.session.add(Township(name="未提交镇四"))
        db.session.flush()
        db.session.begin_nested()
        db.session.execute(select(Township.id)).all()
    with app.app_context():  # a flushed write, then a savepoint closed, then a read
        db.session.add(Township(name="未提交镇五"))
        db.session.flush()
        with db.session.begin_nested():
            db.session.execute(select(Township.id)).all()
        db.session.execute(select(Township.id)).all()
    assert _townships(app, "未提交镇") == 0


def test_a_failed_commit_at_the_end_is_rolled_back_and_the_session_removed(app, monkeypatch):
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from app.models import Township

    def lost(self):
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Session, "commit", lost)
    with app.app_context() as context:  # the teardown does not raise
        db.session.execute(select(Township.id)).all()
    # Flask-SQLAlchemy's teardown ran after it: the request's session is gone.
    assert id(context) not in db.session.registry.registry
    monkeypatch.undo()
    with app.app_context():  # the pool still serves
        assert db.session.execute(select(Township.id)).first() is not None


def test_a_connection_lost_during_a_request_is_rolled_back_without_a_second_error(app, caplog):
    from sqlalchemy import select

    from app.models import Township

    with app.app_context():  # the server went away mid-request; the request answered for it
        db.session.execute(select(Township.id)).all()
        db.session.connection().invalidate()
    assert "ending a read-only transaction failed" not in caplog.text
    with app.app_context():  # the pool still serves
        assert db.session.execute(select(Township.id)).first() is not None


# --- Counts kept until the next audited write (app/speed.py kept_count) ---


def _counts_of(app, client, path, headers=None):
    response, seen = statements_of(app, client, path, headers)
    return response, [s for s in seen if "count(" in s.lower()]


def test_a_kept_count_follows_every_write(app, api_token, db_session):
    from tests.helpers import valid_id

    headers = api_token("xintan_secretary")
    client = app.test_client()
    response, counts = _counts_of(app, client, "/api/v1/member/", headers)
    first = response.get_json()["count"]
    assert len(counts) == 1
    response, counts = _counts_of(app, client, "/api/v1/member/", headers)
    assert response.get_json()["count"] == first and counts == []  # nothing changed: kept
    # A member added through the API: the next list counts again, one more.
    added = client.post(
        "/api/v1/member/", headers=headers, json={"name": "计数八", "id_number": valid_id(seq="81")}
    )
    assert added.status_code == 201, added.get_json()
    response, counts = _counts_of(app, client, "/api/v1/member/", headers)
    assert response.get_json()["count"] == first + 1 and len(counts) == 1
    # Deleted again through the ORM (audited like every write).
    from app.models import Member

    db_session.delete(db_session.get(Member, added.get_json()["id"]))
    db_session.commit()
    response, counts = _counts_of(app, client, "/api/v1/member/", headers)
    assert response.get_json()["count"] == first and len(counts) == 1


def test_a_kept_count_is_each_scopes_and_filters_own(app, api_token):
    xintan, longwang = api_token("xintan_secretary"), api_token("longwang_secretary")
    client = app.test_client()
    for _n in range(2):
        a = client.get("/api/v1/member/", headers=xintan).get_json()["count"]
        b = client.get("/api/v1/member/", headers=longwang).get_json()["count"]
        query = "(filters:!((col:status,opr:eq,value:applied)))"
        c = client.get(f"/api/v1/member/?q={query}", headers=xintan).get_json()["count"]
        assert a != b and 0 < c < a


def test_a_bulk_import_changes_the_kept_count(app, api_token, tmp_path):
    from tests.rosters import roster_rows, run, write_csv

    headers = api_token("xintan_secretary")
    client = app.test_client()
    before = client.get("/api/v1/member/", headers=headers).get_json()["count"]
    client.get("/api/v1/member/", headers=headers)  # kept
    path = tmp_path / "roster.csv"
    write_csv(path, roster_rows(3))
    result = run(app, path)
    assert result.exit_code == 0, result.output
    after = client.get("/api/v1/member/", headers=headers).get_json()["count"]
    assert after == before + 3
