"""Scope sweep (issue 2, item 5): every role × model × action × path keeps to the user's scope.

The expected scope and rights are written here from SPEC §1, not read from ``app/security.py``:
a leak or a wrong right in the app must fail a test. Ids come from the database, never from
literals. Requests run outside any app context of the test, so every client loads its own user.
"""

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, not_, select, true

from app.models import (
    ContactHousehold,
    CouncilSeat,
    CouncilTerm,
    Member,
    MemberGroup,
    Township,
    Village,
)
from app.validation import id_check_char
from tests.conftest import TEST_PASSWORD

TOWNSHIP = "二郎镇"
# A second township that no demo account belongs to (the `world` fixture builds it).
OTHER_TOWNSHIP, OTHER_VILLAGE = "石宝镇", "石宝村"

# username → (role, village, group), as SPEC §6 lists the demo accounts.
ACCOUNTS = {
    "admin": ("Admin", None, None),
    "township": ("Township", None, None),
    "xintan_president": ("President", "新檀村", None),
    "xintan_secretary": ("Secretary", "新檀村", None),
    "xintan_group1": ("GroupLeader", "新檀村", "第一组"),
    "longwang_president": ("President", "龙王村", None),
    "longwang_secretary": ("Secretary", "龙王村", None),
    "longwang_group1": ("GroupLeader", "龙王村", "第一组"),
    "xiaohe_president": ("President", "小河村", None),
}
SCOPED = [u for u in ACCOUNTS if u != "admin"]
# For by-id probes: every role, and each role in two villages (or two groups).
PROBES = [u for u in SCOPED if u != "longwang_president"]
# Rights do not depend on the village: one account per role is enough for them.
ONE_PER_ROLE = ["admin", "township", "xintan_president", "xintan_secretary", "xintan_group1"]

READ, ADD, EDIT, DELETE = "read", "add", "edit", "delete"
EVERYTHING = {READ, ADD, EDIT, DELETE}
MODELS = [Township, Village, MemberGroup, Member, ContactHousehold, CouncilTerm, CouncilSeat]

# SPEC §1: who may do what.
RIGHTS = {
    "Admin": {model: EVERYTHING for model in MODELS},
    "Township": {model: {READ} for model in MODELS},
    "President": {
        Township: {READ},
        Village: {READ, EDIT},
        MemberGroup: EVERYTHING,
        Member: EVERYTHING,
        ContactHousehold: EVERYTHING,
        CouncilTerm: EVERYTHING,
        CouncilSeat: EVERYTHING,
    },
    "Secretary": {
        Township: {READ},
        Village: {READ},
        MemberGroup: {READ, ADD, EDIT},
        Member: {READ, ADD, EDIT},
        ContactHousehold: EVERYTHING,
        CouncilTerm: {READ},
        CouncilSeat: {READ},
    },
    "GroupLeader": {
        Village: {READ},
        MemberGroup: {READ},
        Member: {READ, ADD, EDIT},
        ContactHousehold: EVERYTHING,
    },
}

VIEW = {model: f"{model.__name__}View" for model in MODELS}
API = {
    Township: "township",
    Village: "village",
    MemberGroup: "member_group",
    Member: "member",
    ContactHousehold: "contact_household",
    CouncilTerm: "council_term",
    CouncilSeat: "council_seat",
}
# A column each test may change harmlessly, and the value it changes it to.
CHANGE = {
    Township: ("name", "改名镇"),
    Village: ("name", "改名村"),
    MemberGroup: ("name", "改名组"),
    Member: ("name", "改名会员"),
    ContactHousehold: ("head_name", "改名户主"),
    CouncilTerm: ("approval_ref", "改名批复"),
    CouncilSeat: ("day_job", "改名职务"),
}
# Columns whose cell text names a row, where names can be told apart across villages.
NAME_CELL = {
    Township: "name",
    Village: "name",
    Member: "name",
    ContactHousehold: "head_name",
}
# Form field (relationship) → the model it offers.
RELATED = {
    "township": Township,
    "village": Village,
    "group": MemberGroup,
    "member": Member,
    "term": CouncilTerm,
    "leader": Member,
    "contact_heads": Member,
}
# Reference columns a writer gives, and the model each points to.
REFERENCES = {
    MemberGroup: {"village_id": Village},
    Member: {"village_id": Village, "group_id": MemberGroup},
    ContactHousehold: {"village_id": Village, "group_id": MemberGroup, "member_id": Member},
    CouncilTerm: {"village_id": Village},
    CouncilSeat: {"village_id": Village, "term_id": CouncilTerm, "member_id": Member},
}


def _valid_id(birth):
    body = f"510525{birth}002"
    return body + id_check_char(body)


# Born outside the demo's range (1950-2002), so never a duplicate of a demo member.
NEW_ID = _valid_id("19491231")


def role(username):
    return ACCOUNTS[username][0]


def may(username, model, right):
    return right in RIGHTS[role(username)].get(model, set())


def model_id(model):
    return model.__name__


# --- The expected scope, from SPEC §1 ---


def _villages_named(name):
    return select(Village.id).where(Village.name == name)


def in_scope(model, username):
    """The rows ``username`` is meant to see: SPEC §1 as a SQL condition."""
    kind, village, group = ACCOUNTS[username]
    if kind == "Admin":
        return true()
    township_villages = select(Village.id).join(Village.township).where(Township.name == TOWNSHIP)
    if model is Township:
        return Township.name == TOWNSHIP
    if kind == "Township":
        column = Village.id if model is Village else model.village_id
        return column.in_(township_villages)
    own_village = _villages_named(village)
    if model is Village:
        return Village.id.in_(own_village)
    if group is None or model in (CouncilTerm, CouncilSeat):
        return model.village_id.in_(own_village)
    own_group = select(MemberGroup.id).where(
        MemberGroup.village_id.in_(own_village), MemberGroup.name == group
    )
    column = MemberGroup.id if model is MemberGroup else model.group_id
    return column.in_(own_group)


def db(app, work):
    """Run ``work(session)`` in a fresh app context (so no request shares it)."""
    with app.app_context():
        return work(app.appbuilder.session)


def values(app, column, *where):
    """The set of ``column`` values in the rows matching ``where``."""
    return set(db(app, lambda s: s.scalars(select(column).where(*where)).all()))


def ids(app, model, *where):
    return values(app, model.id, *where)


def expected_ids(app, model, username):
    return ids(app, model, in_scope(model, username))


def row(app, model, pk):
    """A row's stored column values, read past the ORM's identity map; None when gone."""
    table = model.__table__
    found = db(app, lambda s: s.execute(select(table).where(table.c.id == pk)).mappings().first())
    return dict(found) if found else None


def count(app, model):
    return db(app, lambda s: s.scalar(select(func.count()).select_from(model)))


def _scope_parts(session, username):
    """The village, group, a member and the council term a new record of ``username`` uses."""
    _, village_name, group_name = ACCOUNTS[username]
    village = session.scalars(
        select(Village).where(Village.name == (village_name or "新檀村"))
    ).one()
    group = session.scalars(
        select(MemberGroup).where(
            MemberGroup.village_id == village.id, MemberGroup.name == (group_name or "第一组")
        )
    ).one()
    member = session.scalars(
        select(Member).where(Member.group_id == group.id, Member.status == "active")
    ).first()
    term = session.scalars(select(CouncilTerm).where(CouncilTerm.village_id == village.id)).first()
    return village, group, member, term


def fresh_values(app, model, username):
    """Column values of a new record inside the scope of ``username`` (新檀村 第一组 for
    Admin and Township)."""

    def build(session):
        village, group, member, term = _scope_parts(session, username)
        return {
            Township: {"name": "测试镇", "county": "古蔺县"},
            Village: {
                "township_id": village.township_id,
                "name": "测试村",
                "kind": "village",
                "size_class": "small",
            },
            MemberGroup: {"village_id": village.id, "name": "第九组"},
            Member: {
                "village_id": village.id,
                "group_id": group.id,
                "name": "测试会员",
                "id_number": NEW_ID,
                "gender": "female",
                "birth_date": dt.date(1949, 12, 31),
                "category": "other",
                "status": "applied",
            },
            ContactHousehold: {
                "village_id": village.id,
                "group_id": group.id,
                "member_id": member.id,
                "head_name": "测试户主",
                "household_type": "other",
            },
            CouncilTerm: {
                "village_id": village.id,
                "number": 9,
                "elected_on": dt.date(2025, 1, 1),
                "approval_ref": "测试批复",
            },
            CouncilSeat: {
                "village_id": village.id,
                "term_id": term.id,
                "member_id": member.id,
                "position": "director",
                "composition": "elder",
                "day_job": "测试职务",
            },
        }[model]

    return db(app, build)


def make_record(app, model, username, **changes):
    """A new record nothing else refers to, inside the scope of ``username``; its id."""
    values = {**fresh_values(app, model, username), **changes}

    def add(session):
        record = model(**values)
        session.add(record)
        session.commit()
        return record.id

    return db(app, add)


def own_target(app, model, username):
    """A record inside the scope of ``username`` to edit or delete."""
    kind, village, group = ACCOUNTS[username]
    if kind != "Admin":
        if model is Township:
            return ids(app, Township, Township.name == TOWNSHIP).pop()
        if model is Village:
            return ids(app, Village, Village.name == (village or "新檀村")).pop()
        if model is MemberGroup and kind == "GroupLeader":
            return ids(app, MemberGroup, in_scope(MemberGroup, username)).pop()
    return make_record(app, model, username)


def foreign_id(app, model, username):
    """A record outside the scope of ``username``: the nearest one there is (another group of
    its own village for a group leader, another village of its township for a village user)."""
    kind, village, _ = ACCOUNTS[username]
    where = [not_(in_scope(model, username))]
    if kind in ("President", "Secretary", "GroupLeader") and model is not Township:
        if kind == "GroupLeader" and model in (MemberGroup, Member, ContactHousehold):
            near = _villages_named(village)
        else:
            near = select(Village.id).where(Village.township.has(Township.name == TOWNSHIP))
        where.append((Village.id if model is Village else model.village_id).in_(near))
    found = sorted(ids(app, model, *where))
    assert found, f"no {model.__name__} outside the scope of {username}"
    return found[0]


# --- Talking to the app ---


def as_form(values):
    """Column values as the HTML form posts them (relationships by their name)."""
    form = {}
    for key, value in values.items():
        if key in ("id", "approved_by_id"):
            continue
        if key.endswith("_id"):
            key = key[:-3]
        if isinstance(value, bool):
            if value:
                form[key] = "y"
            continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        form[key] = "" if value is None else str(value)
    return form


def as_json(values):
    return {
        key: value.isoformat() if isinstance(value, dt.date) else value
        for key, value in values.items()
    }


def shown_ids(html, model):
    """Ids of the ``model`` rows a page links to (the show button of each row)."""
    return {int(pk) for pk in re.findall(rf'href="/{VIEW[model].lower()}/show/(\d+)[?"]', html)}


def list_page(client, model):
    """The whole HTML list of ``model`` on one page."""
    return client.get(f"/{VIEW[model].lower()}/list/?psize_{VIEW[model]}=1000")


def api_list(client, model, headers):
    """(first response, count, every id) of the API list, walking all its pages."""
    seen, page = [], 0
    while True:
        response = client.get(
            f"/api/v1/{API[model]}/?q=(page:{page},page_size:100)", headers=headers
        )
        if response.status_code != 200:
            return response, None, None
        body = response.get_json()
        seen += body["ids"]
        if len(body["ids"]) < 100:
            return response, body["count"], seen
        page += 1


def select_options(html):
    """Relationship field → ids offered by its <select> in ``html`` (the empty choice left out)."""
    found = {}
    for match in re.finditer(r'<select[^>]*\bname="(\w+)"[^>]*>(.*?)</select>', html, re.S):
        if match.group(1) in RELATED:
            values = re.findall(r'<option[^>]*\bvalue="([^"]*)"', match.group(2))
            found[match.group(1)] = {int(v) for v in values if v not in ("", "__None")}
    return found


def field_errors(html, name):
    """The error messages the form shows under field ``name``."""
    match = re.search(rf'name="{name}".*?</td>', html, re.S)
    assert match, f"the form has no field {name}"
    return [m.strip() for m in re.findall(r'alert-danger">(.*?)</div>', match.group(0), re.S)]


def search_widgets(html):
    """The list page's search form: field → widget HTML, as FAB hands it to AdminFilters."""
    decoder = json.JSONDecoder()
    start = html.index("{", html.index("new AdminFilters("))
    _labels, end = decoder.raw_decode(html, start)
    widgets, _ = decoder.raw_decode(html, html.index("{", end))
    return widgets


def english(client):
    client.get("/lang/en")
    return client


# --- Fixtures ---


@pytest.fixture
def world(app):
    """The demo township, plus 石宝镇 with one record of every kind that nobody's scope holds."""

    def build(session):
        township = Township(name=OTHER_TOWNSHIP, county="古蔺县")
        village = Village(township=township, name=OTHER_VILLAGE, size_class="small")
        group = MemberGroup(village=village, name="第一组")
        member = Member(
            village=village,
            group=group,
            name="石宝会员",
            id_number=_valid_id("19480101"),
            status="active",
            category="other",
        )
        term = CouncilTerm(village=village, number=1, elected_on=dt.date(2023, 1, 1))
        session.add_all(
            [
                township,
                village,
                group,
                member,
                term,
                ContactHousehold(
                    village=village,
                    group=group,
                    member=member,
                    head_name="石宝户主",
                    household_type="other",
                ),
                CouncilSeat(
                    village=village,
                    term=term,
                    member=member,
                    position="president",
                    composition="elder",
                ),
            ]
        )
        session.commit()

    db(app, build)
    return app


# One sign-in per demo account and run: the database is restored before each test, but the
# accounts (and so their session cookies and tokens) stay the same.
_COOKIES, _TOKENS = {}, {}


@pytest.fixture
def web(app, login_as):
    """web(username) → a test client signed in as ``username`` (through ``login_as``)."""

    def client_of(username):
        if username not in _COOKIES:
            client = login_as(username)
            _COOKIES[username] = client.get_cookie("session").value
            return client
        client = app.test_client()
        client.set_cookie("session", _COOKIES[username])
        return client

    return client_of


@pytest.fixture
def bearer(api_token):
    """bearer(username) → JWT headers for ``username`` (from ``api_token``)."""

    def headers_of(username):
        if username not in _TOKENS:
            _TOKENS[username] = api_token(username)
        return _TOKENS[username]

    return headers_of


@pytest.fixture
def unscoped(app, login_as):
    """unscoped(role) → a client signed in as a new account with ``role`` and no scope."""

    def make(role_name):
        username = f"noscope_{role_name.lower()}"

        def add(session):
            sm = app.appbuilder.sm
            user = sm.add_user(
                username,
                "无",
                "范围",
                f"{username}@localhost",
                sm.find_role(role_name),
                TEST_PASSWORD,
            )
            assert user, f"could not create {username}"

        db(app, add)
        return login_as(username)

    return make


# --- Lists: exactly the rows of the scope ---


@pytest.mark.parametrize("model", MODELS, ids=model_id)
@pytest.mark.parametrize("username", ACCOUNTS)
def test_html_list_shows_exactly_the_rows_of_the_scope(world, web, username, model):
    response = list_page(web(username), model)
    if not may(username, model, READ):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    expected = expected_ids(world, model, username)
    assert expected, "every account has rows of what it may read"
    assert shown_ids(html, model) == expected
    if model in NAME_CELL:
        column = getattr(model, NAME_CELL[model])
        inside = values(world, column, in_scope(model, username))
        outside = values(world, column, not_(in_scope(model, username)))
        for name in outside - inside:
            assert f"<td>{name}</td>" not in html, f"{username} sees {name}"


@pytest.mark.parametrize("model", MODELS, ids=model_id)
@pytest.mark.parametrize("username", ACCOUNTS)
def test_api_list_counts_exactly_the_rows_of_the_scope(world, client, bearer, username, model):
    response, total, listed = api_list(client, model, bearer(username))
    if not may(username, model, READ):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    expected = expected_ids(world, model, username)
    assert total == len(expected)
    assert set(listed) == expected
    if role(username) in ("President", "Secretary", "GroupLeader") and model is not Township:
        villages = ids(world, Village, in_scope(Village, username))
        for item in response.get_json()["result"]:
            assert item["village_id" if model is not Village else "id"] in villages


def test_xintan_secretary_never_sees_a_longwang_member(world, web):
    html = list_page(web("xintan_secretary"), Member).get_data(as_text=True)
    xintan = values(world, Member.name, Member.village_id.in_(_villages_named("新檀村")))
    longwang = values(world, Member.name, Member.village_id.in_(_villages_named("龙王村")))
    only_longwang = longwang - xintan
    assert only_longwang
    assert not [name for name in only_longwang if f"<td>{name}</td>" in html]
    assert [name for name in xintan if f"<td>{name}</td>" in html]


def _filtered(client, headers, group_id):
    """A search for the members of group ``group_id``: (HTML list response, API response)."""
    html = client.get(f"/memberview/list/?_flt_0_group={group_id}&psize_MemberView=1000")
    api = client.get(
        f"/api/v1/member/?q=(filters:!((col:group_id,opr:eq,value:{group_id})),page_size:100)",
        headers=headers,
    )
    return html, api


@pytest.mark.parametrize("username", SCOPED)
def test_a_search_cannot_widen_the_scope(world, web, bearer, username):
    own = min(ids(world, MemberGroup, in_scope(MemberGroup, username)))
    html, api = _filtered(web(username), bearer(username), own)
    members = ids(world, Member, Member.group_id == own)
    assert shown_ids(html.get_data(as_text=True), Member) == members
    assert set(api.get_json()["ids"]) == members
    html, api = _filtered(web(username), bearer(username), foreign_id(world, MemberGroup, username))
    assert html.status_code == 200 and shown_ids(html.get_data(as_text=True), Member) == set()
    assert api.status_code == 200 and api.get_json()["count"] == 0


@pytest.mark.parametrize("username", ["admin", "xintan_secretary"])
def test_a_search_for_an_id_beyond_64_bits_finds_nothing(app, web, bearer, username):
    html, api = _filtered(web(username), bearer(username), 2**70)
    assert html.status_code in (200, 400)
    assert shown_ids(html.get_data(as_text=True), Member) == set()
    assert api.status_code in (200, 400)
    assert api.status_code == 400 or api.get_json()["count"] == 0


# --- By id outside the scope: 404, and nothing changes ---

RIGHT_OF = {
    "show": READ,
    "edit_form": EDIT,
    "edit_post": EDIT,
    "delete": DELETE,
    "api_get": READ,
    "api_put": EDIT,
    "api_delete": DELETE,
    "add_form": ADD,
    "add_post": ADD,
    "api_post": ADD,
}


def by_id(client, model, pk, action, headers=None):
    """One request on record ``pk`` through ``action``."""
    view, column = f"/{VIEW[model].lower()}", CHANGE[model][0]
    api = f"/api/v1/{API[model]}/{pk}"
    return {
        "show": lambda: client.get(f"{view}/show/{pk}"),
        "edit_form": lambda: client.get(f"{view}/edit/{pk}"),
        "edit_post": lambda: client.post(f"{view}/edit/{pk}", data={column: CHANGE[model][1]}),
        "delete": lambda: client.post(f"{view}/delete/{pk}"),
        "api_get": lambda: client.get(api, headers=headers),
        "api_put": lambda: client.put(api, json={column: CHANGE[model][1]}, headers=headers),
        "api_delete": lambda: client.delete(api, headers=headers),
    }[action]()


def signed_in(username, action, web, bearer, client):
    """(client, headers) for an HTML or API ``action``."""
    if action.startswith("api_"):
        return client, bearer(username)
    return web(username), None


@pytest.mark.parametrize(
    "action", ["show", "edit_form", "edit_post", "delete", "api_get", "api_put", "api_delete"]
)
@pytest.mark.parametrize("model", MODELS, ids=model_id)
@pytest.mark.parametrize("username", PROBES)
def test_a_record_outside_the_scope_answers_404_and_stays(
    request, app, client, web, bearer, username, model, action
):
    # Only a township account, or a township record, needs a township outside the scope.
    world = (
        request.getfixturevalue("world")
        if role(username) == "Township" or model is Township
        else app
    )
    pk = foreign_id(world, model, username)
    before = row(world, model, pk)
    user_client, headers = signed_in(username, action, web, bearer, client)
    response = by_id(user_client, model, pk, action, headers)
    # Without the right FAB refuses first (403), which says nothing about the record.
    assert response.status_code == (404 if may(username, model, RIGHT_OF[action]) else 403)
    assert row(world, model, pk) == before


@pytest.mark.parametrize("path", ["show", "edit", "delete"])
def test_admin_reaches_any_record(app, web, path):
    pk = make_record(app, Member, "longwang_secretary")
    client = web("admin")
    url = f"/memberview/{path}/{pk}"
    if path == "delete":
        assert client.post(url).status_code == 302
        assert row(app, Member, pk) is None
    else:
        response = client.get(url)
        assert response.status_code == 200 and "测试会员" in response.get_data(as_text=True)


# --- Rights per role (own records), HTML and API ---


@pytest.mark.parametrize("action", ["add_form", "add_post", "edit_form", "edit_post", "delete"])
@pytest.mark.parametrize("model", MODELS, ids=model_id)
@pytest.mark.parametrize("username", ONE_PER_ROLE)
def test_html_writes_follow_the_role_rights(app, web, username, model, action):
    client = web(username)
    allowed = may(username, model, RIGHT_OF[action])
    view = f"/{VIEW[model].lower()}"
    column, new_value = CHANGE[model]
    if action in ("add_form", "add_post"):
        before = ids(app, model)
        if action == "add_form":
            response = client.get(f"{view}/add")
        else:
            response = client.post(f"{view}/add", data=as_form(fresh_values(app, model, username)))
        added = ids(app, model) - before
        if not allowed:
            assert response.status_code == 403
            assert not added
        elif action == "add_form":
            assert response.status_code == 200 and "<form" in response.get_data(as_text=True)
        else:
            assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
            assert len(added) == 1
            assert added <= expected_ids(app, model, username)
        return
    pk = own_target(app, model, username)
    before = row(app, model, pk)
    if action == "edit_form":
        response = client.get(f"{view}/edit/{pk}")
    elif action == "edit_post":
        response = client.post(f"{view}/edit/{pk}", data=as_form({**before, column: new_value}))
    else:
        response = client.post(f"{view}/delete/{pk}")
    after = row(app, model, pk)
    if not allowed:
        assert response.status_code == 403
        assert after == before
    elif action == "edit_form":
        assert response.status_code == 200 and "<form" in response.get_data(as_text=True)
    elif action == "edit_post":
        assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
        assert after == {**before, column: new_value}
    else:
        assert response.status_code == 302
        assert after is None


@pytest.mark.parametrize("action", ["api_post", "api_put", "api_delete"])
@pytest.mark.parametrize("model", MODELS, ids=model_id)
@pytest.mark.parametrize("username", ONE_PER_ROLE)
def test_api_writes_follow_the_role_rights(app, client, bearer, username, model, action):
    headers = bearer(username)
    allowed = may(username, model, RIGHT_OF[action])
    column, new_value = CHANGE[model]
    if action == "api_post":
        before = ids(app, model)
        response = client.post(
            f"/api/v1/{API[model]}/",
            json=as_json(fresh_values(app, model, username)),
            headers=headers,
        )
        added = ids(app, model) - before
        if not allowed:
            assert response.status_code == 403
            assert not added
        else:
            assert response.status_code == 201, response.get_json()
            assert added == {response.get_json()["id"]}
            assert added <= expected_ids(app, model, username)
        return
    pk = own_target(app, model, username)
    before = row(app, model, pk)
    if action == "api_put":
        response = client.put(
            f"/api/v1/{API[model]}/{pk}", json={column: new_value}, headers=headers
        )
    else:
        response = client.delete(f"/api/v1/{API[model]}/{pk}", headers=headers)
    after = row(app, model, pk)
    if not allowed:
        assert response.status_code == 403
        assert after == before
    elif action == "api_put":
        assert response.status_code == 200, response.get_json()
        assert after == {**before, column: new_value}
    else:
        assert response.status_code == 200, response.get_json()
        assert after is None


# --- Writes that would leave the writer's scope ---


FOREIGN_WRITES = [
    pytest.param(username, model, column, id=f"{username}-{model.__name__}-{column}")
    for username in ("xintan_president", "xintan_secretary", "xintan_group1", "longwang_group1")
    for model, columns in REFERENCES.items()
    for column in columns
    if may(username, model, ADD)
]


@pytest.mark.parametrize("username,model,column", FOREIGN_WRITES)
def test_api_post_with_a_foreign_reference_is_refused(app, client, bearer, username, model, column):
    values = fresh_values(app, model, username)
    values[column] = foreign_id(app, REFERENCES[model][column], username)
    before = count(app, model)
    response = client.post(
        f"/api/v1/{API[model]}/?_l_=en", json=as_json(values), headers=bearer(username)
    )
    assert response.status_code == 400
    assert column in response.get_json()["message"]
    assert count(app, model) == before


@pytest.mark.parametrize("username,model,column", FOREIGN_WRITES)
def test_api_put_with_a_foreign_reference_is_refused(app, client, bearer, username, model, column):
    pk = make_record(app, model, username)
    before = row(app, model, pk)
    foreign = foreign_id(app, REFERENCES[model][column], username)
    response = client.put(
        f"/api/v1/{API[model]}/{pk}?_l_=en", json={column: foreign}, headers=bearer(username)
    )
    assert response.status_code == 400
    assert column in response.get_json()["message"]
    assert row(app, model, pk) == before


@pytest.mark.parametrize("username,model,column", FOREIGN_WRITES)
def test_html_add_with_a_foreign_choice_is_refused(app, web, username, model, column):
    values = fresh_values(app, model, username)
    values[column] = foreign_id(app, REFERENCES[model][column], username)
    before = count(app, model)
    client = web(username)
    response = client.post(f"/{VIEW[model].lower()}/add", data=as_form(values))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert field_errors(html, column[:-3]), "the form comes back with the field's error"
    assert count(app, model) == before


def test_admin_cannot_put_a_member_in_a_group_of_another_village(app, client, bearer):
    values = fresh_values(app, Member, "admin")
    values["group_id"] = min(
        ids(app, MemberGroup, MemberGroup.village_id.in_(_villages_named("龙王村")))
    )
    before = count(app, Member)
    response = client.post("/api/v1/member/", json=as_json(values), headers=bearer("admin"))
    assert response.status_code == 400
    assert "group_id" in response.get_json()["message"]
    assert count(app, Member) == before


FILLED_WRITES = [
    pytest.param(username, model, id=f"{username}-{model.__name__}")
    for username in (
        "xintan_president",
        "xintan_secretary",
        "xintan_group1",
        "longwang_secretary",
        "longwang_group1",
        "xiaohe_president",
    )
    for model in REFERENCES
    if may(username, model, ADD)
]


@pytest.mark.parametrize("username,model", FILLED_WRITES)
def test_api_post_without_village_or_group_takes_the_writers_scope(
    app, client, bearer, username, model
):
    values = fresh_values(app, model, username)
    values.pop("village_id")
    values.pop("group_id", None)
    response = client.post(f"/api/v1/{API[model]}/", json=as_json(values), headers=bearer(username))
    assert response.status_code == 201, response.get_json()
    stored = row(app, model, response.get_json()["id"])
    _, village, group = ACCOUNTS[username]
    assert stored["village_id"] == ids(app, Village, Village.name == village).pop()
    if group and "group_id" in stored:
        assert stored["group_id"] == ids(app, MemberGroup, in_scope(MemberGroup, username)).pop()


# --- Dropdowns: add and edit forms, the search form, the API's _info ---

FORMS = [
    pytest.param(username, model, form, id=f"{username}-{model.__name__}-{form}")
    for username in ONE_PER_ROLE
    for model in MODELS
    for form in ("add", "edit")
    if may(username, model, ADD if form == "add" else EDIT)
]


def assert_options_in_scope(app, username, options):
    assert options, "the form offers relationship choices"
    for name, offered in options.items():
        if name not in RELATED:
            continue
        allowed = expected_ids(app, RELATED[name], username)
        assert offered <= allowed, f"{name} offers {offered - allowed} outside the scope"
        if name in ("township", "village", "group"):
            assert offered == allowed


@pytest.mark.parametrize("username,model,form", FORMS)
def test_form_dropdowns_offer_only_the_scope(app, web, username, model, form):
    client = web(username)
    view = f"/{VIEW[model].lower()}"
    if form == "add":
        response = client.get(f"{view}/add")
    else:
        response = client.get(f"{view}/edit/{own_target(app, model, username)}")
    assert response.status_code == 200
    options = select_options(response.get_data(as_text=True))
    if model is Township:
        assert options == {}
        return
    assert_options_in_scope(app, username, options)


def test_member_form_of_xintan_secretary_names_only_xintan(world, web):
    html = web("xintan_secretary").get("/memberview/add").get_data(as_text=True)
    options = select_options(html)
    assert options["village"] == ids(world, Village, Village.name == "新檀村")
    assert options["group"] == ids(
        world, MemberGroup, MemberGroup.village_id.in_(_villages_named("新檀村"))
    )
    assert ">新檀村</option>" in html
    for other in ("龙王村", "小河村", OTHER_VILLAGE):
        assert other not in html


SEARCHES = [
    pytest.param(username, model, id=f"{username}-{model.__name__}")
    for username in ONE_PER_ROLE
    for model in MODELS
    if model is not Township and may(username, model, READ)
]


@pytest.mark.parametrize("username,model", SEARCHES)
def test_search_form_dropdowns_offer_only_the_scope(app, web, username, model):
    response = list_page(web(username), model)
    assert response.status_code == 200
    widgets = search_widgets(response.get_data(as_text=True))
    assert "created_by" not in widgets and "changed_by" not in widgets
    options = select_options("".join(widgets.values()))
    assert_options_in_scope(app, username, options)


INFOS = [
    pytest.param(username, model, id=f"{username}-{model.__name__}")
    for username in ONE_PER_ROLE
    for model in MODELS
    if may(username, model, READ)
]


@pytest.mark.parametrize("username,model", INFOS)
def test_api_info_offers_only_the_scope(app, client, bearer, username, model):
    response = client.get(f"/api/v1/{API[model]}/_info", headers=bearer(username))
    assert response.status_code == 200
    body = response.get_json()
    for section in ("add_columns", "edit_columns"):
        for column in body.get(section, []):
            if "values" not in column:
                continue
            target = RELATED.get(column["name"]) or REFERENCES.get(model, {}).get(column["name"])
            offered = {value["id"] for value in column["values"]}
            assert offered <= expected_ids(app, target, username), column["name"]


# --- List actions (FAB-NOTES 2) ---


def _applied(app, village):
    return sorted(
        ids(
            app, Member, Member.status == "applied", Member.village_id.in_(_villages_named(village))
        )
    )


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("mixed", [False, True], ids=["foreign", "own+foreign"])
@pytest.mark.parametrize(
    "username,other_village",
    [
        ("xintan_president", "龙王村"),
        ("longwang_president", "新檀村"),
        ("xiaohe_president", "龙王村"),
    ],
)
def test_list_action_on_a_foreign_member_is_404(app, web, username, other_village, mixed, action):
    foreign = _applied(app, other_village)[0]
    own = _applied(app, ACCOUNTS[username][1])[0]
    rowids = [str(own), str(foreign)] if mixed else [str(foreign)]
    response = web(username).post(
        "/memberview/action_post", data={"action": action, "rowid": rowids}
    )
    assert response.status_code == 404
    assert row(app, Member, foreign)["status"] == "applied"
    assert row(app, Member, own)["status"] == "applied"


@pytest.mark.parametrize("action,status", [("approve", "active"), ("reject", "rejected")])
@pytest.mark.parametrize("username", ACCOUNTS)
def test_only_admin_and_president_decide_applications(app, web, username, action, status):
    pk = make_record(app, Member, username)
    response = web(username).post(
        "/memberview/action_post", data={"action": action, "rowid": [str(pk)]}
    )
    if role(username) in ("Admin", "President"):
        assert response.status_code == 302
        assert row(app, Member, pk)["status"] == status
    else:
        assert response.status_code == 403
        assert row(app, Member, pk)["status"] == "applied"


def test_president_approval_is_shown_and_stored(app, web):
    pk = _applied(app, "新檀村")[0]
    client = english(web("xintan_president"))
    response = client.post(
        "/memberview/action_post",
        data={"action": "approve", "rowid": [str(pk)]},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "1 application(s) decided" in response.get_data(as_text=True)
    stored = row(app, Member, pk)
    assert stored["status"] == "active" and stored["approved_on"] == dt.date.today()


@pytest.mark.parametrize("who", ["own", "foreign"])
def test_single_record_action_route_is_closed(app, web, who):
    pk = _applied(app, "新檀村" if who == "own" else "龙王村")[0]
    client = web("xintan_president")
    response = client.post(f"/memberview/action/approve/{pk}")
    assert response.status_code in (404, 405)
    assert row(app, Member, pk)["status"] == "applied"


def test_list_action_with_a_bad_rowid_is_404(app, web):
    response = web("xintan_president").post(
        "/memberview/action_post", data={"action": "approve", "rowid": [str(2**64)]}
    )
    assert response.status_code == 404


# --- Related lists on detail pages ---

VILLAGE_READERS = [u for u in ACCOUNTS if may(u, Village, READ)]


@pytest.mark.parametrize("username", VILLAGE_READERS)
def test_village_page_lists_its_groups_and_council_in_scope(app, web, username):
    village = ACCOUNTS[username][1] or "新檀村"
    pk = ids(app, Village, Village.name == village).pop()
    response = web(username).get(f"/villageview/show/{pk}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    groups = ids(app, MemberGroup, MemberGroup.village_id == pk, in_scope(MemberGroup, username))
    assert groups and shown_ids(html, MemberGroup) == groups
    terms = ids(app, CouncilTerm, CouncilTerm.village_id == pk)
    assert shown_ids(html, CouncilTerm) == (terms if may(username, CouncilTerm, READ) else set())


GROUP_READERS = [u for u in ACCOUNTS if may(u, MemberGroup, READ)]


@pytest.mark.parametrize("username", GROUP_READERS)
def test_group_page_lists_only_its_own_members(app, web, username):
    pk = sorted(ids(app, MemberGroup, in_scope(MemberGroup, username)))[0]
    response = web(username).get(
        f"/membergroupview/show/{pk}?psize_MemberView=1000&psize_ContactHouseholdView=1000"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    members = ids(app, Member, Member.group_id == pk)
    households = ids(app, ContactHousehold, ContactHousehold.group_id == pk)
    assert members and households
    assert shown_ids(html, Member) == members
    assert shown_ids(html, ContactHousehold) == households


# --- Fail closed: a role without a scope sees nothing ---


@pytest.mark.parametrize("model", MODELS, ids=model_id)
@pytest.mark.parametrize("role_name", ["Township", "President", "Secretary", "GroupLeader"])
def test_an_account_without_scope_sees_nothing(app, unscoped, role_name, model):
    client = unscoped(role_name)
    readable = READ in RIGHTS[role_name].get(model, set())
    response = list_page(client, model)
    assert response.status_code == (200 if readable else 403)
    if readable:
        assert shown_ids(response.get_data(as_text=True), model) == set()
        api = client.get(f"/api/v1/{API[model]}/")
        assert api.status_code == 200 and api.get_json()["count"] == 0
    for pk in sorted(ids(app, model))[:2]:
        assert client.get(f"/{VIEW[model].lower()}/show/{pk}").status_code == (
            404 if readable else 403
        )
        assert client.get(f"/api/v1/{API[model]}/{pk}").status_code == (404 if readable else 403)


@pytest.mark.parametrize("role_name", ["President", "Secretary", "GroupLeader"])
def test_an_account_without_scope_writes_nothing(app, unscoped, role_name):
    client = unscoped(role_name)
    values = fresh_values(app, Member, "xintan_group1")
    before = count(app, Member)
    api = client.post("/api/v1/member/", json=as_json(values))
    assert api.status_code == 400
    form = client.post("/memberview/add", data=as_form(values))
    assert form.status_code == 200 and "alert-danger" in form.get_data(as_text=True)
    assert count(app, Member) == before


# --- Bad input against the REST API (FAB-NOTES fuzz findings) ---

HUGE_IDS = [2**63, 31216447982511549143056384]


@pytest.mark.parametrize("pk", HUGE_IDS, ids=["2^63", "3e25"])
@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_api_id_beyond_64_bits_is_404(app, client, bearer, model, method, pk):
    column, value = CHANGE[model]
    response = getattr(client, method)(
        f"/api/v1/{API[model]}/{pk}",
        headers=bearer("admin"),
        **({"json": {column: value}} if method == "put" else {}),
    )
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["show", "edit", "delete"])
@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_html_id_beyond_64_bits_is_404(app, web, model, path):
    client = web("admin")
    url = f"/{VIEW[model].lower()}/{path}/{2**64}"
    response = client.post(url) if path == "delete" else client.get(url)
    assert response.status_code == 404


BAD_MEMBER_INPUT = {
    "village object": {"village": {}},
    "village_id object": {"village_id": {}},
    "village_id list": {"village_id": [1]},
    "group_id text": {"group_id": "第一组"},
    "group_id huge": {"group_id": 2**70},
    "village_id huge": {"village_id": 2**64},
    "name too long": {"name": "长" * 33},
    "address too long": {"address": "址" * 201},
    "id_number too long": {"id_number": NEW_ID + "1"},
}


@pytest.mark.parametrize("username", ["admin", "xintan_secretary"])
@pytest.mark.parametrize("bad", BAD_MEMBER_INPUT, ids=list(BAD_MEMBER_INPUT))
def test_api_bad_member_post_is_400(app, client, bearer, bad, username):
    values = {**as_json(fresh_values(app, Member, username)), **BAD_MEMBER_INPUT[bad]}
    before = count(app, Member)
    response = client.post("/api/v1/member/", json=values, headers=bearer(username))
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert count(app, Member) == before


@pytest.mark.parametrize("bad", BAD_MEMBER_INPUT, ids=list(BAD_MEMBER_INPUT))
def test_api_bad_member_put_is_400(app, client, bearer, bad):
    pk = make_record(app, Member, "xintan_secretary")
    before = row(app, Member, pk)
    response = client.put(
        f"/api/v1/member/{pk}", json=BAD_MEMBER_INPUT[bad], headers=bearer("xintan_secretary")
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert row(app, Member, pk) == before
